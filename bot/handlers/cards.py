"""Listeners for triage cards: approve, change rating, request information, assign, close.

Manager buttons check the policy's managers first; anyone else gets a private
refusal and the attempt is audited. Modals are opened straight away (a
trigger_id lives 3 seconds); typed reasons pass the no-names guard before
anything is saved, and a finding is shown in the modal, to that person only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from sqlmodel import Session

from bot.blocks import ids, modals
from bot.flows.triage import CardResult
from bot.handlers.common import guard_error, guard_text, guarded, off_loop, state_value, tell
from bot.services import Services
from store.db import session_scope
from store.models import TriageCard

REFUSED = "Only the front door's managers can {what}. Nothing was changed."


def register(app: AsyncApp, sv: Services) -> None:
    """Register the triage-card listeners on ``app``."""

    def effects(s: Session, result: CardResult) -> None:
        sv.messaging.card_result(s, result)

    async def act(user: str, channel: str | None, fn: Callable[..., CardResult]) -> None:
        result = await off_loop(fn, effects=effects)
        sv.sender.kick()
        if not result.ok and result.message:
            await tell(sv, user, channel, result.message)

    async def allowed(user: str, channel: str | None, card_id: int | None, what: str,
                      action: str) -> bool:
        if await sv.roles.is_manager(user):
            return True
        await off_loop(sv.triage.denied, card_id, user, action)
        await tell(sv, user, channel, REFUSED.format(what=what))
        return False

    def load(card_id: int) -> TriageCard | None:
        with session_scope(sv.engine) as s:
            return s.get(TriageCard, card_id)

    @app.action(ids.CARD_APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _approve(body=body, action=action)

    @guarded(sv)
    async def _approve(*, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, card_id = _ids(body, action)
        if await allowed(user, channel, card_id, "approve a rating", "approve"):
            await act(user, channel, lambda effects: sv.triage.approve(
                card_id, user, effects=effects))

    @app.action(ids.CARD_ASSIGN)
    async def assign(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _assign(body=body, action=action)

    @guarded(sv)
    async def _assign(*, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, card_id = _ids(body, action)
        if await allowed(user, channel, card_id, "take cards", "assign"):
            await act(user, channel, lambda effects: sv.triage.assign(
                card_id, user, effects=effects))

    @app.action(ids.CARD_SNOOZE)
    async def snooze(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _snooze(body=body, action=action)

    @guarded(sv)
    async def _snooze(*, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, card_id = _ids(body, action)
        raw = str((action.get("selected_option") or {}).get("value") or action.get("value") or "")
        minutes = raw.partition(":")[2]
        if not minutes.isdigit():
            await tell(sv, user, channel, "Choose how long to snooze for.")
            return
        if await allowed(user, channel, card_id, "snooze reminders", "snooze"):
            await act(user, channel, lambda effects: sv.triage.snooze(
                card_id, user, int(minutes), effects=effects))

    def opener(what: str, action_name: str,
               view: Callable[[TriageCard], dict[str, Any]]) -> Callable[..., Any]:
        async def open_modal(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            await _open(body=body, action=action)

        @guarded(sv)
        async def _open(*, body: dict[str, Any], action: dict[str, Any]) -> None:
            user, channel, card_id = _ids(body, action)
            if not await allowed(user, channel, card_id, what, action_name):
                return
            card = await off_loop(load, card_id)
            if card is None or card.status == "closed":
                await tell(sv, user, channel, "This card is closed.")
                return
            await sv.client.views_open(trigger_id=body["trigger_id"], view=view(card))

        return open_modal

    app.action(ids.CARD_CHANGE)(opener(
        "change a rating", "change", lambda c: modals.change_rating_modal(c, sv.policy)))
    app.action(ids.CARD_CLOSE)(opener("close cards", "close", modals.close_modal))
    app.action(ids.CARD_REQUEST_INFO)(opener(
        "ask for more information", "request_info", modals.request_info_modal))

    def submission(
        text_field: tuple[str, str],
        run: Callable[[int, str, dict[str, Any], str], Callable[..., CardResult]],
        *,
        managers_only: bool = True,
    ) -> Callable[..., Any]:
        async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
            user = body["user"]["id"]
            text = str(state_value(view, text_field) or "")
            findings = guard_text(text)
            if findings:
                # The typed text is refused inside the modal; it is never stored.
                await ack(response_action="errors",
                          errors={text_field[0]: guard_error(findings)})
                return
            await ack()
            await _submitted(body=body, view=view, user=user, text=text)

        @guarded(sv)
        async def _submitted(*, body: dict[str, Any], view: dict[str, Any], user: str,
                             text: str) -> None:
            card_id = int(view.get("private_metadata") or 0)
            if managers_only and not await allowed(user, None, card_id, "do that", "submit"):
                return
            await act(user, None, run(card_id, user, view, text))

        return submitted

    app.view(ids.MODAL_CHANGE_RATING)(submission(
        ids.IN_REASON,
        lambda cid, user, view, text: lambda effects: sv.triage.change(
            cid, user, str(state_value(view, ids.IN_RATING) or ""), text, effects=effects),
    ))
    app.view(ids.MODAL_CLOSE)(submission(
        ids.IN_REASON,
        lambda cid, user, view, text: lambda effects: sv.triage.close(
            cid, user, _close_reason(view, text), effects=effects),
    ))
    app.view(ids.MODAL_REQUEST_INFO)(submission(
        ids.IN_QUESTION,
        lambda cid, user, view, text: lambda effects: sv.triage.request_info(
            cid, user, text, effects=effects),
    ))
    app.view(ids.MODAL_INFO_REPLY)(submission(
        ids.IN_REPLY,
        lambda cid, user, view, text: lambda effects: sv.triage.info_reply(
            cid, user, text, effects=effects),
        managers_only=False,
    ))

    @app.action(ids.INFO_REPLY)
    async def reply(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _reply(body=body, action=action)

    @guarded(sv)
    async def _reply(*, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, card_id = _ids(body, action)
        card = await off_loop(load, card_id)
        if card is None or card.referrer_user_id != user:
            await tell(sv, user, channel, "Only the referrer can answer this request.")
            return
        await sv.client.views_open(trigger_id=body["trigger_id"],
                                   view=modals.info_reply_modal(card))


def _ids(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str | None, int]:
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id")
    raw = str(action.get("value") or (action.get("selected_option") or {}).get("value") or "0")
    return user, channel, int(raw.split(":")[0]) if raw.split(":")[0].isdigit() else 0


def _close_reason(view: dict[str, Any], text: str) -> str:
    chosen = state_value(view, ids.IN_OUTCOME)
    if chosen and text:
        return f"{chosen}: {text}"
    return str(chosen or text)
