"""The words a professional reads at the ends of a flow: the consultation's thank-you, a
cancelled flow, a refused answer. Each thing is said once, where it reads right.

Through the real Bolt app (signed requests, the fake Web API, a real SQLite file)."""

from __future__ import annotations

from bot.handlers.slack.blocks import ids
from tests.slackenv import TEACHER, SlackEnv, slack_env
from tests.test_blocks import all_text
from tests.test_slack_app import TUESDAY, play, to_first_text_question


async def test_the_consultation_thank_you_says_not_a_decision_before_the_suggestion(
    db_file: str,  # noqa: F811
) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        await env.fake.wait_for("chat.postMessage")
        await play(env, TEACHER)
        done = env.dm(TEACHER)[-1]
        words = all_text(done)
        assert "Thank you" in words, words
        said = words.index("The suggestion below is not a decision")
        assert said < words.index("*Suggested (not a decision):*"), words
        assert words.count("will reply") == 1, words


async def _refused(env: SlackEnv, text: str) -> str:
    """Type ``text`` as the answer to the first typed question; the private reply's words."""
    await to_first_text_question(env, TEACHER)
    before = len(env.fake.ephemerals_for(TEACHER))
    await env.sender.message_im(TEACHER, env.dm_id(TEACHER), text)
    await env.fake.wait_for("chat.postEphemeral", count=before + 1)
    return all_text(env.fake.ephemerals_for(TEACHER)[-1])


async def test_a_refused_answer_says_each_thing_once(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        words = await _refused(env, "Harriet Pemberton-Quayle, NHS number 943 476 5919, is "
                                    "often hungry.")
        assert "could identify a child" in words, words
        assert words.count("could identify") == 1, words
        assert words.count("saved") == 1, words


async def test_a_too_long_answer_is_refused_in_one_line(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        words = await _refused(env, "The family needs more help at home. " * 70)
        assert words.count("Please keep it under 2000 characters.") == 1, words


async def test_a_cancelled_flow_says_cancelled_once(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        q = await to_first_text_question(env, TEACHER)
        before = len(env.dm(TEACHER))
        await env.click_card(TEACHER, env.dm_id(TEACHER), q["ts"], ids.FLOW_CANCEL)
        await env.fake.wait_for(
            "chat.postMessage", count=before + 1,
            predicate=lambda c: c.args.get("channel") == env.dm_id(TEACHER))
        await env.drain()
        words = all_text(env.dm(TEACHER)[-1])
        assert words.lower().count("cancelled") == 1, words
        assert words.lower().count("nothing") == 1, words
        assert "answers were deleted" in words and "/consult" in words
