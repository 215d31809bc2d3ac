"""tests/adaptive.py passes what Teams draws and fails, in words, what it would refuse."""

from __future__ import annotations

import copy

import pytest

from tests.adaptive import CARD_CONTENT_TYPE, assert_valid_activity, assert_valid_card

MENTION = {"type": "mention", "text": "<at>Sam Birch</at>",  # a made-up manager
           "mentioned": {"id": "8e0c6a52-5b7e-4f3e-9a51-2f4d8c1b7a90", "name": "Sam Birch"}}


def _card() -> dict:
    """A question card as the flows send one: a multi-select, a date, submit and execute."""
    return {
        "type": "AdaptiveCard", "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Which worries apply?", "wrap": True},
            {"type": "Input.ChoiceSet", "id": "worries", "isMultiSelect": True,
             "choices": [{"title": "Neglect", "value": "neglect"},
                         {"title": "Domestic abuse", "value": "domestic_abuse"}]},
            {"type": "Input.Date", "id": "since"},
            {"type": "TextBlock", "text": "For <at>Sam Birch</at>", "wrap": True},
        ],
        "actions": [
            {"type": "Action.Submit", "title": "Next",
             "data": {"flow": "consult", "step": 3, "prompt": "worries"}},
            {"type": "Action.Execute", "title": "Approve", "verb": "approve",
             "data": {"ref": "FD-2026-000123"}},
        ],
        "msteams": {"width": "Full", "entities": [copy.deepcopy(MENTION)]},
    }


def test_a_card_teams_draws_passes() -> None:
    assert_valid_card(_card())
    card = _card()
    activity = {"type": "message", "text": "A new referral for <at>Sam Birch</at>",
                "entities": [copy.deepcopy(MENTION)],
                "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}
    assert_valid_card(card, activity)
    assert_valid_activity(activity)


def _set(path: tuple, value: object) -> dict:
    card = _card()
    node = card
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return card


@pytest.mark.parametrize(("card", "words"), [
    (_set(("body", 0, "type"), "TextBlok"),
     "body/0: 'TextBlok' is not an element or action type of Adaptive Cards 1.5"),
    (_set(("body", 0, "text"), KeyError), "body/0: 'text' is a required property"),
    (_set(("body", 1, "choices", 0, "value"), KeyError),
     "body/1/choices/0: 'value' is a required property"),
    (_set(("body", 0, "colour"), "red"), "'colour' was unexpected"),
    (_set(("actions", 1, "verb"), 3), "actions/1/verb: 3 is not of type 'string'"),
    (_set(("version",), "1.6"), "Teams draws up to 1.5"),
    (_set(("version",), KeyError), "version must be one of"),
    (_set(("body", 0, "text"), "Over to <@U0ADVISOR1>"), "markup Teams would show as typed"),
    (_set(("msteams", "entities"), []), "<at>Sam Birch</at> in the card has no mention entity"),
    (_set(("msteams", "width"), "Wide"), "msteams.width can only be 'Full'"),
    (_set(("msteams", "entities", 0, "mentioned"), {"name": "Sam Birch"}),
     "lacks mentioned.id"),
])
def test_a_card_teams_would_refuse_fails_saying_why(card: dict, words: str) -> None:
    with pytest.raises(AssertionError) as failed:
        assert_valid_card(card)
    assert words in str(failed.value)


def test_a_card_too_big_for_teams_fails() -> None:
    card = _card()
    # 300 answers of 80 characters: about 30 KB once wrapped as TextBlocks.
    card["body"] += [{"type": "TextBlock", "text": "x" * 80, "wrap": True}] * 300
    with pytest.raises(AssertionError, match="Teams refuses more than"):
        assert_valid_card(card)


def test_an_activity_is_measured_whole() -> None:
    card = _card()
    card["body"] += [{"type": "TextBlock", "text": "x" * 80, "wrap": True}] * 100  # ~10 KB
    assert_valid_card(card)
    activity = {"type": "message", "text": "y" * 20_000,
                "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}
    with pytest.raises(AssertionError, match="Teams refuses more than"):
        assert_valid_card(card, activity)
    with pytest.raises(AssertionError, match="Teams refuses more than"):
        assert_valid_activity(activity)


def test_an_activity_checks_each_card_and_its_own_mentions() -> None:
    bad = _set(("body", 0, "text"), KeyError)
    activity = {"type": "message", "text": "For <at>Sam Birch</at>",
                "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": _card()},
                                {"contentType": CARD_CONTENT_TYPE, "content": bad}]}
    with pytest.raises(AssertionError) as failed:
        assert_valid_activity(activity)
    text = str(failed.value)
    assert "attachment 1: body/0: 'text' is a required property" in text
    assert "attachment 0" not in text
    assert "<at>Sam Birch</at> in the activity's text has no mention entity" in text
