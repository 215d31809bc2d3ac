"""Listeners for triage cards: approve, change rating, request information, assign, close.

Manager buttons check the policy's managers before anything else; anyone else
gets a private refusal, in the same words whatever the card, and the attempt is
audited. A decision is committed before Slack is acked, then the card is redrawn
and people told. Modals are opened right after the ack (a trigger_id lives 3
seconds); typed reasons pass the no-names guard before anything is saved, and a
finding is shown in the modal, to that person only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlmodel import Session

from bot.flows.triage import CLOSE_REASONS, CardResult
from bot.handlers.slack.blocks import ids, modals
from bot.handlers.slack.common import (
    After,
    Outcome,
    Refuse,
    Work,
    later,
    off_loop,
    on_action,
    on_submit,
    state_value,
    tell,
    told,
    who,
)
from bot.handlers.slack.render import said
from bot.services import Services
from store.db import session_scope
from store.models import TriageCard

REFUSED = "Only the front door's managers can {what}. Nothing was changed."


def register(app: AsyncApp, sv: Services) -> None:
    """Register the triage-card listeners on ``app``."""

    def effects(s: Session, result: CardResult) -> None:
        sv.messaging.card_result(s, result)

    async def act(user: str, channel: str | None, fn: Callable[..., CardResult]) -> After:
        """Commit the decision now; what it sends goes after the ack."""
        result = await off_loop(fn, effects=effects)

        async def after() -> None:
            sv.sender.kick()
            if not result.ok and result.message:
                await tell(sv, user, channel, said(result.message, result.who))

        return after

    async def refused(user: str, channel: str | None, card_id: int | None, what: str,
                      action: str) -> After | None:
        """None for a manager; anyone else's attempt is audited now and refused after the
        ack, in the same words whatever the card (checked before anything is looked up)."""
        if await sv.roles.is_manager(user):
            return None
        await off_loop(sv.triage.denied, card_id, user, action)
        return told(sv, user, channel, REFUSED.format(what=what))

    def load(card_id: int) -> TriageCard | None:
        with session_scope(sv.engine) as s:
            return s.get(TriageCard, card_id)

    async def approve(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, card_id = who(body, action)
        return (await refused(user, channel, card_id, "approve a rating", "approve")
                or await act(user, channel, lambda effects: sv.triage.approve(
                    card_id, user, effects=effects)))

    async def assign(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, card_id = who(body, action)
        return (await refused(user, channel, card_id, "take cards", "assign")
                or await act(user, channel, lambda effects: sv.triage.assign(
                    card_id, user, effects=effects)))

    async def written(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, card_id = who(body, action)
        return (await refused(user, channel, card_id, "record the written referral", "written")
                or await act(user, channel, lambda effects: sv.triage.written_received(
                    card_id, user, effects=effects)))

    async def snooze(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, card_id = who(body, action)
        no = await refused(user, channel, card_id, "snooze reminders", "snooze")
        if no:
            return no
        raw = str((action.get("selected_option") or {}).get("value") or action.get("value") or "")
        minutes = raw.partition(":")[2]
        if not minutes.isdigit():
            return told(sv, user, channel, "Choose how long to snooze for.")
        return await act(user, channel, lambda effects: sv.triage.snooze(
            card_id, user, int(minutes), effects=effects))

    def opener(what: str, action_name: str, view: Callable[[TriageCard], dict[str, Any]]
               ) -> Work:
        async def open_modal(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
            user, channel, card_id = who(body, action)
            no = await refused(user, channel, card_id, what, action_name)
            if no:
                return no
            card = await off_loop(load, card_id)
            if card is None or card.status == "closed":
                return told(sv, user, channel, "This card is closed.")
            return later(sv.client.views_open, trigger_id=body["trigger_id"], view=view(card))

        return open_modal

    async def not_referrer(user: str, channel: str | None, card_id: int) -> After | None:
        """None for the card's referrer; anyone else hears the same words whether the card
        exists, is closed or not (checked before anything else)."""
        card = await off_loop(load, card_id)
        if card is not None and card.referrer_user_id == user:
            return None
        return told(sv, user, channel, "Only the referrer can answer this request.")

    def submitted(run: Callable[[int, str, dict[str, Any]], Callable[..., CardResult]], *,
                  managers_only: bool = True) -> Work:
        async def work(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
            user = body["user"]["id"]
            card_id = _card_id(view)
            no = (await refused(user, None, card_id, "do that", "submit") if managers_only
                  else await not_referrer(user, None, card_id))
            return no or await act(user, None, run(card_id, user, view))

        return work

    async def reply(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, card_id = who(body, action)
        no = await not_referrer(user, channel, card_id)
        if no:
            return no
        card = await off_loop(load, card_id)
        if card is None or card.status == "closed":
            return told(sv, user, channel, "This card is closed.")
        return later(sv.client.views_open, trigger_id=body["trigger_id"],
                     view=modals.info_reply_modal(card))

    on_action(app, sv, ids.CARD_APPROVE, approve)
    on_action(app, sv, ids.CARD_ASSIGN, assign)
    on_action(app, sv, ids.CARD_SNOOZE, snooze)
    on_action(app, sv, ids.CARD_WRITTEN, written)
    on_action(app, sv, ids.INFO_REPLY, reply)
    on_action(app, sv, ids.CARD_CHANGE, opener(
        "change a rating", "change", lambda c: modals.change_rating_modal(c, sv.policy)))
    on_action(app, sv, ids.CARD_CLOSE, opener("close cards", "close", modals.close_modal))
    on_action(app, sv, ids.CARD_REQUEST_INFO, opener(
        "ask for more information", "request_info", modals.request_info_modal))

    def text(view: dict[str, Any], field: tuple[str, str]) -> str:
        return str(state_value(view, field) or "")

    on_submit(app, sv, ids.MODAL_CHANGE_RATING, guard=ids.IN_REASON, work=submitted(
        lambda cid, user, view: lambda effects: sv.triage.change(
            cid, user, text(view, ids.IN_RATING), text(view, ids.IN_REASON), effects=effects)))
    closing = submitted(lambda cid, user, view: lambda effects: sv.triage.close(
        cid, user, _close_reason(view, text(view, ids.IN_REASON)), effects=effects))

    async def close_submitted(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        # The reason's option is stored as words: only the offered ones (a forged payload's
        # value would be free text that never passed the guard). Managers only, first.
        no = await refused(body["user"]["id"], None, _card_id(view), "do that", "submit")
        if no:
            return no
        if state_value(view, ids.IN_OUTCOME) not in (None, *CLOSE_REASONS):
            return Refuse({ids.IN_OUTCOME[0]: "Choose one of the reasons offered."})
        return await closing(body, view)

    on_submit(app, sv, ids.MODAL_CLOSE, guard=ids.IN_REASON, work=close_submitted)
    on_submit(app, sv, ids.MODAL_REQUEST_INFO, guard=ids.IN_QUESTION, work=submitted(
        lambda cid, user, view: lambda effects: sv.triage.request_info(
            cid, user, text(view, ids.IN_QUESTION), effects=effects)))
    on_submit(app, sv, ids.MODAL_INFO_REPLY, guard=ids.IN_REPLY, work=submitted(
        lambda cid, user, view: lambda effects: sv.triage.info_reply(
            cid, user, text(view, ids.IN_REPLY), effects=effects), managers_only=False))


def _card_id(view: dict[str, Any]) -> int:
    raw = str(view.get("private_metadata") or "")
    return int(raw) if raw.isdigit() else 0


def _close_reason(view: dict[str, Any], typed: str) -> str:
    chosen = state_value(view, ids.IN_OUTCOME)
    if chosen and typed:
        return f"{chosen}: {typed}"
    return str(chosen or typed)
