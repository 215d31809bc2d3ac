"""Listeners for consultation cards: the advisor's advice and the professional's response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from sqlmodel import Session

from bot.blocks import ids, modals
from bot.flows.advice import AdviceResult
from bot.handlers.common import guard_error, guard_text, guarded, off_loop, state_value, tell
from bot.services import Services
from store.db import session_scope
from store.models import Consultation


def register(app: AsyncApp, sv: Services) -> None:
    """Register the consultation listeners on ``app``."""

    def effects(s: Session, result: AdviceResult) -> None:
        sv.messaging.advice_result(s, result)

    async def act(user: str, channel: str | None, fn: Callable[..., AdviceResult]) -> None:
        result = await off_loop(fn, effects=effects)
        sv.sender.kick()
        if not result.ok and result.message:
            await tell(sv, user, channel, result.message)
        elif result.ok and result.action == "respond":
            await tell(sv, user, channel, "Thank you: that is recorded in the consultation log.")

    def load(cid: int) -> Consultation | None:
        with session_scope(sv.engine) as s:
            return s.get(Consultation, cid)

    @app.action(ids.CONSULT_ADVISE)
    async def advise(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _advise(body=body, action=action)

    @guarded(sv)
    async def _advise(*, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, cid = _ids(body, action)
        if not await sv.roles.is_advisor(user):
            await off_loop(sv.triage.denied, None, user, f"advise:consultation:{cid}")
            await tell(sv, user, channel, "Only duty advisors can answer consultations.")
            return
        c = await off_loop(load, cid)
        if c is None or c.status != "open":
            who = f"<@{c.advisor_user_id}>" if c and c.advisor_user_id else "Someone"
            await tell(sv, user, channel, f"{who} already answered this consultation.")
            return
        await sv.client.views_open(trigger_id=body["trigger_id"],
                                   view=modals.advice_modal(c, sv.policy))

    @app.view(ids.MODAL_ADVICE)
    async def advice_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = str(state_value(view, ids.IN_ADVICE) or "")
        findings = guard_text(text)
        if findings:
            await ack(response_action="errors", errors={ids.IN_ADVICE[0]: guard_error(findings)})
            return
        await ack()
        await _advice_submitted(body=body, view=view, text=text)

    @guarded(sv)
    async def _advice_submitted(*, body: dict[str, Any], view: dict[str, Any], text: str) -> None:
        user = body["user"]["id"]
        if not await sv.roles.is_advisor(user):
            await tell(sv, user, None, "Only duty advisors can answer consultations.")
            return
        cid = int(view.get("private_metadata") or 0)
        outcome = str(state_value(view, ids.IN_OUTCOME) or "")
        await act(user, None, lambda effects: sv.advice.advise(
            cid, user, outcome, text, effects=effects))

    @app.action(ids.ADVICE_FOLLOWED)
    async def followed(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _followed(body=body, action=action)

    @guarded(sv)
    async def _followed(*, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, cid = _ids(body, action)
        await act(user, channel, lambda effects: sv.advice.respond(
            cid, user, True, effects=effects))

    @app.action(ids.ADVICE_NOT_FOLLOWED)
    async def not_followed(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await _not_followed(body=body, action=action)

    @guarded(sv)
    async def _not_followed(*, body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, cid = _ids(body, action)
        c = await off_loop(load, cid)
        if c is None:
            await tell(sv, user, channel, "That consultation no longer exists.")
            return
        await sv.client.views_open(trigger_id=body["trigger_id"],
                                   view=modals.not_followed_modal(c))

    @app.view(ids.MODAL_NOT_FOLLOWED)
    async def why_not(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = str(state_value(view, ids.IN_REASON) or "")
        findings = guard_text(text)
        if findings:
            await ack(response_action="errors", errors={ids.IN_REASON[0]: guard_error(findings)})
            return
        await ack()
        await _why_not(body=body, view=view, text=text)

    @guarded(sv)
    async def _why_not(*, body: dict[str, Any], view: dict[str, Any], text: str) -> None:
        user = body["user"]["id"]
        cid = int(view.get("private_metadata") or 0)
        await act(user, None, lambda effects: sv.advice.respond(
            cid, user, False, text, effects=effects))


def _ids(body: dict[str, Any], action: dict[str, Any]) -> tuple[str, str | None, int]:
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id")
    raw = str(action.get("value") or "0")
    return user, channel, int(raw) if raw.isdigit() else 0
