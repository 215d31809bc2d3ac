"""SCENARIOS.md through the real Bolt app: the words the professional and the manager read.

The rules-level tests (tests/test_flows_rules.py) show what is suggested; these show
that the headline, the reasons and what the referrer is told agree, where a person
reads them (the DM and the card), and that no raw key or file name reaches them.
"""

from __future__ import annotations

import json
from typing import Any

from bot.handlers.slack.blocks import ids
from tests.slackenv import HEALTH, MANAGER, TEACHER, SlackEnv, slack_env
from tests.test_blocks import all_text
from tests.test_slack_app import TUESDAY, _card, play

# Scenario 11: an open CAF, new worries below the statutory threshold, consent given.
OPEN_CAF = {
    "ref_type": "concern",
    "categories": ["school"],
    "level": "early_help",
    "eha": "done",
    "open_caf": "yes",
    "consent": "given",
}


def _read(messages: list[dict[str, Any]]) -> str:
    """Everything a person reads in these messages, as one text."""
    return "\n".join(all_text({"blocks": m.get("blocks") or []}) for m in messages)


async def _refer_with(env: SlackEnv, answers: dict[str, object]) -> str:
    """Play /refer with ``answers``; returns the thank-you message's text."""
    await env.sender.slash_command(HEALTH, "/refer", channel_id=env.dm_id(HEALTH))
    await env.fake.wait_for("chat.postMessage")
    await play(env, HEALTH, answers)
    return _read(env.dm(HEALTH)[-1:])


async def test_scenario_11_open_caf_headline_reason_and_referrer_agree(
    db_file: str,  # noqa: F811 (the fixture from test_slack_app)
) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        thanks = await _refer_with(env, OPEN_CAF)
        # The headline, the reason and what happens next all say: continue the CAF.
        assert "Suggested (not a decision):* Continue the open CAF and strengthen the family " \
            "plan" in thanks, thanks
        assert "link to the existing CAF episode" in thanks
        assert "Start an Early Help Assessment" not in thanks
        card = _card(db_file)
        assert card.suggested_rating == "green"
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_APPROVE)
        await env.fake.wait_for("chat.update",
            predicate=lambda c: c.args.get("ts") == env.posted(card)[1])
        await env.drain()
        told = _read(env.dm(HEALTH)[-1:])
        assert card.reference in told and "Rating:" in told, told
        assert "The child's open CAF continues: no new assessment is started" in told, told
        assert "lead professional" in told
        assert "early help team will contact the family" not in told
        assert "Start an Early Help Assessment" not in json.dumps(env.dm(HEALTH))


async def test_cards_show_answers_in_words_never_keys(db_file: str) -> None:  # noqa: F811
    """The manager's card shows the words the professional chose, not stored keys."""
    async with slack_env(db_file, start=TUESDAY) as env:
        await _refer_with(env, {
            "ref_type": "concern",
            "categories": ["school", "housing_financial"],
            "level": "early_help",
            "eha": "unknown",
            "open_caf": "dont_know",
            "consent": "given",
        })
        card = _card(db_file)
        shown = _read([env.fake.message(*env.posted(card)) or {}])
        assert "School attendance / behaviour" in shown and "Housing / financial" in shown, shown
        assert "*Age band*\nUnborn" in shown, shown
        assert "*Open CAF or early help plan*\nDon't know" in shown, shown
        assert "*Early Help Assessment offered or done*\nDon't know" in shown, shown
        for raw in ("housing financial", "Dont know", "Unknown", "school", "unborn"):
            assert raw not in shown, raw
        # The consultation card, for a professional who wants advice about a CAF.
        await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        await env.fake.wait_for("chat.postMessage", predicate=lambda c: c.args.get(
            "channel") == env.dm_id(TEACHER))
        await play(env, TEACHER, {"want": "eha", "categories": ["school"], "level": "early_help",
                                  "consent": "given", "open_caf": "no"})
        duty = env.policy.channel("consultation_duty")
        consult_card = _read(env.fake.history(duty)[-1:])
        assert "Advice on whether to start an Early Help Assessment (CAF)" in consult_card
        assert "School attendance / behaviour" in consult_card
        assert "Eha" not in consult_card and "Source: NOTES" not in consult_card
