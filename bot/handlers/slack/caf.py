"""``/caf`` and the CAF episode buttons: register, route a card, meetings, stuck, close.

* ``/caf`` (CAF team: advisors and managers) opens the registration modal: the
  EHM reference (the policy's reference shape; through the no-names guard), the lead
  professional, the co-ordinator, the date the CAF was completed, consent.
* ``/caf EHM-20417`` shows that CAF's state, lead professional and next TAC due (the CAF
  team, or that CAF's lead professional or co-ordinator); ``/caf list`` the open CAFs,
  overdue first, ``/caf list @lead`` one lead professional's (the CAF team), ``/caf
  mine`` the caller's own. Privately; anything else gets the usage, never its echo.
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
before anything is saved. The listeners await :class:`CafService`'s actions (which
cards may be routed is its rule: ``CafService.routable``), whose ``effects`` queue the
messages in the same transaction (:class:`CafMessaging`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot import nonames
from bot.flows.caf.flows import CLOSE_REASONS
from bot.flows.caf.lookup import CafLookup
from bot.flows.caf.messaging import recipients
from bot.flows.caf.models import CafResult, NewEpisode
from bot.flows.caf.service import problems, reference_problem
from bot.handlers.slack import caf_qa
from bot.handlers.slack.blocks import caf as blocks
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.text import mention
from bot.handlers.slack.caflog import mentioned
from bot.handlers.slack.common import (
    After,
    Outcome,
    Refuse,
    Work,
    guarded,
    later,
    on_action,
    on_submit,
    services,
    settle,
    state_value,
    tell,
    told,
)
from bot.policy import Caf
from bot.services import Services
from store.models import CafEpisode

PLATFORM = "slack"  # the people pickers give Slack user ids
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

Who = Callable[[Services, str, CafEpisode], Awaitable[bool]]
"""``who(sv, user, episode)``: whether ``user`` may act on ``episode``."""
Act = Callable[[Services, int, "date | None", str, dict[str, Any]], Awaitable[CafResult]]
"""``act(sv, episode_id, due, user, view)``: the CAF action, committed when it returns."""


def register(app: AsyncApp) -> None:
    """Register /caf and the CAF episode listeners on ``app``."""
    app.command("/caf")(caf_command)
    on_submit(app, ids.MODAL_CAF_REGISTER, register_submitted)
    on_action(app, ids.CAF_ROUTE_CARD, route)
    on_submit(app, ids.MODAL_CAF_ROUTE, route_submitted)
    on_action(app, ids.CAF_HELD, opener(
        "held", lambda sv, ep, due, _u: blocks.held_modal(ep, due, sv.caf.today()),
        stale_check=True))
    on_action(app, ids.CAF_REARRANGED, opener(
        "rearranged", lambda _sv, ep, due, _u: blocks.rearranged_modal(ep, due),
        stale_check=True))
    on_action(app, ids.CAF_STUCK, opener(
        "stuck", lambda sv, ep, _d, u: blocks.stuck_modal(ep, sv.caf.next_stuck_stage(ep, u)),
        stale_check=False))
    on_action(app, ids.CAF_CLOSE, opener(
        "close", lambda _sv, ep, _d, _u: blocks.close_modal(
            ep, initial=None if ep.lead_user_id else "stepped_down"), stale_check=False))
    on_action(app, ids.CAF_SET_LEAD, opener(
        "lead", lambda _sv, ep, _d, _u: blocks.set_lead_modal(ep), stale_check=False,
        who=lead_setter))
    on_submit(app, ids.MODAL_CAF_HELD, submission(
        "held", check_held,
        lambda sv, eid, due, user, view: sv.caf.arecord_meeting(
            eid, user, date_of(view) or sv.caf.today(), expect_due=due,
            effects=sv.caf_messaging),
        quiet_for_recipients("Recorded: the lead professional and co-ordinator are told."),
    ))
    on_submit(app, ids.MODAL_CAF_REARRANGED, submission(
        "rearranged", check_rearranged,
        lambda sv, eid, due, user, view: sv.caf.arearrange(
            eid, user, date_of(view) or sv.caf.today(), expect_due=due,
            effects=sv.caf_messaging),
        quiet_for_recipients("Saved: the lead professional and co-ordinator are told."),
    ))
    on_submit(app, ids.MODAL_CAF_STUCK, submission(
        "stuck", check_stuck,
        lambda sv, eid, _due, user, view: sv.caf.astuck(
            eid, user, str(state_value(view, ids.IN_CAF_NOTE) or ""), effects=sv.caf_messaging),
        lambda r, _u: blocks.stuck_confirmation(r.episode, r.stage or "")
        if r.episode else None,
    ), guard=ids.IN_CAF_NOTE)
    on_submit(app, ids.MODAL_CAF_CLOSE, submission(  # no further action: a manager agrees
        "close", check_close, caf_qa.close_or_ask,
        caf_qa.asked_or(quiet_for_recipients("Closed: the lead professional, the co-ordinator "
                                             "and the CAF team duty channel are told.")),
    ))
    on_submit(app, ids.MODAL_CAF_SET_LEAD, submission(
        "lead", check_lead,
        lambda sv, eid, _due, user, view: sv.caf.aset_lead(
            eid, user, str(state_value(view, ids.IN_CAF_LEAD) or ""), effects=sv.caf_messaging),
        lambda _r, _u: "Saved: the lead professional now gets this CAF's reminders.",
        who=lead_setter,
    ))


# --- who may act ------------------------------------------------------------


async def team(sv: Services, user: str) -> bool:
    """The CAF team: advisors, or managers."""
    return await sv.roles.is_advisor(user)


async def may_act(sv: Services, user: str, ep: CafEpisode) -> bool:
    """The episode's lead professional or co-ordinator, or the CAF team."""
    return user in (ep.lead_user_id, ep.coordinator_user_id) or await team(sv, user)


async def lead_setter(sv: Services, user: str, ep: CafEpisode) -> bool:
    """Who may record the lead professional: the co-ordinator or the CAF team."""
    return user == ep.coordinator_user_id or await team(sv, user)


async def not_team(sv: Services, user: str, channel: str | None, what: str,
                   action: str = "register") -> After | None:
    """None for the CAF team; anyone else is audited and refused (nothing looked up)."""
    if await team(sv, user):
        return None
    await sv.caf.adenied(None, user, action)
    return told(sv, user, channel, TEAM_ONLY.format(what=what))


async def not_manager(sv: Services, user: str, channel: str | None, card_id: int
                      ) -> After | None:
    """None for a manager; anyone else is audited and refused."""
    if await sv.roles.is_manager(user):
        return None
    await sv.triage.adenied(card_id, user, "route_caf")
    return told(sv, user, channel, MANAGERS_ONLY)


async def not_allowed(sv: Services, user: str, channel: str | None, ep: CafEpisode | None,
                      episode_id: int, name: str, who: Who) -> After | None:
    """None when ``user`` may act on ``ep``; anyone else hears the same words whether
    the episode exists or not (the CAF team, who may see every CAF, is told it is gone)."""
    if ep is not None and await who(sv, user, ep):
        return None
    if ep is None and await team(sv, user):
        return told(sv, user, channel, "That CAF episode no longer exists.")
    await sv.caf.adenied(episode_id or None, user, name)
    return told(sv, user, channel, NOT_YOURS)


# --- /caf: register -----------------------------------------------------------


async def caf_command(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """``/caf``: the registration modal (CAF team only)."""
    await ack()
    await _caf_command(services(context), body=body)


@guarded
async def _caf_command(sv: Services, *, body: dict[str, Any]) -> None:
    user, channel = body["user_id"], body.get("channel_id")
    words = str(body.get("text") or "").split()
    if words:
        await look_up(sv, user, channel, words)
        return
    refusal = await not_team(sv, user, channel, "register a CAF")
    if refusal:
        await refusal()
        return
    await sv.client.views_open(trigger_id=body["trigger_id"],
                               view=blocks.register_modal(sv.policy))


# --- /caf EHM-20417, /caf list [@lead], /caf mine -------------------------------------


def usage(sv: Services) -> str:
    """What /caf takes, with the council's reference example."""
    example = sv.policy.caf.reference_example
    return (f"Use `/caf` to register a CAF, `/caf {example}` to look one up by its EHM "
            "reference, `/caf list` for the open CAFs (overdue first), `/caf list @name` for "
            "one lead professional's, or `/caf mine` for yours.")


async def look_up(sv: Services, user: str, channel: str | None, words: list[str]) -> None:
    """``/caf`` with words: a lookup or a list, told privately."""
    look = CafLookup(sv.tx, sv.policy, sv.clock)
    verb = words[0].lower()
    if verb == "mine" and len(words) == 1:
        found = await look.aopen_list(involving=user)
        msg = blocks.list_message(found, "Your open CAFs", "You are not the lead professional "
                                  "or co-ordinator of any open CAF.")
    elif verb == "list" and len(words) <= 2:
        no = await not_team(sv, user, channel, "list CAFs", "list")
        if no:
            await no()
            return
        lead = mentioned(words[1]) if len(words) == 2 else None
        if len(words) == 2 and lead is None:  # not echoed: it may be a child's name
            await tell(sv, user, channel, "Name the lead professional with an @mention "
                       "(choose them from the list as you type). " + usage(sv))
            return
        found = await look.aopen_list(lead=lead)
        msg = (blocks.list_message(found, "Open CAFs", "There are no open CAFs.")
               if lead is None else blocks.list_message(
                   found, f"Open CAFs led by {mention(lead)}",
                   "That person is not the lead professional of any open CAF."))
    elif verb == "help":
        await tell(sv, user, channel, usage(sv))
        return
    elif len(words) == 1 and sv.policy.caf.reference_matches(words[0]) and not nonames.scan(
            words[0]):
        view = await look.aone(words[0])
        if view is None or not await may_act(sv, user, view.episode):
            if view is None and await team(sv, user):
                await tell(sv, user, channel, f"There is no CAF with the EHM reference "
                           f"{words[0].strip().upper()}.")
            else:  # the same words whether it exists or not
                await sv.caf.adenied(view.episode.id if view else None, user, "lookup")
                await tell(sv, user, channel, "Only the CAF team, or a CAF's lead professional "
                           "or co-ordinator, can look it up.")
            return
        msg = blocks.lookup_message(view, sv.policy)
    else:  # never echoed: a name typed where a reference goes must not be repeated
        await tell(sv, user, channel, "That is not an EHM reference such as "
                   f"{sv.policy.caf.reference_example}. " + usage(sv))
        return
    await tell(sv, user, channel, msg["text"], msg["blocks"])


async def register_submitted(sv: Services, body: dict[str, Any], view: dict[str, Any]
                             ) -> Outcome:
    """The registration modal submitted."""
    user = body["user"]["id"]
    # The role first: someone outside the CAF team learns nothing about any reference.
    no = await not_team(sv, user, None, "register a CAF")
    if no:
        return no
    new, errors = read_episode(view, sv.caf.today(), sv.policy.caf)
    if errors or new is None:
        return Refuse(errors)
    result = await sv.caf.aregister(new, user, effects=sv.caf_messaging)
    if result.problems:  # e.g. registered already: said in the modal
        return Refuse(_field_errors(result.problems))
    return settle(sv, user, None, result, lambda r: blocks.registered_text(r.episode, sv.policy)
                  if r.episode else None)


# --- route a decided Green card to a CAF ----------------------------------------


async def route(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """*Route to a CAF* on a card (managers only; the CAF domain says which cards may)."""
    user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
    raw = str(action.get("value") or "")
    card_id = int(raw) if raw.isdigit() else 0
    no = await not_manager(sv, user, channel, card_id)
    if no:
        return no
    found = await sv.caf.aroutable(card_id)
    if isinstance(found, str):
        return told(sv, user, channel, found)
    return later(sv.client.views_open, trigger_id=body["trigger_id"],
                 view=blocks.route_modal(found.card, found.consent, found.open_caf))


async def route_submitted(sv: Services, body: dict[str, Any], view: dict[str, Any]
                          ) -> Outcome:
    """The route modal submitted: link to an open episode, or register a new one."""
    user = body["user"]["id"]
    raw = str(view.get("private_metadata") or "")
    card_id = int(raw) if raw.isdigit() else 0
    # The role first: a non-manager learns nothing about any reference or card.
    no = await not_manager(sv, user, None, card_id)
    if no:
        return no
    ref = str(state_value(view, ids.IN_CAF_REFERENCE) or "").strip()
    errors = _reference_errors(ref, sv.policy.caf)
    new: NewEpisode | None = None
    to = None if errors else await sv.caf.aroute_target(ref)
    if to is not None and to.kind == "closed":
        errors = {ids.IN_CAF_REFERENCE[0]: to.message}
    elif to is not None and to.kind == "link":  # the other fields are not used
        new = to.link
    elif not errors:
        new, errors = read_episode(view, sv.caf.today(), sv.policy.caf)
    if errors or new is None:
        return Refuse(errors)
    result = await sv.caf.aroute_from_card(card_id, user, new, effects=sv.caf_messaging)
    return settle(sv, user, None, result,
                  lambda r: blocks.registered_text(r.episode, sv.policy, linked=r.linked)
                  if r.episode else None)


# --- the CAF DMs' buttons --------------------------------------------------------


def opener(name: str,
           view: Callable[[Services, CafEpisode, date | None, str], dict[str, Any]], *,
           stale_check: bool, who: Who = may_act) -> Work:
    """A CAF DM's button opening its modal (only for whom ``who`` allows)."""

    async def open_modal(sv: Services, body: dict[str, Any], action: dict[str, Any]
                         ) -> Outcome:
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        episode_id, due = blocks.parse_value(action.get("value"))
        ep = await sv.caf.aget(episode_id)
        no = await not_allowed(sv, user, channel, ep, episode_id, name, who)
        if no or ep is None:
            return no
        if ep.status != "open":
            return told(sv, user, channel, f"CAF {ep.ehm_reference} is closed.")
        if stale_check and due is not None and ep.next_meeting_due != due:
            return told(sv, user, channel, f"CAF {ep.ehm_reference} was updated already: "
                        f"the next meeting is due by {blocks.day(ep.next_meeting_due)}.")
        return later(sv.client.views_open, trigger_id=body["trigger_id"],
                     view=view(sv, ep, due, user))

    open_modal.__name__ = f"caf_{name}_open"
    return open_modal


def submission(
    name: str,
    check: Callable[[Services, dict[str, Any]], dict[str, str]],
    act: Act,
    ok_text: Callable[[CafResult, str], str | None],
    *,
    who: Who = may_act,
) -> Work:
    """A CAF modal's submission: who first, then its checks, then ``act``."""

    async def submitted(sv: Services, body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        user = body["user"]["id"]
        episode_id, due = blocks.parse_value(view.get("private_metadata"))
        ep = await sv.caf.aget(episode_id)
        no = await not_allowed(sv, user, None, ep, episode_id, name, who)
        if no:
            return no
        errors = check(sv, view)
        if errors:
            # Refused inside the modal, to this person only; nothing is stored.
            return Refuse(errors)
        result = await act(sv, episode_id, due, user, view)
        return settle(sv, user, None, result, lambda r: ok_text(r, user))

    submitted.__name__ = f"caf_{name}"
    return submitted


def date_of(view: dict[str, Any]) -> date | None:
    """The modal's date, or None."""
    raw = state_value(view, ids.IN_CAF_DATE)
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def check_held(sv: Services, view: dict[str, Any]) -> dict[str, str]:
    """*Meeting held on…*: a date, not in the future."""
    d = date_of(view)
    if d is None:
        return {ids.IN_CAF_DATE[0]: "Choose the date the meeting was held."}
    if d > sv.caf.today():
        return {ids.IN_CAF_DATE[0]: "That is in the future: use \"Rearranged to\" instead."}
    return {}


def check_rearranged(sv: Services, view: dict[str, Any]) -> dict[str, str]:
    """*Rearranged to…*: a date, not passed."""
    d = date_of(view)
    if d is None:
        return {ids.IN_CAF_DATE[0]: "Choose the date the meeting is now arranged for."}
    if d < sv.caf.today():
        return {ids.IN_CAF_DATE[0]: "That date has passed: record the meeting as held."}
    return {}


def check_stuck(_sv: Services, view: dict[str, Any]) -> dict[str, str]:
    """*Stuck*: a note (it has passed the no-names guard already: ``guard=``)."""
    note = str(state_value(view, ids.IN_CAF_NOTE) or "")
    if not note.strip():
        return {ids.IN_CAF_NOTE[0]: "Say briefly what is stuck."}
    return {}


def check_close(_sv: Services, view: dict[str, Any]) -> dict[str, str]:
    """*Close the CAF*: one of the reasons offered."""
    if state_value(view, ids.IN_CAF_REASON) not in CLOSE_REASONS:
        return {ids.IN_CAF_REASON[0]: "Choose why the CAF is closing."}
    return {}


def check_lead(_sv: Services, view: dict[str, Any]) -> dict[str, str]:
    """*Record the lead professional*: someone chosen."""
    if not state_value(view, ids.IN_CAF_LEAD):
        return {ids.IN_CAF_LEAD[0]: "Choose the lead professional."}
    return {}


def quiet_for_recipients(text: str) -> Callable[[CafResult, str], str | None]:
    """``text`` for the actor, unless they see the change in their DMs already (the lead
    professional and co-ordinator)."""
    def say(r: CafResult, user: str) -> str | None:
        return None if r.episode and user in recipients(r.episode) else text
    return say


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
    new = NewEpisode(ref, lead, coordinator, completed, consent == "yes", platform=PLATFORM)
    for block, msg in _field_errors(problems(new, today, shape)).items():
        errors.setdefault(block, msg)
    return (None if errors else new), errors
