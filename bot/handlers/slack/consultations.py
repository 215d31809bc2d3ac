"""Listeners for consultation cards: the advisor's advice and the professional's response."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.flows.consultation.models import AdviceResult
from bot.flows.consultation.service import ALREADY_ANSWERED
from bot.handlers.slack import directory
from bot.handlers.slack.blocks import ids, modals
from bot.handlers.slack.common import (
    After,
    Outcome,
    later,
    on_action,
    on_submit,
    settle,
    state_value,
    told,
    who,
)
from bot.services import Services
from store.tx import Tx

ADVISORS_ONLY = "Only duty advisors can answer consultations."
PROFESSIONAL_ONLY = "Only the professional who asked can answer."
RECORDED = "Thank you: that is recorded in the consultation log."


def register(app: AsyncApp) -> None:
    """Register the consultation listeners on ``app``."""
    on_action(app, ids.CONSULT_ADVISE, advise)
    on_action(app, ids.ADVICE_FOLLOWED, followed)
    on_action(app, ids.ADVICE_NOT_FOLLOWED, not_followed)
    on_action(app, ids.ADVICE_CHANGE, change_answer)
    on_submit(app, ids.MODAL_ADVICE, advice_given, guard=ids.IN_ADVICE)
    on_submit(app, ids.MODAL_NOT_FOLLOWED, why_not, guard=ids.IN_REASON)


async def acted(sv: Services, user: str, channel: str | None,
                done: Awaitable[AdviceResult]) -> After:
    """Await the committed action; what it sends and says goes after the ack."""
    return settle(sv, user, channel, await done, lambda r: RECORDED if r.action == "respond"
                  else None)


async def record_asker(sv: Services, consultation_id: int, user: str) -> None:
    """After a consultation is committed: who asked, from their Slack profile now, on
    its log entry (a failed lookup records "not available"; the consultation stands)."""
    await sv.caflog.arecord_asker(consultation_id, await directory.profile(sv.client, user))


async def record_advisor(sv: Services, consultation_id: int, user: str) -> None:
    """After advice is committed: who advised, from their Slack profile now."""
    await sv.caflog.arecord_advisor(consultation_id, user,
                                    await directory.profile(sv.client, user))


async def not_advisor(sv: Services, user: str, channel: str | None, cid: int) -> After | None:
    """None for a duty advisor; anyone else is audited and refused."""
    if await sv.roles.is_advisor(user):
        return None
    await sv.triage.adenied(None, user, f"advise:consultation:{cid}")
    return told(sv, user, channel, ADVISORS_ONLY)


async def not_asker(sv: Services, user: str, channel: str | None, cid: int) -> After | None:
    """None for the professional who asked; anyone else hears the same words whether
    the consultation exists or not (checked before anything else)."""
    if await sv.advice.aasker(cid) == user:
        return None
    return told(sv, user, channel, PROFESSIONAL_ONLY)


async def advise(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """*Give advice*: the advice modal (advisors only; once)."""
    user, channel, cid = who(body, action)
    no = await not_advisor(sv, user, channel, cid)
    if no:
        return no
    c = await sv.advice.aget(cid)
    if c is None or c.status != "open":
        whom = f"<@{c.advisor_user_id}>" if c and c.advisor_user_id else "Someone"
        return told(sv, user, channel, f"{whom} already answered this consultation.")
    return later(sv.client.views_open, trigger_id=body["trigger_id"],
                 view=modals.advice_modal(c, sv.policy))


async def advice_given(sv: Services, body: dict[str, Any], view: dict[str, Any]) -> Outcome:
    """The advice modal submitted (its text has passed the guard)."""
    user = body["user"]["id"]
    cid = _consultation_id(view)
    no = await not_advisor(sv, user, None, cid)
    if no:
        return no
    outcome = str(state_value(view, ids.IN_OUTCOME) or "")
    text = str(state_value(view, ids.IN_ADVICE) or "")
    result = await sv.advice.aadvise(cid, user, outcome, text,
                                     effects=sv.consultation_messaging.advice_result)
    told_them = settle(sv, user, None, result)
    if not result.ok:
        return told_them

    async def after() -> None:
        await told_them()
        await record_advisor(sv, cid, user)

    return after


async def followed(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """*I'll follow it*, from the professional who asked."""
    user, channel, cid = who(body, action)
    change = _is_change(str(action.get("value") or ""))
    return await not_asker(sv, user, channel, cid) or await acted(
        sv, user, channel, sv.advice.arespond(
            cid, user, True, change=change, effects=sv.consultation_messaging.advice_result))


async def not_followed(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """*I'm doing something else*: the modal asking why."""
    user, channel, cid = who(body, action)
    no = await not_asker(sv, user, channel, cid)
    if no:
        return no
    c = await sv.advice.aget(cid)
    if c is None:
        return told(sv, user, channel, "That consultation no longer exists.")
    if c.followed_advice is not None and not _is_change(str(action.get("value") or "")):
        return told(sv, user, channel, ALREADY_ANSWERED)
    return later(sv.client.views_open, trigger_id=body["trigger_id"],
                 view=modals.not_followed_modal(
                     c, change=_is_change(str(action.get("value") or ""))))


async def change_answer(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """"Change my answer": the advice DM shows its two buttons again; the answer
    given stands until one of them is chosen."""
    user, channel, cid = who(body, action)
    no = await not_asker(sv, user, channel, cid)
    if no:
        return no

    def redraw(tx: Tx) -> None:
        sv.consultation_messaging.redraw_advice_dm(
            tx, cid, user, f"changing:{body.get('trigger_id')}", changing=True)

    reopened, _ = await sv.tx.run(lambda tx: sv.advice.reopen_in(tx, cid, user, redraw))
    if not reopened:
        return told(sv, user, channel, "There is no answer to change yet.")

    async def after() -> None:
        sv.sender.kick()

    return after


async def why_not(sv: Services, body: dict[str, Any], view: dict[str, Any]) -> Outcome:
    """Why the advice is not followed (passed the guard)."""
    user = body["user"]["id"]
    cid = _consultation_id(view)
    change = _is_change(str(view.get("private_metadata") or ""))
    reason = str(state_value(view, ids.IN_REASON) or "")
    return await not_asker(sv, user, None, cid) or await acted(
        sv, user, None, sv.advice.arespond(
            cid, user, False, reason, change=change,
            effects=sv.consultation_messaging.advice_result))


def _consultation_id(view: dict[str, Any]) -> int:
    head = str(view.get("private_metadata") or "").split(":")[0]
    return int(head) if head.isdigit() else 0


def _is_change(value: str) -> bool:
    """A button value or modal metadata ``"12:change"``: an answer changed on purpose."""
    return value.split(":")[1:] == ["change"]
