"""Triage-card actions in Teams: Action.Execute (an ``adaptiveCard/action`` invoke).

Manager actions are checked on the server against the policy (``people``) before anything
is looked up; anyone else's attempt is audited and answered with the same words whatever
the card, shown to them only (an invoke's message response). A decision is committed,
with the activity's once-key, before the invoke is answered; the answer carries the card
as it now is (``drawing.triage_card``), and the messages the decision causes (the card's
redraw for everyone, the referrer's outcome) are queued in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.flows.advice import AdviceResult
from bot.flows.drive import Duplicate, once_then
from bot.flows.triage import CardResult
from bot.handlers.teams import drawing, people
from bot.handlers.teams.cards import verbs
from bot.services import Services
from store.models import Consultation, TriageCard

REFUSED = "Only the front door's managers can {what}. Nothing was changed."
NOT_HERE = "That can't be done from Teams yet: nothing was changed."

# verb -> (what the refusal says they may not do, the audited action name)
_MANAGERS = {
    verbs.CARD_APPROVE: ("approve a rating", "approve"),
    verbs.CARD_ASSIGN: ("take cards", "assign"),
    verbs.CARD_WRITTEN: ("record the written referral", "written"),
    verbs.CARD_SNOOZE: ("snooze reminders", "snooze"),
}

R = TypeVar("R", CardResult, AdviceResult)
M = TypeVar("M", TriageCard, Consultation)
Answer = tuple[str, Any]  # ("card", an Adaptive Card) or ("message", words)


class Cards:
    """The card actions for one process."""

    def __init__(self, sv: Services, who: people.People | None = None) -> None:
        self.sv = sv
        self.who = who or people.People(sv.policy)  # the roles (teams' rosters too)

    async def execute(self, user: str, verb: str, data: dict[str, Any],
                      once: str | None) -> Answer:
        """Do ``verb`` on the card ``data`` names, for ``user``; what the invoke answers."""
        if verb == verbs.ADVICE_FOLLOWED:
            return await self._followed(user, data, once)
        if verb not in _MANAGERS:
            return "message", NOT_HERE
        card_id = _int(data.get(verbs.CARD))
        what, action = _MANAGERS[verb]
        if not await self.who.is_manager(user):
            await self.sv.triage.adenied(card_id or None, user, action)
            return "message", REFUSED.format(what=what)
        if card_id is None:
            return "message", "That card no longer exists."
        run = self._action(verb, card_id, user, data)
        if isinstance(run, str):
            return "message", run

        result = await decide(self.sv, run, once)
        if result is not None and not result.ok and result.message:
            return "message", _sentence(result.message)
        card = await load_card(self.sv, card_id)
        if card is None:
            return "message", "That card no longer exists."
        return "card", drawing.triage_card(card)

    async def _followed(self, user: str, data: dict[str, Any], once: str | None) -> Answer:
        """"I'll follow this advice", from the professional who asked (the service checks
        who; anyone else is told so, whether or not the consultation exists)."""
        cid = _int(data.get(verbs.CONSULTATION)) or 0
        result = await decide(self.sv, lambda effects: self.sv.advice.arespond(
            cid, user, True, effects=effects), once)
        if result is not None and not result.ok:
            return "message", result.message or "Nothing was changed."
        return "message", "Thank you: that is recorded in the consultation log."

    def _action(self, verb: str, card_id: int, user: str, data: dict[str, Any]
                ) -> Callable[[Any], Awaitable[CardResult]] | str:
        triage = self.sv.triage
        if verb == verbs.CARD_APPROVE:
            return lambda effects: triage.aapprove(card_id, user, effects=effects)
        if verb == verbs.CARD_ASSIGN:
            return lambda effects: triage.aassign(card_id, user, effects=effects)
        if verb == verbs.CARD_WRITTEN:
            return lambda effects: triage.awritten_received(card_id, user, effects=effects)
        minutes = _int(data.get(verbs.IN_SNOOZE))
        if minutes is None:
            return "Choose how long to snooze for."
        return lambda effects: triage.asnooze(card_id, user, minutes, effects=effects)



async def decide(sv: Services, run: Callable[[Any], Awaitable[R]], once: str | None
                 ) -> R | None:
    """Run a card's action (triage or advice) with the messages it causes and the
    activity's once-key, in one transaction; None: the activity was delivered before
    (nothing changed)."""

    def then(s: Any, result: R) -> None:
        if isinstance(result, AdviceResult):
            sv.messaging.advice_result(s, result)
        else:
            sv.messaging.card_result(s, result)  # type: ignore[arg-type]

    try:
        result = await run(once_then(once, then))
    except Duplicate:
        return None
    sv.sender.kick()
    return result


async def load_card(sv: Services, card_id: int) -> TriageCard | None:
    """The triage card as it now is."""
    return await sv.triage.acard(card_id)


async def load_consultation(sv: Services, consultation_id: int) -> Consultation | None:
    """The consultation as it now is."""
    return await sv.advice.aget(consultation_id)


def _sentence(message: str) -> str:
    """A service's message as a sentence (Slack's names the person first: "<who> already
    decided…"; here the words stand alone)."""
    message = message.strip()
    if message and message[0].islower():
        return "Someone " + message
    return message


def _int(raw: Any) -> int | None:
    text = str(raw).partition(":")[0] if raw is not None else ""
    return int(text) if text.isdigit() else None
