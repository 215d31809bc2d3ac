"""What the listeners draw themselves: the private answers to one person's typed text (a
refusal, the "is this a name?" question) and the card an Action.Execute gets back.

One function per drawing, so the Adaptive Card renderer (``render.py`` and ``cards/``,
written at the same time on another branch) replaces these minimal cards by changing
this module alone: ``refusal`` and ``name_question`` become ``cards.nonames.refusal`` and
``cards.nonames.name_question``, ``triage_card`` the renderer's card for the row.

Teams keeps chats under the council's retention and has no private message: neither the
refusal nor the question ever quotes what was found; they name its kind and where it is
("a name in your second sentence").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.flows.api import Step
from bot.handlers.teams.cards import verbs
from bot.nonames import KIND_LABELS, Finding
from store.models import TriageCard

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s+|$)|\n+")


def place(text: str, finding: Finding) -> str:
    """The finding's kind and the sentence it is in, never its text: "a name in your
    second sentence" (or "in your answer" when there is one sentence)."""
    label = KIND_LABELS.get(finding.kind, "a detail")
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() < len(text.rstrip())]
    if not ends:
        return f"{label} in your answer"
    n = sum(1 for e in ends if e <= finding.start)
    which = _ORDINALS[n] if n < len(_ORDINALS) else f"number {n + 1}"
    return f"{label} in your {which} sentence"


def _places(text: str, findings: Sequence[Finding]) -> list[str]:
    out: list[str] = []
    for f in findings[:20]:
        line = place(text, f)
        if line not in out:
            out.append(line)
    return out


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None,
          fallback: str = "") -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    if fallback:
        card["fallbackText"] = fallback
    return card


def _text(words: str, **more: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": words, "wrap": True, **more}


def _activity(card: dict[str, Any], summary: str) -> dict[str, Any]:
    return {"type": "message", "text": summary, "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}


def refusal(text: str, findings: Sequence[Finding], question: str | None = None,
            errors: Sequence[str] = ()) -> dict[str, Any]:
    """An answer not accepted: the kinds of detail and where they are; never the detail."""
    certain = [f for f in findings if not f.confirm] or list(findings)
    body: list[dict[str, Any]] = []
    if certain:
        body.append(_text("I couldn't accept that answer because it contains details that "
                          "could identify a child:"))
        body.append(_text("\n".join(f"- {p}" for p in _places(text, certain))))
        body.append(_text("Please describe it again without names, dates of birth, "
                          "addresses, postcodes, phone numbers, e-mail addresses, NHS/NI "
                          "numbers or a named school. Nothing of it was saved.",
                          isSubtle=True))
    if errors:
        body.append(_text("I couldn't accept that answer:"))
        body.append(_text("\n".join(f"- {e[:500]}" for e in errors[:20])))
    if not body:
        body.append(_text("I couldn't accept that answer. Please try again."))
    if question:
        body.append(_text(f"The question again: **{question[:2900]}**", isSubtle=True))
    said = "I couldn't accept that answer"
    return _activity(_card(body, fallback=said), said)


def name_question(text: str, findings: Sequence[Finding], step: Step,
                  pending: str | None) -> dict[str, Any]:
    """Could the uncertain words identify the child? Where they are, never what they are.
    ``pending``: the key of the answer the listener holds (None: only rephrasing)."""
    unsure = [f for f in findings if f.confirm] or list(findings)
    where = [p.replace("a name", "a word that may be a name", 1) if p.startswith("a name")
             else p.replace(" in your", " that may identify them, in your", 1)
             for p in _places(text, unsure)]
    body = [
        _text("Could these words in your answer identify the child or family? Names, "
              "nicknames and initials all count."),
        _text("\n".join(f"- {w}" for w in where[:5])),
        _text("Your answer has not been saved or shared with anyone.", isSubtle=True),
    ]
    data = {verbs.FLOW: step.flow_id, verbs.VERSION: step.version}
    actions = [{"type": "Action.Submit", "title": "It could: I'll rephrase",
                "data": {verbs.ACTION: verbs.NONAMES_REPHRASE, **data}}]
    if pending is not None:
        actions.append({"type": "Action.Submit", "title": "It's an ordinary word here",
                        "data": {verbs.ACTION: verbs.NONAMES_ORDINARY, verbs.PENDING: pending,
                                 **data}})
    said = "Could a word in your answer identify the child?"
    return _activity(_card(body, actions, fallback=said), said)


def words(text: str) -> dict[str, Any]:
    """Plain words to the person."""
    return {"type": "message", "text": text}


def triage_card(card: TriageCard) -> dict[str, Any]:
    """The triage card as it now is, for an Action.Execute's answer (the renderer's full
    card replaces this minimal one)."""
    status = card.status.replace("_", " ")
    rating = card.rating or card.suggested_rating
    return _card([_text(f"**{card.reference}**", size="Large"),
                  _text(f"Rating: {rating} ({status})")],
                 fallback=f"{card.reference}: {status}")
