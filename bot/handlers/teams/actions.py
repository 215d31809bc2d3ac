"""Triage-card actions in Teams: Action.Execute (an ``adaptiveCard/action`` invoke).

Manager actions are checked on the server against the policy (``people``) before anything
is looked up; anyone else's attempt is audited and answered with the same words whatever
the card, shown to them only (an invoke's message response). A decision is committed,
with the activity's once-key, before the invoke is answered; the answer carries the card
as it now is (the renderer's drawing, ``cards.triage``), and the messages the decision
causes (the card's redraw for everyone, the referrer's outcome) are queued in the same
transaction. "Change my answer" on the advice answers with the advice card showing its
two answers again (the professional who asked only).

The buttons that need typed input are dialogs (``dialogs``, ``cafdialogs``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.flows.consultation.models import AdviceResult
from bot.flows.drive import Duplicate, once_then
from bot.flows.triage.models import CardResult
from bot.handlers.teams import cafqa, people
from bot.handlers.teams.cards import ac, triage, verbs
from bot.services import Services
from store.models import Consultation, TriageCard
from store.tx import Tx

REFUSED = "Only the front door's managers can {what}. Nothing was changed."
NOT_HERE = "That can't be done from Teams yet: nothing was changed."
PROFESSIONAL_ONLY = "Only the professional who asked can answer."

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
        self.qa = cafqa.CafQa(sv, self.who)

    async def execute(self, user: str, verb: str, data: dict[str, Any],
                      once: str | None) -> Answer:
        """Do ``verb`` on the card ``data`` names, for ``user``; what the invoke answers."""
        if verb == verbs.ADVICE_FOLLOWED:
            return await self._followed(user, data, once)
        if verb == verbs.ADVICE_CHANGE:
            return await self._change(user, data, once)
        if verb in cafqa.VERBS:
            return "message", await self.qa.execute(user, verb, data)
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
        drawn = await self.sv.triage.adrawn(card_id)
        if drawn is None:
            return "message", "That card no longer exists."
        card, referral, last = drawn
        return "card", _content(triage.triage_card(card, referral, self.sv.policy,
                                                   self.sv.clock(), last, _mentions()))

    async def _followed(self, user: str, data: dict[str, Any], once: str | None) -> Answer:
        """"I'll follow this advice", from the professional who asked (the service checks
        who; anyone else is told so, whether or not the consultation exists)."""
        cid = _int(data.get(verbs.CONSULTATION)) or 0
        change = bool(data.get("change"))  # drawn after "Change my answer"
        result = await decide(self.sv, lambda effects: self.sv.advice.arespond(
            cid, user, True, change=change, effects=effects), once)
        if result is not None and not result.ok:
            return "message", result.message or "Nothing was changed."
        return "message", "Thank you: that is recorded in the consultation log."

    async def _change(self, user: str, data: dict[str, Any], once: str | None) -> Answer:
        """"Change my answer": the professional who asked gets the two answers back on the
        card (audited); the answer given stands until they choose again."""
        cid = _int(data.get(verbs.CONSULTATION)) or 0
        if await self.sv.advice.aasker(cid) != user:  # first: the same words for anyone
            return "message", PROFESSIONAL_ONLY

        def reopen(tx: Tx) -> bool:
            if once and not tx.claim_event(once):
                return True  # delivered before: answered with the card as it is
            return self.sv.advice.reopen_in(tx, cid, user, lambda _tx: None)

        reopened, _ = await self.sv.tx.run(reopen)
        c = await load_consultation(self.sv, cid)
        if not reopened or c is None:
            return "message", "There is no answer to change yet."
        return "card", _content(triage.advice(c, self.sv.policy, _mentions(), changing=True))

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
            sv.consultation_messaging.advice_result(s, result)
        else:
            sv.triage_messaging.card_result(s, result)  # type: ignore[arg-type]

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


def _content(activity: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card a drawn message carries (an invoke answers with the card)."""
    return activity["attachments"][0]["content"]  # type: ignore[no-any-return]


def _mentions() -> ac.Mentions:
    """Mentions for a card answered at once (people unnamed: the outbox's redraw, with the
    directory, follows)."""
    return ac.Mentions(ac.Directory())


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
