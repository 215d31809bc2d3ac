"""Answered flow questions, through the real Bolt app: once the flow moves on, the question
message is redrawn (chat.update through the outbox) without its buttons, showing the
answer given."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.flows.guided.models import Status
from bot.handlers.slack.blocks import ids
from tests.slackenv import TEACHER, SlackEnv, slack_env
from tests.test_slack_app import TUESDAY, play

DANGER = "Is a child in immediate danger right now?"


def _asking(msg: dict[str, Any]) -> bool:
    return any(str(b.get("block_id", "")).startswith(f"{ids.QUESTION_BLOCK_PREFIX}:")
               for b in msg.get("blocks") or [])


def _question(env: SlackEnv, text: str) -> dict[str, Any]:
    return next(m for m in env.dm(TEACHER) if text in json.dumps(m.get("blocks")))


async def _consult(env: SlackEnv) -> None:
    await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
    await env.fake.wait_for("chat.postMessage")


async def _cancel_first(env: SlackEnv) -> tuple[dict[str, Any], dict[str, Any]]:
    """/consult, then *Cancel* on its first question: that message and its buttons' block,
    once the message is redrawn."""
    await _consult(env)
    await env.drain()
    first = env.last_question(TEACHER)
    assert first is not None and DANGER in json.dumps(first["blocks"])
    block = next(b for b in first["blocks"] if b.get("type") == "actions")
    await env.sender.block_action(TEACHER, ids.FLOW_CANCEL, block_id=block["block_id"],
                                  channel_id=env.dm_id(TEACHER), message=first)
    await env.fake.wait_for("chat.update", predicate=lambda c: c.args.get("ts") == first["ts"])
    await env.drain()
    return first, block


async def test_answered_questions_lose_their_buttons_and_show_the_answer(
    db_url: str,
) -> None:
    async with slack_env(db_url, start=TUESDAY) as env:
        await _consult(env)
        seen = await play(env, TEACHER)
        assert len(seen) >= 10, seen
        # Every question the professional answered was redrawn: none still has buttons.
        assert [m.get("text") for m in env.dm(TEACHER) if _asking(m)] == []
        updates = [c for c in env.fake.calls_to("chat.update")
                   if c.ok and c.args.get("channel") == env.dm_id(TEACHER)]
        assert len(updates) == len(seen), len(updates)
        danger = json.dumps(_question(env, DANGER)["blocks"])
        assert "Your answer: No" in danger
        assert "Type your answer" not in json.dumps(env.dm(TEACHER))
        # A typed answer is not repeated: it is the professional's own message below.
        assert "Answered: your message below." in json.dumps(env.dm(TEACHER))


async def test_a_cancelled_question_says_no_answer_was_given(
    db_url: str,
) -> None:
    async with slack_env(db_url, start=TUESDAY) as env:
        first, _ = await _cancel_first(env)
        now = env.fake.message(env.dm_id(TEACHER), first["ts"])
        assert now is not None and not _asking(now)
        assert "No answer was given to this question." in json.dumps(now["blocks"])


async def test_back_or_cancel_on_an_earlier_conversation_changes_nothing(
    db_url: str,
) -> None:
    async with slack_env(db_url, start=TUESDAY) as env:
        first, block = await _cancel_first(env)
        await _consult(env)  # a new conversation
        await env.drain()
        now = env.last_question(TEACHER)
        assert now is not None and now["ts"] != first["ts"]
        posted = len(env.dm(TEACHER))
        # The first conversation's Back and Cancel, clicked again: refused, privately.
        for n, aid in enumerate((ids.FLOW_BACK, ids.FLOW_CANCEL), start=1):
            await env.sender.block_action(TEACHER, aid, block_id=block["block_id"],
                                          channel_id=env.dm_id(TEACHER), message=first)
            await env.fake.wait_for("chat.postEphemeral", count=n, predicate=lambda c: (
                c.args.get("text") == "That message belongs to an earlier conversation: "
                "nothing was changed."))
        await env.drain()
        assert len(env.dm(TEACHER)) == posted, "nothing posted, the question not asked again"
        current = await asyncio.to_thread(env.bot.sv.flows.current, TEACHER)
        old_flow = int(block["block_id"].split(":")[1])  # its ``q:{flow}:{question}``
        assert current.status is Status.ASKING and current.flow_id != old_flow
        assert current.prompt is not None and current.prompt.id == "danger"

