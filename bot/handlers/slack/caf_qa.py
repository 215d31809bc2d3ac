"""A CAF manager's quality assurance in Slack (``bot.flows.caf.qa``): the QA card's *Agree* and
*Return with reasons*, the returned DM's *Marked complete again*, and closing with no
further action asking for a manager's agreement instead of closing.

Who first, as every listener: only the front door's managers (the policy's role, as for
routing a card) answer a QA card; anyone else is audited and told, and learns nothing
about the CAF. The reasons pass the no-names guard in the modal before anything is saved.
The action commits, then the ack; the card is redrawn and the DMs go by the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.flows.caf import qa as domain
from bot.flows.caf.models import CafResult
from bot.handlers.slack import caf as caf_listeners
from bot.handlers.slack.blocks import caf_qa as blocks
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.common import (
    After,
    Outcome,
    Refuse,
    later,
    on_action,
    on_submit,
    settle,
    state_value,
    told,
    who,
)
from bot.services import Services

MANAGERS_ONLY = ("Only the front door's managers can quality assure a CAF assessment. "
                 "Nothing was changed.")
GONE = "That quality assurance request no longer exists."
ASKED = ("Sent to a CAF manager: closing with no further action needs their agreement. The "
         "CAF stays open until then.")
AGAIN = ("Sent for quality assurance again: a CAF manager will agree the plan or return it "
         "with reasons.")


def register(app: AsyncApp) -> None:
    """Register the QA listeners on ``app``."""
    on_action(app, ids.CAF_QA_AGREE, agree)
    on_action(app, ids.CAF_QA_RETURN, open_return)
    on_submit(app, ids.MODAL_CAF_QA_RETURN, return_submitted, guard=ids.IN_CAF_QA_REASONS)
    on_action(app, ids.CAF_QA_RESUBMIT, resubmit)


async def not_manager(sv: Services, user: str, channel: str | None, qa_id: int,
                      action: str) -> After | None:
    """None for a manager; anyone else is audited and refused (nothing looked up)."""
    if await sv.roles.is_manager(user):
        return None
    await sv.caf_qa.adenied(qa_id or None, user, action)
    return told(sv, user, channel, MANAGERS_ONLY)


async def agree(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """*Agree the plan* / *Agree the closure* on the QA card."""
    user, channel, qa_id = who(body, action)
    no = await not_manager(sv, user, channel, qa_id, "agree")
    if no:
        return no
    result = await sv.caf_qa.aagree(qa_id, user)
    return settle(sv, user, channel, result,
                  lambda r: blocks.done_text(r.qa, r.episode) if r.qa and r.episode else None)


async def open_return(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """*Return with reasons*: the modal asking what needs to change."""
    user, channel, qa_id = who(body, action)
    no = await not_manager(sv, user, channel, qa_id, "return")
    if no:
        return no
    found = await sv.caf_qa.aget(qa_id)
    if found is None:
        return told(sv, user, channel, GONE)
    qa, ep = found
    if qa.status != domain.AWAITING or ep.status != "open":
        return told(sv, user, channel, f"{blocks.ref(ep)} was answered or closed already. "
                    "Nothing was changed.")
    return later(sv.client.views_open, trigger_id=body["trigger_id"],
                 view=blocks.return_modal(qa, ep))


async def return_submitted(sv: Services, body: dict[str, Any], view: dict[str, Any]
                           ) -> Outcome:
    """The reasons submitted (they passed the no-names guard): returned, and told."""
    user = body["user"]["id"]
    raw = str(view.get("private_metadata") or "")
    qa_id = int(raw) if raw.isdigit() else 0
    no = await not_manager(sv, user, None, qa_id, "return")
    if no:
        return no
    reasons = str(state_value(view, ids.IN_CAF_QA_REASONS) or "")
    if not reasons.strip():
        return Refuse({ids.IN_CAF_QA_REASONS[0]: "Say what needs to change."})
    result = await sv.caf_qa.asend_back(qa_id, user, reasons)
    return settle(sv, user, None, result,
                  lambda r: blocks.done_text(r.qa, r.episode) if r.qa and r.episode else None)


async def resubmit(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """*Marked complete again*: the returned assessment goes back to a CAF manager."""
    user, channel, qa_id = who(body, action)
    found = await sv.caf_qa.aget(qa_id)
    ep = found[1] if found else None
    no = await caf_listeners.not_allowed(sv, user, channel, ep, ep.id or 0 if ep else 0,
                                         "qa_resubmit", caf_listeners.may_act)
    if no:
        return no
    result = await sv.caf_qa.aresubmit(qa_id, user)
    return settle(sv, user, channel, result, lambda _r: AGAIN)


# --- closing with no further action (the CAF close modal) ------------------------------


async def close_or_ask(sv: Services, episode_id: int, _due: date | None, user: str,
                       view: dict[str, Any]) -> CafResult | domain.QaResult:
    """Close the CAF, or, with no further action, ask a CAF manager to agree (1R)."""
    reason = str(state_value(view, ids.IN_CAF_REASON) or "")
    if reason == domain.NFA:
        return await sv.caf_qa.arequest_closure(episode_id, user)
    return await sv.caf.aclose(episode_id, user, reason, effects=sv.caf_messaging)


def asked_or(text: Callable[[Any, str], str | None]) -> Callable[[Any, str], str | None]:
    """What the person closing is told: ``text``, or that a manager was asked."""
    return lambda r, user: ASKED if isinstance(r, domain.QaResult) else text(r, user)
