"""Listeners for consultation cards: the advisor's advice and the professional's response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlmodel import Session

from bot.blocks import ids, modals
from bot.flows.advice import AdviceResult
from bot.handlers.common import off_loop, on_action, on_submit, state_value, tell, who
from bot.services import Services
from store.db import session_scope
from store.models import Consultation

ADVISORS_ONLY = "Only duty advisors can answer consultations."


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

    async def advise(body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, cid = who(body, action)
        if not await sv.roles.is_advisor(user):
            await off_loop(sv.triage.denied, None, user, f"advise:consultation:{cid}")
            await tell(sv, user, channel, ADVISORS_ONLY)
            return
        c = await off_loop(load, cid)
        if c is None or c.status != "open":
            whom = f"<@{c.advisor_user_id}>" if c and c.advisor_user_id else "Someone"
            await tell(sv, user, channel, f"{whom} already answered this consultation.")
            return
        await sv.client.views_open(trigger_id=body["trigger_id"],
                                   view=modals.advice_modal(c, sv.policy))

    async def advice_given(body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        if not await sv.roles.is_advisor(user):
            await tell(sv, user, None, ADVISORS_ONLY)
            return
        cid = int(view.get("private_metadata") or 0)
        outcome = str(state_value(view, ids.IN_OUTCOME) or "")
        text = str(state_value(view, ids.IN_ADVICE) or "")
        await act(user, None, lambda effects: sv.advice.advise(
            cid, user, outcome, text, effects=effects))

    async def followed(body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, cid = who(body, action)
        await act(user, channel, lambda effects: sv.advice.respond(
            cid, user, True, effects=effects))

    async def not_followed(body: dict[str, Any], action: dict[str, Any]) -> None:
        user, channel, cid = who(body, action)
        c = await off_loop(load, cid)
        if c is None:
            await tell(sv, user, channel, "That consultation no longer exists.")
            return
        await sv.client.views_open(trigger_id=body["trigger_id"],
                                   view=modals.not_followed_modal(c))

    async def why_not(body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        cid = int(view.get("private_metadata") or 0)
        reason = str(state_value(view, ids.IN_REASON) or "")
        await act(user, None, lambda effects: sv.advice.respond(
            cid, user, False, reason, effects=effects))

    on_action(app, sv, ids.CONSULT_ADVISE, advise)
    on_action(app, sv, ids.ADVICE_FOLLOWED, followed)
    on_action(app, sv, ids.ADVICE_NOT_FOLLOWED, not_followed)
    on_submit(app, sv, ids.MODAL_ADVICE, advice_given, guard=ids.IN_ADVICE)
    on_submit(app, sv, ids.MODAL_NOT_FOLLOWED, why_not, guard=ids.IN_REASON)
