"""How complete a referral is, against the good-referral questions.

The items are Cambridgeshire's "What makes a good referral" and "What a good
contact referral looks like", as listed in DESIGN.md section 3. An item
counts when it was answered *substantively*: "not known", "n/a" or a blank
does not count, so the gap is shown to the referrer and to the manager.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.flows.guided.scripts import OLDER

Answers = Mapping[str, Any]

# Answers that say nothing (lower-cased, trailing full stop removed).
_EMPTY = frozenset(
    {
        "",
        "-",
        "--",
        "n/a",
        "na",
        "none",
        "nothing",
        "no",
        "not known",
        "unknown",
        "don't know",
        "dont know",
        "do not know",
        "not sure",
        "?",
        "tbc",
        "not applicable",
    }
)


def substantive(value: Any) -> bool:
    """Whether a free-text answer says something."""
    return isinstance(value, str) and value.strip().lower().rstrip(".") not in _EMPTY


@dataclass(frozen=True)
class Item:
    """One good-referral item: what is missing when it is not answered."""

    id: str
    label: str
    done: Callable[[Answers], bool]
    applies: Callable[[Answers], bool] = lambda _a: True


def _text(qid: str) -> Callable[[Answers], bool]:
    return lambda a: substantive(a.get(qid))


def _consent_done(a: Answers) -> bool:
    consent = a.get("consent")
    if consent == "given":
        return True
    return consent in ("refused", "not_sought", "unsafe") and substantive(a.get("consent_reason"))


ITEMS: tuple[Item, ...] = (
    Item("worried", "what you are worried about", _text("worried")),
    Item("risks", "the risks to the child and why", _text("risks")),
    Item("why_now", "what has prompted this now", _text("why_now")),
    Item("tried", "what has been tried so far", _text("tried")),
    Item(
        "eha",
        "whether an Early Help Assessment was offered or done",
        lambda a: a.get("eha") in ("done", "offered", "not_offered", "not_appropriate"),
    ),
    Item(
        "parents_aware",
        "whether the parents are aware",
        lambda a: a.get("parents_aware") in ("yes", "no"),
    ),
    Item("consent", "the consent status, with the reason if not given", _consent_done),
    Item("child_voice", "the voice of the child", _text("child_voice")),
    Item(
        "gillick",
        "whether the young person has been spoken to (Gillick competence)",
        lambda a: a.get("gillick") in ("yes", "not_appropriate"),
        applies=lambda a: a.get("age_band") in OLDER,
    ),
    Item("parent_voice", "the voice of the parents or carers", _text("parent_voice")),
    Item("referrer_done", "what you have done", _text("referrer_done")),
    Item("support_needed", "what support the family needs", _text("support_needed")),
)


def completeness(answers: Answers) -> tuple[int, list[str]]:
    """Percent of applicable good-referral items answered, and the missing ones' labels."""
    applicable = [i for i in ITEMS if i.applies(answers)]
    gaps = [i.label for i in applicable if not i.done(answers)]
    percent = round(100 * (len(applicable) - len(gaps)) / len(applicable))
    return percent, gaps
