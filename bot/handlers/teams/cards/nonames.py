"""The no-names refusal and the "could this identify the child?" question, for Teams.

Slack shows them privately (ephemeral) and may quote what it found. A Teams chat is kept
under the council's retention and has no private message, so here neither ever quotes
the found text: it names the kind and where it is ("a name in your second sentence,
word 1"), from :class:`bot.nonames.Finding` offsets. The ordinary-word button does not
carry the answer either (Slack's does): the listener holds it under ``pending``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import wording
from bot.flows.guided.models import Step
from bot.handlers.teams.cards import ac, verbs
from bot.nonames import KIND_LABELS, Finding

ASK_REPHRASE = "It could: I'll rephrase"
ASK_ORDINARY = "It's an ordinary word here"
_MAX_LISTED = 20


def places(text: str, findings: Sequence[Finding]) -> list[str]:
    """Each finding's kind and place, once each, in order."""
    out: list[str] = []
    for f in findings[:_MAX_LISTED]:
        line = wording.finding_place(text, f.start, KIND_LABELS.get(f.kind, "a detail"))
        if line not in out:
            out.append(line)
    return out


def refusal(text: str, findings: Sequence[Finding], question: str | None = None,
            errors: Sequence[str] = ()) -> dict[str, Any]:
    """An answer that was not accepted: what kind of detail, and where; never the detail.

    ``text`` is what was typed (only offsets are read from it); ``errors``: validation
    problems in our own words; ``question``: the question, asked again.
    """
    certain = [f for f in findings if not f.confirm] or list(findings)
    body: list[ac.Element] = []
    if certain:
        body.append(ac.text("⛔ I couldn't accept that answer because it contains details "
                            "that could identify a child:"))
        body.append(ac.text(ac.bullets(places(text, certain))))
        body.append(ac.text(wording.NO_NAMES_HELP))
        body.append(ac.text(wording.NOT_SAVED, subtle=True))
    if errors:
        body.append(ac.text("I couldn't accept that answer:"))
        body.append(ac.text(ac.bullets(ac.clip(e, 500) for e in errors[:_MAX_LISTED])))
    if not body:
        body.append(ac.text("I couldn't accept that answer. Please try again."))
    if question:
        body.append(ac.text(f"The question again: **{ac.clip(question, 2900)}**", subtle=True))
    said = "I couldn't accept that answer"
    return ac.card_activity(ac.card(body, fallback=said), said)


def name_question(text: str, findings: Sequence[Finding], step: Step,
                  pending: str | None) -> dict[str, Any]:
    """Could the uncertain words identify the child? Where they are, never what they are.

    ``pending``: the listener's key for the answer it holds meanwhile (None: the answer
    cannot be kept, so only rephrasing is offered).
    """
    unsure = [f for f in findings if f.confirm] or list(findings)
    where = places(text, [Finding(f.start, f.end, "name", True) for f in unsure][:5])
    body: list[ac.Element] = [
        ac.text("❔ Could these words in your answer identify the child or family? Names, "
                "nicknames and initials all count."),
        ac.text(ac.bullets(w.replace("a name", "a word that may be a name", 1) for w in where)),
        ac.text("Your answer has not been saved or shared with anyone.", subtle=True),
    ]
    data = {verbs.FLOW: step.flow_id, verbs.VERSION: step.version}
    actions = [ac.submit(ASK_REPHRASE, {verbs.ACTION: verbs.NONAMES_REPHRASE, **data},
                         inputs=False)]
    if pending is not None:
        actions.append(ac.submit(ASK_ORDINARY, {verbs.ACTION: verbs.NONAMES_ORDINARY,
                                                verbs.PENDING: pending, **data}, inputs=False))
    said = "Could a word in your answer identify the child?"
    return ac.card_activity(ac.card(body, actions, fallback=said), said)
