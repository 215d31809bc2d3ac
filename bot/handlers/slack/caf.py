"""``/caf`` and the CAF episode buttons: register, route a card, meetings, stuck, close.

* ``/caf`` (CAF team: advisors and managers) opens the registration modal: the
  EHM reference (the policy's reference shape; through the no-names guard), the lead
  professional, the co-ordinator, the date the CAF was completed, consent.
* *Route to a CAF* on a decided Green triage card (managers) opens the same
  fields; an EHM reference that is already open links the card to it.
* The CAF DMs' buttons (lead professional, co-ordinator, or the CAF team):
  *Meeting held on…*, *Rearranged to…*, *Stuck: ask for help*, *Close the CAF*;
  the no-lead escalation's *Record the lead professional*.

Every listener checks who is acting before anything else (someone who may not
act hears the same words whatever the subject), then commits its transaction,
and only then acks: a crash never loses an acknowledged decision. Modals open
right after the ack (a trigger_id lives 3 seconds); field problems are returned
inside the modal, to that person only; typed text passes the no-names guard
before anything is saved. The work runs off the event loop through
:class:`CafService`, whose ``effects`` queue the messages in the same
transaction (:class:`CafNotifier`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.caf.notify import CafNotifier, recipients
from bot.caf.service import (
    CLOSE_REASONS,
    CafResult,
    CafService,
    NewEpisode,
    problems,
    reference_problem,
)
from bot.handlers.slack.blocks import caf as blocks
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.common import (
    After,
    Outcome,
    Refuse,
    Work,
    guarded,
    later,
    off_loop,
    on_action,
    on_submit,
    state_value,
    tell,
    told,
)
from bot.policy import Caf
from bot.services import Services
from store.db import session_scope
from store.models import CafEpisode, Referral, TriageCard

TEAM_ONLY = "Only the CAF team (duty advisors and managers) can {what}. Nothing was changed."
NOT_YOURS = ("Only this CAF's lead professional, its co-ordinator or the CAF team can do that. "
             "Nothing was changed.")
MANAGERS_ONLY = "Only the front door's managers can route a card to a CAF. Nothing was changed."

# Which modal field each problem belongs to.
_FIELD_BLOCK = {
    "ehm_reference": ids.IN_CAF_REFERENCE[0],
    "lead_professional": ids.IN_CAF_LEAD[0],
    "coordinator": ids.IN_CAF_COORDINATOR[0],
    "completed_on": ids.IN_CAF_COMPLETED[0],
    "last_meeting_on": ids.IN_CAF_COMPLETED[0],
}


def register(app: AsyncApp, sv: Services) -> None:
    """Register /caf and the CAF episode listeners on ``app``."""
    caf = CafService(sv.engine, sv.policy, sv.clock)
    notify = CafNotifier(sv.policy, sv.messaging, caf)

    async def team(user: str) -> bool:
        return await sv.roles.is_advisor(user)  # advisors, or managers

    async def may_act(user: str, ep: CafEpisode) -> bool:
        return user in (ep.lead_user_id, ep.coordinator_user_id) or await team(user)

    async def run(user: str, channel: str | None, fn: Callable[[], CafResult],
                  ok_text: Callable[[CafResult], str | None]) -> After:
        """Commit now; what it sends and says goes after the ack."""
        return settle(user, channel, await off_loop(fn), ok_text)

    def settle(user: str, channel: str | None, result: CafResult,
               ok_text: Callable[[CafResult], str | None]) -> After:
        async def after() -> None:
            sv.sender.kick()
            text = result.message if not result.ok else ok_text(result)
            if text:
                await tell(sv, user, channel, text)

        return after

    async def not_team(user: str, channel: str | None, what: str) -> After | None:
        """None for the CAF team; anyone else is audited and refused (nothing looked up)."""
        if await team(user):
            return None
        await off_loop(caf.denied, None, user, "register")
        return told(sv, user, channel, TEAM_ONLY.format(what=what))

    async def not_manager(user: str, channel: str | None, card_id: int) -> After | None:
        if await sv.roles.is_manager(user):
            return None
        await off_loop(sv.triage.denied, card_id, user, "route_caf")
        return told(sv, user, channel, MANAGERS_ONLY)

    # --- /caf: register ---------------------------------------------------

    @app.command("/caf")
    async def caf_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await _caf_command(body=body)

    @guarded(sv)
    async def _caf_command(*, body: dict[str, Any]) -> None:
        user, channel = body["user_id"], body.get("channel_id")
        refusal = await not_team(user, channel, "register a CAF")
        if refusal:
            await refusal()
            return
        await sv.client.views_open(trigger_id=body["trigger_id"],
                                   view=blocks.register_modal(sv.policy))

    async def register_submitted(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        user = body["user"]["id"]
        # The role first: someone outside the CAF team learns nothing about any reference.
        no = await not_team(user, None, "register a CAF")
        if no:
            return no
        new, errors = read_episode(view, caf.today(), sv.policy.caf)
        if errors or new is None:
            return Refuse(errors)
        result = await off_loop(caf.register, new, user, effects=notify)
        if result.problems:  # e.g. registered already: said in the modal
            return Refuse(_field_errors(result.problems))
        return settle(user, None, result, lambda r: blocks.registered_text(r.episode, sv.policy)
                      if r.episode else None)

    on_submit(app, sv, ids.MODAL_CAF_REGISTER, register_submitted)

    # --- route a decided Green card to a CAF --------------------------------

    def load_card(card_id: int) -> tuple[TriageCard | None, Referral | None]:
        with session_scope(sv.engine) as s:
            card = s.get(TriageCard, card_id)
            return card, s.get(Referral, card.referral_id) if card else None

    async def route(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        raw = str(action.get("value") or "")
        card_id = int(raw) if raw.isdigit() else 0
        no = await not_manager(user, channel, card_id)
        if no:
            return no
        card, referral = await off_loop(load_card, card_id)
        if card is None or referral is None or card.status == "closed":
            return told(sv, user, channel, "This card is closed.")
        if card.rating != "green" or card.caf_episode_id is not None:
            return told(sv, user, channel, "Only a decided Green card not yet linked to a CAF "
                        "can be routed to one.")
        status = referral.consent_status
        consent = True if status == "given" else (False if status else None)
        answers = (referral.summary or {}).get("answers") or referral.summary or {}
        open_caf = answers.get("open_caf") == "yes" or any(
            r.get("rule") == "R-open-caf" for r in card.suggested_reasons or [])
        return later(sv.client.views_open, trigger_id=body["trigger_id"],
                     view=blocks.route_modal(card, consent, open_caf))

    on_action(app, sv, ids.CAF_ROUTE_CARD, route)

    async def route_submitted(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        user = body["user"]["id"]
        raw = str(view.get("private_metadata") or "")
        card_id = int(raw) if raw.isdigit() else 0
        # The role first: a non-manager learns nothing about any reference or card.
        no = await not_manager(user, None, card_id)
        if no:
            return no
        ref = str(state_value(view, ids.IN_CAF_REFERENCE) or "").strip()
        errors = _reference_errors(ref, sv.policy.caf)
        existing = None if errors else await off_loop(caf.find, ref)
        new: NewEpisode | None = None
        if existing is not None:
            if existing.status != "open":
                errors = {ids.IN_CAF_REFERENCE[0]: "That CAF is closed: register the new "
                          "episode under its own EHM reference."}
            else:  # link: the other fields are not used
                new = NewEpisode(ref, None, None, caf.today(), existing.consent)
        elif not errors:
            new, errors = read_episode(view, caf.today(), sv.policy.caf)
        if errors or new is None:
            return Refuse(errors)
        episode = new
        return await run(user, None,
                         lambda: caf.route_from_card(card_id, user, episode, effects=notify),
                         lambda r: blocks.registered_text(r.episode, sv.policy, linked=r.linked)
                         if r.episode else None)

    on_submit(app, sv, ids.MODAL_CAF_ROUTE, route_submitted)

    # --- the CAF DMs' buttons ----------------------------------------------

    async def not_allowed(user: str, channel: str | None, ep: CafEpisode | None, episode_id: int,
                          name: str, who: Callable[[str, CafEpisode], Awaitable[bool]],
                          ) -> After | None:
        """None when ``user`` may act on ``ep``; anyone else hears the same words whether
        the episode exists or not (the CAF team, who may see every CAF, is told it is gone)."""
        if ep is not None and await who(user, ep):
            return None
        if ep is None and await team(user):
            return told(sv, user, channel, "That CAF episode no longer exists.")
        await off_loop(caf.denied, episode_id or None, user, name)
        return told(sv, user, channel, NOT_YOURS)

    def opener(name: str, view: Callable[[CafEpisode, date | None, str], dict[str, Any]], *,
               stale_check: bool, who: Callable[[str, CafEpisode], Awaitable[bool]] = may_act,
               ) -> Work:
        async def open_modal(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
            user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
            episode_id, due = blocks.parse_value(action.get("value"))
            ep = await off_loop(caf.get, episode_id)
            no = await not_allowed(user, channel, ep, episode_id, name, who)
            if no or ep is None:
                return no
            if ep.status != "open":
                return told(sv, user, channel, f"CAF {ep.ehm_reference} is closed.")
            if stale_check and due is not None and ep.next_meeting_due != due:
                return told(sv, user, channel, f"CAF {ep.ehm_reference} was updated already: "
                            f"the next meeting is due by {blocks.day(ep.next_meeting_due)}.")
            return later(sv.client.views_open, trigger_id=body["trigger_id"],
                         view=view(ep, due, user))

        open_modal.__name__ = f"caf_{name}_open"
        return open_modal

    async def lead_setter(user: str, ep: CafEpisode) -> bool:
        return user == ep.coordinator_user_id or await team(user)

    on_action(app, sv, ids.CAF_HELD, opener(
        "held", lambda ep, due, _u: blocks.held_modal(ep, due, caf.today()), stale_check=True))
    on_action(app, sv, ids.CAF_REARRANGED, opener(
        "rearranged", lambda ep, due, _u: blocks.rearranged_modal(ep, due), stale_check=True))
    on_action(app, sv, ids.CAF_STUCK, opener(
        "stuck", lambda ep, _d, u: blocks.stuck_modal(ep, caf.next_stuck_stage(ep, u)),
        stale_check=False))
    on_action(app, sv, ids.CAF_CLOSE, opener(
        "close", lambda ep, _d, _u: blocks.close_modal(
            ep, initial=None if ep.lead_user_id else "stepped_down"), stale_check=False))
    on_action(app, sv, ids.CAF_SET_LEAD, opener(
        "lead", lambda ep, _d, _u: blocks.set_lead_modal(ep), stale_check=False,
        who=lead_setter))

    def submission(
        name: str,
        check: Callable[[dict[str, Any]], dict[str, str]],
        act: Callable[[int, date | None, str, dict[str, Any]], Callable[[], CafResult]],
        ok_text: Callable[[CafResult, str], str | None],
        *,
        who: Callable[[str, CafEpisode], Awaitable[bool]] = may_act,
    ) -> Work:
        async def submitted(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
            user = body["user"]["id"]
            episode_id, due = blocks.parse_value(view.get("private_metadata"))
            ep = await off_loop(caf.get, episode_id)
            no = await not_allowed(user, None, ep, episode_id, name, who)
            if no:
                return no
            errors = check(view)
            if errors:
                # Refused inside the modal, to this person only; nothing is stored.
                return Refuse(errors)
            return await run(user, None, act(episode_id, due, user, view),
                             lambda r: ok_text(r, user))

        submitted.__name__ = f"caf_{name}"
        return submitted

    def date_of(view: dict[str, Any]) -> date | None:
        raw = state_value(view, ids.IN_CAF_DATE)
        try:
            return date.fromisoformat(str(raw)) if raw else None
        except ValueError:
            return None

    def check_held(view: dict[str, Any]) -> dict[str, str]:
        d = date_of(view)
        if d is None:
            return {ids.IN_CAF_DATE[0]: "Choose the date the meeting was held."}
        if d > caf.today():
            return {ids.IN_CAF_DATE[0]: "That is in the future: use \"Rearranged to\" instead."}
        return {}

    def check_rearranged(view: dict[str, Any]) -> dict[str, str]:
        d = date_of(view)
        if d is None:
            return {ids.IN_CAF_DATE[0]: "Choose the date the meeting is now arranged for."}
        if d < caf.today():
            return {ids.IN_CAF_DATE[0]: "That date has passed: record the meeting as held."}
        return {}

    def check_stuck(view: dict[str, Any]) -> dict[str, str]:
        # The note has passed the no-names guard already (``guard=`` below).
        note = str(state_value(view, ids.IN_CAF_NOTE) or "")
        if not note.strip():
            return {ids.IN_CAF_NOTE[0]: "Say briefly what is stuck."}
        return {}

    def check_close(view: dict[str, Any]) -> dict[str, str]:
        if state_value(view, ids.IN_CAF_REASON) not in CLOSE_REASONS:
            return {ids.IN_CAF_REASON[0]: "Choose why the CAF is closing."}
        return {}

    def check_lead(view: dict[str, Any]) -> dict[str, str]:
        if not state_value(view, ids.IN_CAF_LEAD):
            return {ids.IN_CAF_LEAD[0]: "Choose the lead professional."}
        return {}

    def quiet_for_recipients(text: str) -> Callable[[CafResult, str], str | None]:
        # The lead professional and co-ordinator see the change in their DMs already.
        def say(r: CafResult, user: str) -> str | None:
            return None if r.episode and user in recipients(r.episode) else text
        return say

    on_submit(app, sv, ids.MODAL_CAF_HELD, submission(
        "held", check_held,
        lambda eid, due, user, view: lambda: caf.record_meeting(
            eid, user, date_of(view) or caf.today(), expect_due=due, effects=notify),
        quiet_for_recipients("Recorded: the lead professional and co-ordinator are told."),
    ))
    on_submit(app, sv, ids.MODAL_CAF_REARRANGED, submission(
        "rearranged", check_rearranged,
        lambda eid, due, user, view: lambda: caf.rearrange(
            eid, user, date_of(view) or caf.today(), expect_due=due, effects=notify),
        quiet_for_recipients("Saved: the lead professional and co-ordinator are told."),
    ))
    on_submit(app, sv, ids.MODAL_CAF_STUCK, submission(
        "stuck", check_stuck,
        lambda eid, _due, user, view: lambda: caf.stuck(
            eid, user, str(state_value(view, ids.IN_CAF_NOTE) or ""), effects=notify),
        lambda r, _u: blocks.stuck_confirmation(r.episode, r.stage or "")
        if r.episode else None,
    ), guard=ids.IN_CAF_NOTE)
    on_submit(app, sv, ids.MODAL_CAF_CLOSE, submission(
        "close", check_close,
        lambda eid, _due, user, view: lambda: caf.close(
            eid, user, str(state_value(view, ids.IN_CAF_REASON) or ""), effects=notify),
        quiet_for_recipients("Closed: the lead professional, the co-ordinator and the CAF "
                             "team duty channel are told."),
    ))
    on_submit(app, sv, ids.MODAL_CAF_SET_LEAD, submission(
        "lead", check_lead,
        lambda eid, _due, user, view: lambda: caf.set_lead(
            eid, user, str(state_value(view, ids.IN_CAF_LEAD) or ""), effects=notify),
        lambda _r, _u: "Saved: the lead professional now gets this CAF's reminders.",
        who=lead_setter,
    ))


def _field_errors(found: list[tuple[str, str]]) -> dict[str, str]:
    """Service problems as modal errors, each under its field."""
    errors: dict[str, str] = {}
    for field_name, msg in found:
        block = _FIELD_BLOCK.get(field_name, ids.IN_CAF_REFERENCE[0])
        errors.setdefault(block, msg[0].upper() + msg[1:] + ".")
    return errors


def _reference_errors(ref: str, shape: Caf) -> dict[str, str]:
    """The reference field's problems: its shape, then the no-names guard (any finding
    refuses); the message says what is expected and never echoes what was typed."""
    msg = reference_problem(ref, shape)
    return {ids.IN_CAF_REFERENCE[0]: msg[0].upper() + msg[1:] + "."} if msg else {}


def read_episode(view: dict[str, Any], today: date, shape: Caf,
                 ) -> tuple[NewEpisode | None, dict[str, str]]:
    """The episode typed into the modal, or the problems keyed by the field's block id."""
    ref = str(state_value(view, ids.IN_CAF_REFERENCE) or "").strip()
    errors = _reference_errors(ref, shape)
    lead = state_value(view, ids.IN_CAF_LEAD) or None
    coordinator = state_value(view, ids.IN_CAF_COORDINATOR) or None
    raw_date = state_value(view, ids.IN_CAF_COMPLETED)
    consent = state_value(view, ids.IN_CAF_CONSENT)
    completed: date | None = None
    try:
        completed = date.fromisoformat(str(raw_date)) if raw_date else None
    except ValueError:
        pass
    if completed is None:
        errors.setdefault(ids.IN_CAF_COMPLETED[0], "Choose the date the CAF was completed.")
    if consent not in ("yes", "no"):
        errors.setdefault(ids.IN_CAF_CONSENT[0], "Say whether the family consented.")
    if completed is None or consent not in ("yes", "no"):
        if not coordinator:
            errors.setdefault(ids.IN_CAF_COORDINATOR[0], "Choose the CAF co-ordinator.")
        return None, errors
    new = NewEpisode(ref, lead, coordinator, completed, consent == "yes")
    for block, msg in _field_errors(problems(new, today, shape)).items():
        errors.setdefault(block, msg)
    return (None if errors else new), errors
