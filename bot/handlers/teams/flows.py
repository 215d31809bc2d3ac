"""The guided flows in Teams: ``consult`` / ``refer`` start them, a typed message answers
the free-text question, an Action.Submit answers a choice (or goes back, skips, cancels).

Thin, like Slack's (``bot.handlers.slack.flows``): parse the activity, call
``FlowService`` in one transaction with the messages it queues (``GuidedMessaging.flow_step``),
and answer the person. The activity's once-key is claimed in that same transaction, so a
redelivered activity does nothing. All of it is committed before the SDK answers Teams.

A refused answer, or the "is this a name?" question, is answered in the chat at once and
never queued or stored; it names the kind of detail and where it is, never the detail
(``cards.nonames``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microsoft_agents.hosting.core import TurnContext

from bot import nonames
from bot.flows.drive import Duplicate, drive
from bot.flows.guided.models import Kind, Status, Step
from bot.flows.guided.service import Conflict, Effects
from bot.handlers.teams import TEAMS
from bot.handlers.teams.cards import ac, verbs
from bot.handlers.teams.cards import nonames as nonames_cards
from bot.handlers.teams.pending import Pending
from bot.handlers.teams.turns import reply
from bot.services import Services
from store.tx import Tx

ELSEWHERE = "I've started this in our personal chat: look for Front Door."


class Flows:
    """The flow listeners for one process."""

    def __init__(self, sv: Services) -> None:
        self.sv = sv
        self.pending = Pending(sv.clock)

    async def start(self, context: TurnContext, user: str, kind: str, once: str | None,
                    *, personal: bool) -> None:
        """``consult`` / ``refer``: the flow starts in the person's 1:1 chat."""
        step = await self._drive(context, user, once, "", lambda tx, effects: (
            self.sv.flows.start_in(tx, user, kind, effects, platform=TEAMS)))
        if step is not None and not personal:
            await reply(context, ac.text_activity(ELSEWHERE))

    async def typed(self, context: TurnContext, user: str, text: str, once: str | None) -> None:
        """A message in the 1:1 chat answers the current question."""
        await self._drive(context, user, once, text, lambda tx, effects: (
            self.sv.flows.answer_in(tx, user, text, effects, platform=TEAMS)))

    async def submitted(self, context: TurnContext, user: str, data: dict[str, Any],
                        once: str | None) -> None:
        """An Action.Submit from a question card (or the "is this a name?" card)."""
        action = str(data.get(verbs.ACTION) or "")
        flow_id = _int(data.get(verbs.FLOW))
        question = data.get(verbs.QUESTION)
        question = str(question) if question is not None else None
        fn: Callable[[Tx, Effects], Step]
        if action == verbs.NONAMES_ORDINARY:
            held = self.pending.take(str(data.get(verbs.PENDING) or ""), user)
            if held is None:
                await reply(context, ac.text_activity(
                    "That button no longer works: please type your answer again."))
                return
            await self._drive(context, user, once, held.text, lambda tx, effects: (
                self.sv.flows.answer_in(tx, user, held.text, effects, expect=held.question,
                                        expect_flow=held.flow_id, confirmed=held.words,
                                        platform=TEAMS)))
            return
        if action == verbs.NONAMES_REPHRASE:
            await self._rephrase(context, user, flow_id, once)
            return
        # Back or Cancel on an earlier flow's card: refused by the service, in the same
        # transaction, and ``_drive`` says so.
        if action == verbs.FLOW_BACK:
            fn = lambda tx, effects: self.sv.flows.back_in(  # noqa: E731
                tx, user, effects, expect_flow=flow_id, platform=TEAMS)
        elif action == verbs.FLOW_CANCEL:
            fn = lambda tx, effects: self.sv.flows.cancel_in(  # noqa: E731
                tx, user, effects, expect_flow=flow_id, platform=TEAMS)
        elif action in (verbs.FLOW_ANSWER, verbs.FLOW_SKIP):
            multi = question is not None and self._multi(question)
            value = "" if action == verbs.FLOW_SKIP else _value(data, multi)
            if value is None:
                await reply(context, ac.text_activity("Please choose an answer first."))
                return
            fn = lambda tx, effects: self.sv.flows.answer_in(  # noqa: E731
                tx, user, value, effects, expect=question, expect_flow=flow_id, platform=TEAMS)
        else:
            await reply(context, ac.text_activity("That button no longer works."))
            return
        await self._drive(context, user, once, "", fn)

    def _multi(self, question: str) -> bool:
        """Whether ``question`` takes several answers (sent comma-separated)."""
        return any(q.id == question and q.kind is Kind.MULTI
                   for flow in self.sv.flows.flows.values() for q in flow.script.questions)

    async def _rephrase(self, context: TurnContext, user: str, flow_id: int | None,
                        once: str | None) -> None:
        """"It could: I'll rephrase": forget the held answer, audit the choice, ask again."""
        self.pending.drop(user)

        def audit(tx: Tx) -> Step:
            if once and not tx.claim_event(once):
                raise Duplicate
            return self.sv.flows.rephrase_in(tx, user, flow_id, platform=TEAMS)

        try:
            step, _ = await self.sv.tx.run(audit)
        except Duplicate:
            return
        await reply(context, ac.text_activity("Thank you. Please type your answer again "
                                              "without it: nothing of it was saved."))
        await self._ask_again(user, step, f"rephrase:{once}")

    async def _drive(self, context: TurnContext, user: str, once: str | None, text: str,
                     action: Callable[[Tx, Effects], Step]) -> Step | None:
        """Run one flow action with the messages it queues, in one transaction (with the
        activity's once-key); then answer the person. None: a redelivered activity."""
        sv = self.sv

        try:
            step, applied, sent = await drive(sv, user, action, once=once)
        except Duplicate:
            return None
        except Conflict:  # another action for this person came first: nothing applied
            step, applied = await sv.flows.areread(user, platform=TEAMS), False
        else:
            await sv.sender.dispatch(sent)
        question = step.prompt.text if step.prompt is not None else None
        if step.status == Status.REFUSED:
            await reply(context, nonames_cards.refusal(text, _found(text), question,
                                                       step.errors))
        elif step.status == Status.CONFIRM:
            key = None
            if step.flow_id is not None and step.prompt is not None:
                words = frozenset(f.word.casefold() for f in step.findings if f.confirm and f.word)
                key = self.pending.hold(user, step.flow_id, step.prompt.id, text, words)
            await reply(context, nonames_cards.name_question(text, _found(text), step, key))
        elif not applied and step.message:
            await reply(context, ac.text_activity(step.message))
            await self._ask_again(user, step, str(once))
        return step

    async def _ask_again(self, user: str, step: Step, nonce: str) -> None:
        """Queue the current question again for the person's chat."""
        if step.status != Status.ASKING or step.prompt is None:
            return
        _, sent = await self.sv.tx.run(lambda tx: self.sv.guided_messaging.ask_again(
            tx, user, step, f"flow:{step.flow_id}:v{step.version}:again:{nonce}"))
        await self.sv.sender.dispatch(sent)


def _found(text: str) -> list[nonames.Finding]:
    """Where the guard found something in ``text`` (offsets only are drawn)."""
    return nonames.scan(text) if text else []


def _int(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _value(data: dict[str, Any], multi: bool) -> str | list[str] | None:
    """The answer an Action.Submit carries: a choice, a date, or a multi-select's values
    (an Adaptive Card sends those comma-separated)."""
    raw = data.get(verbs.IN_ANSWER)
    if raw is None or raw == "":
        return None
    if isinstance(raw, list):
        return [str(v) for v in raw] or None
    if multi:
        return [v for v in str(raw).split(",") if v] or None
    return str(raw)
