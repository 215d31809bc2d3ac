"""Listeners for triage cards: approve, change rating, request information, assign, close.

Manager buttons check the policy's managers before anything else; anyone else
gets a private refusal, in the same words whatever the card, and the attempt is
audited. A decision is committed before Slack is acked, then the card is redrawn
and people told. Modals are opened right after the ack (a trigger_id lives 3
seconds); typed reasons pass the no-names guard before anything is saved, and a
finding is shown in the modal, to that person only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.flows.triage.models import CLOSE_REASONS, CardResult
from bot.handlers.slack.blocks import ids, modals
from bot.handlers.slack.common import (
    After,
    Outcome,
    Refuse,
    Work,
    later,
    on_action,
    on_submit,
    settle,
    state_value,
    told,
    who,
)
from bot.services import Services
from store.models import TriageCard

REFUSED = "Only the front door's managers can {what}. Nothing was changed."
Decide = Callable[[Services, int, str, dict[str, Any]], Awaitable[CardResult]]
"""``decide(sv, card_id, user, view)``: a card action, committed when it returns."""


def register(app: AsyncApp) -> None:
    """Register the triage-card listeners on ``app``."""
    on_action(app, ids.CARD_APPROVE, approve)
    on_action(app, ids.CARD_ASSIGN, assign)
    on_action(app, ids.CARD_SNOOZE, snooze)
    on_action(app, ids.CARD_WRITTEN, written)
    on_action(app, ids.INFO_REPLY, reply)
    on_action(app, ids.CARD_CHANGE, opener(
        "change a rating", "change", lambda sv, c: modals.change_rating_modal(c, sv.policy)))
    on_action(app, ids.CARD_CLOSE, opener(
        "close cards", "close", lambda _sv, c: modals.close_modal(c)))
    on_action(app, ids.CARD_REQUEST_INFO, opener(
        "ask for more information", "request_info",
        lambda _sv, c: modals.request_info_modal(c)))
    on_submit(app, ids.MODAL_CHANGE_RATING, guard=ids.IN_REASON, work=submitted(
        lambda sv, cid, user, view: sv.triage.achange(
            cid, user, _text(view, ids.IN_RATING), _text(view, ids.IN_REASON),
            effects=sv.triage_messaging.card_result)))
    on_submit(app, ids.MODAL_CLOSE, guard=ids.IN_REASON, work=close_submitted)
    on_submit(app, ids.MODAL_REQUEST_INFO, guard=ids.IN_QUESTION, work=submitted(
        lambda sv, cid, user, view: sv.triage.arequest_info(
            cid, user, _text(view, ids.IN_QUESTION), effects=sv.triage_messaging.card_result)))
    on_submit(app, ids.MODAL_INFO_REPLY, guard=ids.IN_REPLY, work=submitted(
        lambda sv, cid, user, view: sv.triage.ainfo_reply(
            cid, user, _text(view, ids.IN_REPLY), effects=sv.triage_messaging.card_result),
        managers_only=False))


async def acted(sv: Services, user: str, channel: str | None,
                decided: Awaitable[CardResult]) -> After:
    """Await the committed decision; what it sends and says goes after the ack."""
    return settle(sv, user, channel, await decided)


async def refused(sv: Services, user: str, channel: str | None, card_id: int | None,
                  what: str, action: str) -> After | None:
    """None for a manager; anyone else's attempt is audited now and refused after the
    ack, in the same words whatever the card (checked before anything is looked up)."""
    if await sv.roles.is_manager(user):
        return None
    await sv.triage.adenied(card_id, user, action)
    return told(sv, user, channel, REFUSED.format(what=what))


async def approve(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """Approve: the suggested rating becomes the decision (managers only)."""
    user, channel, card_id = who(body, action)
    return (await refused(sv, user, channel, card_id, "approve a rating", "approve")
            or await acted(sv, user, channel, sv.triage.aapprove(
                card_id, user, effects=sv.triage_messaging.card_result)))


async def assign(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """Take the card (managers only)."""
    user, channel, card_id = who(body, action)
    return (await refused(sv, user, channel, card_id, "take cards", "assign")
            or await acted(sv, user, channel, sv.triage.aassign(
                card_id, user, effects=sv.triage_messaging.card_result)))


async def written(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """The written referral confirming a phone referral is in (managers only)."""
    user, channel, card_id = who(body, action)
    return (await refused(sv, user, channel, card_id, "record the written referral",
                          "written")
            or await acted(sv, user, channel, sv.triage.awritten_received(
                card_id, user, effects=sv.triage_messaging.card_result)))


async def snooze(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """Put off the card's next warning (managers only)."""
    user, channel, card_id = who(body, action)
    no = await refused(sv, user, channel, card_id, "snooze reminders", "snooze")
    if no:
        return no
    raw = str((action.get("selected_option") or {}).get("value") or action.get("value") or "")
    minutes = raw.partition(":")[2]
    if not minutes.isdigit():
        return told(sv, user, channel, "Choose how long to snooze for.")
    return await acted(sv, user, channel, sv.triage.asnooze(
        card_id, user, int(minutes), effects=sv.triage_messaging.card_result))


def opener(what: str, action_name: str,
           view: Callable[[Services, TriageCard], dict[str, Any]]) -> Work:
    """A button opening a card's modal (managers only; not on a closed card)."""

    async def open_modal(sv: Services, body: dict[str, Any], action: dict[str, Any]
                         ) -> Outcome:
        user, channel, card_id = who(body, action)
        no = await refused(sv, user, channel, card_id, what, action_name)
        if no:
            return no
        card = await sv.triage.acard(card_id)
        if card is None or card.status == "closed":
            return told(sv, user, channel, "This card is closed.")
        return later(sv.client.views_open, trigger_id=body["trigger_id"], view=view(sv, card))

    return open_modal


async def not_referrer(sv: Services, user: str, channel: str | None, card_id: int
                       ) -> After | None:
    """None for the card's referrer; anyone else hears the same words whether the card
    exists, is closed or not (checked before anything else)."""
    card = await sv.triage.acard(card_id)
    if card is not None and card.referrer_user_id == user:
        return None
    return told(sv, user, channel, "Only the referrer can answer this request.")


def submitted(decide: Decide, *, managers_only: bool = True) -> Work:
    """A card modal's submission: who first, then ``decide``, committed before the ack."""

    async def work(sv: Services, body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        user = body["user"]["id"]
        card_id = _card_id(view)
        no = (await refused(sv, user, None, card_id, "do that", "submit") if managers_only
              else await not_referrer(sv, user, None, card_id))
        return no or await acted(sv, user, None, decide(sv, card_id, user, view))

    return work


async def reply(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """The referrer opens the answer to a manager's question."""
    user, channel, card_id = who(body, action)
    no = await not_referrer(sv, user, channel, card_id)
    if no:
        return no
    card = await sv.triage.acard(card_id)
    if card is None or card.status == "closed":
        return told(sv, user, channel, "This card is closed.")
    return later(sv.client.views_open, trigger_id=body["trigger_id"],
                 view=modals.info_reply_modal(card))


_closing = submitted(lambda sv, cid, user, view: sv.triage.aclose(
    cid, user, _close_reason(view, _text(view, ids.IN_REASON)),
    effects=sv.triage_messaging.card_result))


async def close_submitted(sv: Services, body: dict[str, Any], view: dict[str, Any]
                          ) -> Outcome:
    """Close a card. The reason's option is stored as words: only the offered ones (a
    forged payload's value would be free text that never passed the guard). Managers
    only, first."""
    no = await refused(sv, body["user"]["id"], None, _card_id(view), "do that", "submit")
    if no:
        return no
    if state_value(view, ids.IN_OUTCOME) not in (None, *CLOSE_REASONS):
        return Refuse({ids.IN_OUTCOME[0]: "Choose one of the reasons offered."})
    return await _closing(sv, body, view)


def _text(view: dict[str, Any], field: tuple[str, str]) -> str:
    return str(state_value(view, field) or "")


def _card_id(view: dict[str, Any]) -> int:
    raw = str(view.get("private_metadata") or "")
    return int(raw) if raw.isdigit() else 0


def _close_reason(view: dict[str, Any], typed: str) -> str:
    chosen = state_value(view, ids.IN_OUTCOME)
    if chosen and typed:
        return f"{chosen}: {typed}"
    return str(chosen or typed)
