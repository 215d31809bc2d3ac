"""Listeners for the guided flows: /consult, /refer, typed answers in the DM, question buttons.

Thin: parse the request, call ``FlowService``, and let ``GuidedMessaging`` queue what
the professional sees, inside the flow's own transaction. A refused answer's
findings go straight back to that professional as an ephemeral note and are
never queued, stored or logged.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.flows.drive import Duplicate, drive
from bot.flows.guided.models import Status, Step
from bot.flows.guided.service import Conflict, Effects
from bot.handlers.slack.blocks import flow as flow_blocks
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.common import (
    After,
    Outcome,
    on_action,
    services,
    settled,
    shielded,
    tell,
    told,
    who,
)
from bot.handlers.slack.consultations import record_asker
from bot.services import Services
from store.tx import Tx

KINDS = {"/consult": "consult", "/refer": "refer"}
_QUESTION_BLOCK = re.compile(rf"^{ids.QUESTION_BLOCK_PREFIX}:(\d+):(.+)$")



def register(app: AsyncApp) -> None:
    """Register the flow listeners on ``app``."""
    on_action(app, ids.NONAMES_ORDINARY, ordinary_word)
    on_action(app, ids.NONAMES_REPHRASE, rephrase)
    # Answer buttons are ``flow.answer:0``, ``flow.answer:1``... (Slack refuses two
    # elements with one action_id in a block); the select is plain ``flow.answer``.
    # Registered first, then typed answers: Bolt tries listeners in order, and these are
    # most of the requests.
    on_action(app, flow_blocks.ANSWER_ACTION_RE, clicked)
    app.event("message")(dm_message)
    for action_id in (ids.FLOW_MULTI_DONE, ids.FLOW_DATE, ids.FLOW_SKIP, ids.FLOW_BACK,
                      ids.FLOW_CANCEL):
        on_action(app, action_id, clicked)
    app.command("/consult")(start_flow)
    app.command("/refer")(start_flow)
    app.action(ids.FLOW_MULTI)(multi_changed)


async def commit(
    sv: Services,
    user: str,
    action: Callable[[Tx, Effects], Step],
    *,
    channel: str | None,
    nonce: str,
    event_id: str | None = None,
    typed: str | None = None,
) -> tuple[Step | None, After]:
    """Run one flow action in one transaction with the messages it queues, committed
    when this returns; then (after Slack's ack, for a click) send the professional's DM
    and tell them privately what only they may see."""

    # A redelivered event (another process, or Slack's retry) waits for the first
    # delivery's transaction and is dropped, before it reads the flow.
    sent: Tx | None = None
    try:
        step, applied, sent = await drive(sv, user, action, once=event_id,
                                          lease=sv.sender.claim_lease())
    except Duplicate:
        return None, _nothing
    except Conflict:  # another action for this person came first: nothing applied
        step, applied = await sv.flows.areread(user), False

    async def after() -> None:
        if sent is not None:
            await sv.sender.dispatch(sent)
        if applied and step.status == Status.COMPLETED and step.consultation_id:
            await record_asker(sv, step.consultation_id, user)
        if step.status == Status.REFUSED:
            msg = flow_blocks.refused_message(step)
            await tell(sv, user, channel, msg["text"], msg.get("blocks"))
        elif step.status == Status.CONFIRM:
            # Asked privately; the answer travels only in the button, never stored by us.
            msg = flow_blocks.ask_message(step, _carry(step, typed or ""))
            await tell(sv, user, channel, msg["text"], msg.get("blocks"))
        elif not applied and step.message:
            # Nothing changed (a second click, a flow already running): say so
            # privately, and show the current question again so the professional
            # can carry on.
            await tell(sv, user, channel, step.message)
            await ask_again(sv, user, step, nonce)

    return step, after


async def ask_again(sv: Services, user: str, step: Step, nonce: str) -> None:
    """Post the current question again in the professional's DM."""
    if step.status == Status.ASKING and step.prompt is not None:
        _, again = await sv.tx.run(lambda tx: sv.guided_messaging.ask_again(
            tx, user, step, f"flow:{step.flow_id}:v{step.version}:again:{nonce}",
        ), lease=sv.sender.claim_lease())
        await sv.sender.dispatch(again)


async def ordinary_word(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """"It's an ordinary word here": answer again with those words confirmed."""
    user, channel, _ = who(body)
    carried = _uncarry(str(action.get("value") or ""))
    if carried is None:
        return told(sv, user, channel, "That button no longer works: please type your "
                    "answer again.")
    text, words = carried["t"], frozenset(carried["w"])
    # Committed before the ack, like any answer; the next question after it.
    _, after = await commit(
        sv, user,
        lambda tx, effects: sv.flows.answer_in(
            tx, user, text, effects, expect=carried["q"], expect_flow=carried["f"],
            confirmed=words,
        ),
        channel=channel, nonce=str(body.get("trigger_id")), typed=text,
    )
    return after


async def rephrase(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """"It could: I'll rephrase": nothing stored; the choice audited; ask again."""
    user, channel, flow_id = who(body, action)
    step, _ = await sv.tx.run(lambda tx: sv.flows.rephrase_in(tx, user, flow_id or None))

    async def after() -> None:
        await tell(sv, user, channel, "Thank you. Please type your answer again without "
                   "it: nothing of it was saved.")
        await ask_again(sv, user, step, f"rephrase:{body.get('trigger_id')}")

    return after


async def clicked(sv: Services, body: dict[str, Any], action: dict[str, Any]) -> Outcome:
    """A question's button, select or date; *Back*; *Cancel*."""
    user, channel, _ = who(body)
    expect_flow, expect = _expected(action.get("block_id", ""))
    aid = action["action_id"]
    nonce = f"{body.get('trigger_id')}"
    # A Back or Cancel on an earlier flow's message: the service refuses it, in the
    # same transaction, and ``commit`` says so privately.
    if aid == ids.FLOW_BACK:
        fn = lambda tx, effects: sv.flows.back_in(  # noqa: E731
            tx, user, effects, expect_flow=expect_flow)
    elif aid == ids.FLOW_CANCEL:
        fn = lambda tx, effects: sv.flows.cancel_in(  # noqa: E731
            tx, user, effects, expect_flow=expect_flow)
    else:
        value = _value(body, action)
        if value is None:
            return told(sv, user, channel, "Please choose an answer first.")
        fn = lambda tx, effects: sv.flows.answer_in(  # noqa: E731
            tx, user, value, effects, expect=expect, expect_flow=expect_flow
        )
    # The answer is committed before Slack hears the ack; the next question after.
    _, after = await commit(sv, user, fn, channel=channel, nonce=nonce)
    return after


async def dm_message(ack: AsyncAck, body: dict[str, Any], event: dict[str, Any],
                     context: AsyncBoltContext) -> None:
    """A typed answer in the professional's DM with the bot."""
    user, text = event.get("user"), event.get("text") or ""
    if (event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id")
            or not user):
        await ack()
        return
    sv = services(context)
    # Committed before Slack hears back, as a click is: a crash first means Slack sends
    # the event again (taken once by its event_id), never a typed answer lost.

    async def typed() -> After:
        _, after = await commit(
            sv, user, lambda tx, effects: sv.flows.answer_in(tx, user, text, effects),
            channel=event.get("channel"),
            nonce=str(body.get("event_id") or event.get("ts")),
            event_id=body.get("event_id"), typed=text,
        )
        return after

    outcome = await settled(sv, ack, body, typed(), "typed_answer")
    if callable(outcome):
        await shielded(sv, body, outcome(), "typed_answer")


async def start_flow(ack: AsyncAck, command: dict[str, Any], body: dict[str, Any],
                     context: AsyncBoltContext) -> None:
    """``/consult`` or ``/refer``: the flow starts in the DM."""
    sv = services(context)
    kind = KINDS[command["command"]]
    user = command["user_id"]
    in_dm = str(command.get("channel_id", "")).startswith("D")
    nonce = command.get("trigger_id") or command.get("command_ts") or ""

    async def begin() -> Outcome:
        _, after = await commit(
            sv, user, lambda tx, effects: sv.flows.start_in(tx, user, kind, effects),
            channel=None, nonce=nonce)
        return after

    async def answer() -> None:
        if in_dm:
            await ack()
        else:
            await ack("I've started this in our direct messages: look for Front Door.")

    # The flow is started (committed) before Slack hears the ack.
    after = await settled(sv, answer, body, begin(), "start_flow")
    if callable(after):
        await shielded(sv, body, after(), "start_flow")


async def multi_changed(ack: AsyncAck) -> None:
    """Choosing options only changes the select's state; "Next" submits them."""
    await ack()


_VALUE_LIMIT = 2000  # Slack's limit on a button's value


def _carry(step: Step, text: str) -> str | None:
    """The ordinary-word button's value: the flow, the question, the words and the answer,
    compressed when long; None when it cannot fit (the professional can only rephrase)."""
    if step.prompt is None or step.flow_id is None:
        return None
    words = sorted({f.word.casefold() for f in step.findings if f.confirm and f.word})
    raw = json.dumps({"f": step.flow_id, "q": step.prompt.id, "w": words, "t": text},
                     separators=(",", ":"), ensure_ascii=False)
    if len(raw) <= _VALUE_LIMIT:
        return raw
    packed = "z" + base64.urlsafe_b64encode(zlib.compress(raw.encode("utf-8"), 9)).decode()
    return packed if len(packed) <= _VALUE_LIMIT else None


def _uncarry(value: str) -> dict[str, Any] | None:
    """Read a :func:`_carry` value back; None for anything malformed."""
    try:
        if value.startswith("z"):
            value = zlib.decompress(base64.urlsafe_b64decode(value[1:])).decode("utf-8")
        data = json.loads(value)
        ok = (isinstance(data, dict) and isinstance(data.get("f"), int)
              and isinstance(data.get("q"), str) and isinstance(data.get("t"), str)
              and isinstance(data.get("w"), list)
              and all(isinstance(w, str) for w in data["w"]))
    except (ValueError, zlib.error, UnicodeDecodeError):
        return None
    return data if ok else None


async def _nothing() -> None:
    """Nothing to do after the ack (a duplicate event)."""


def _expected(block_id: str) -> tuple[int | None, str | None]:
    """The flow and question a button belongs to, from its ``q:{flow}:{question}`` block."""
    m = _QUESTION_BLOCK.match(block_id or "")
    return (int(m.group(1)), m.group(2)) if m else (None, None)


def _value(body: dict[str, Any], action: dict[str, Any]) -> str | list[str] | None:
    """The answer an action carries (button value, select, date, or the multi-select state)."""
    aid = action["action_id"]
    if aid == ids.FLOW_SKIP:
        return ""
    if aid == ids.FLOW_DATE:
        return action.get("selected_date")
    if aid == ids.FLOW_MULTI_DONE:
        values = ((body.get("state") or {}).get("values") or {})
        for actions in values.values():
            sel = (actions.get(ids.FLOW_MULTI) or {}).get("selected_options")
            if sel is not None:
                return [o["value"] for o in sel] or None
        return None
    if action.get("selected_option"):
        return str(action["selected_option"]["value"])
    return action.get("value")
