"""Listeners for consultation cards: the advisor's advice and the professional's response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlmodel import Session

from bot.flows.advice import ALREADY_ANSWERED, AdviceResult
from bot.handlers.slack.blocks import ids, modals
from bot.handlers.slack.common import (
    After,
    Outcome,
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
from store.models import Consultation, Professional
from store.tx import Tx

ADVISORS_ONLY = "Only duty advisors can answer consultations."
PROFESSIONAL_ONLY = "Only the professional who asked can answer."


def register(app: AsyncApp, sv: Services) -> None:
    """Register the consultation listeners on ``app``."""

    def effects(s: Session, result: AdviceResult) -> None:
        sv.messaging.advice_result(s, result)

    async def act(user: str, channel: str | None, fn: Callable[..., AdviceResult]) -> After:
        """Commit now; what it sends and says goes after the ack."""
        result = await off_loop(fn, effects=effects)

        async def after() -> None:
            sv.sender.kick()
            if not result.ok and result.message:
                await tell(sv, user, channel, said(result.message, result.who))
            elif result.ok and result.action == "respond":
                await tell(sv, user, channel,
                           "Thank you: that is recorded in the consultation log.")

        return after

    def load(cid: int) -> Consultation | None:
        with session_scope(sv.engine) as s:
            return s.get(Consultation, cid)

    def asker(cid: int) -> str | None:
        with session_scope(sv.engine) as s:
            c = s.get(Consultation, cid)
            prof = s.get(Professional, c.professional_id) if c is not None else None
            return prof.slack_user_id if prof is not None else None

    async def not_advisor(user: str, channel: str | None, cid: int) -> After | None:
        if await sv.roles.is_advisor(user):
            return None
        await off_loop(sv.triage.denied, None, user, f"advise:consultation:{cid}")
        return told(sv, user, channel, ADVISORS_ONLY)

    async def not_asker(user: str, channel: str | None, cid: int) -> After | None:
        """None for the professional who asked; anyone else hears the same words whether
        the consultation exists or not (checked before anything else)."""
        if await off_loop(asker, cid) == user:
            return None
        return told(sv, user, channel, PROFESSIONAL_ONLY)

    async def advise(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, cid = who(body, action)
        no = await not_advisor(user, channel, cid)
        if no:
            return no
        c = await off_loop(load, cid)
        if c is None or c.status != "open":
            whom = f"<@{c.advisor_user_id}>" if c and c.advisor_user_id else "Someone"
            return told(sv, user, channel, f"{whom} already answered this consultation.")
        return later(sv.client.views_open, trigger_id=body["trigger_id"],
                     view=modals.advice_modal(c, sv.policy))

    async def advice_given(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        user = body["user"]["id"]
        cid = _consultation_id(view)
        no = await not_advisor(user, None, cid)
        if no:
            return no
        outcome = str(state_value(view, ids.IN_OUTCOME) or "")
        text = str(state_value(view, ids.IN_ADVICE) or "")
        return await act(user, None, lambda effects: sv.advice.advise(
            cid, user, outcome, text, effects=effects))

    async def followed(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, cid = who(body, action)
        change = _is_change(str(action.get("value") or ""))
        return await not_asker(user, channel, cid) or await act(
            user, channel, lambda effects: sv.advice.respond(
                cid, user, True, change=change, effects=effects))

    async def not_followed(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, cid = who(body, action)
        no = await not_asker(user, channel, cid)
        if no:
            return no
        c = await off_loop(load, cid)
        if c is None:
            return told(sv, user, channel, "That consultation no longer exists.")
        if c.followed_advice is not None and not _is_change(str(action.get("value") or "")):
            return told(sv, user, channel, ALREADY_ANSWERED)
        return later(sv.client.views_open, trigger_id=body["trigger_id"],
                     view=modals.not_followed_modal(
                         c, change=_is_change(str(action.get("value") or ""))))

    async def change_answer(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        """"Change my answer": the advice DM shows its two buttons again; the answer
        given stands until one of them is chosen."""
        user, channel, cid = who(body, action)
        no = await not_asker(user, channel, cid)
        if no:
            return no

        def reopen(tx: Tx) -> bool:
            c = tx.session.get(Consultation, cid)
            if c is None or c.followed_advice is None:
                return False
            tx.audit(actor=user, action="consultation.change_asked",
                     subject_type="consultation", subject_id=cid)
            sv.messaging.redraw_advice_dm(tx, cid, user, f"changing:{body.get('trigger_id')}",
                                          changing=True)
            return True

        reopened, _ = await sv.tx.run(reopen)
        if not reopened:
            return told(sv, user, channel, "There is no answer to change yet.")

        async def after() -> None:
            sv.sender.kick()

        return after

    async def why_not(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        user = body["user"]["id"]
        cid = _consultation_id(view)
        change = _is_change(str(view.get("private_metadata") or ""))
        reason = str(state_value(view, ids.IN_REASON) or "")
        return await not_asker(user, None, cid) or await act(
            user, None, lambda effects: sv.advice.respond(
                cid, user, False, reason, change=change, effects=effects))

    on_action(app, sv, ids.CONSULT_ADVISE, advise)
    on_action(app, sv, ids.ADVICE_FOLLOWED, followed)
    on_action(app, sv, ids.ADVICE_NOT_FOLLOWED, not_followed)
    on_action(app, sv, ids.ADVICE_CHANGE, change_answer)
    on_submit(app, sv, ids.MODAL_ADVICE, advice_given, guard=ids.IN_ADVICE)
    on_submit(app, sv, ids.MODAL_NOT_FOLLOWED, why_not, guard=ids.IN_REASON)


def _consultation_id(view: dict[str, Any]) -> int:
    head = str(view.get("private_metadata") or "").split(":")[0]
    return int(head) if head.isdigit() else 0


def _is_change(value: str) -> bool:
    """A button value or modal metadata ``"12:change"``: an answer changed on purpose."""
    return value.split(":")[1:] == ["change"]
