"""What every Teams dialog (task module) shares: its two answers (show a form, or close
with words) and the no-names screen of its free text.

The screen runs ``bot.flows.guided.validate.guard`` as Slack's modals do: anything certainly
identifying, or a word that may be a name, becomes an error shown in the dialog (its kind
and where it is, never the words), so nothing of it reaches the chat, the database or a
log; a word that may be a name passes once the person ticks "it's an ordinary word here".
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot import nonames
from bot.flows.guided.validate import guard
from bot.handlers.teams.cards import ac, verbs
from bot.handlers.teams.cards.nonames import places
from bot.services import Services

NO_NAMES = ("Please rewrite it without names, dates of birth, addresses, postcodes, phone "
            "numbers, e-mail addresses, NHS/NI numbers or a named school.")


def continue_with(title: str, card: dict[str, Any]) -> dict[str, Any]:
    """A task response showing ``card`` in the dialog."""
    return {"task": {"type": "continue", "value": {
        "title": title, "width": "medium", "height": "medium",
        "card": {"contentType": ac.CONTENT_TYPE, "content": card}}}}


def message(words: str) -> dict[str, Any]:
    """A task response closing the dialog with ``words`` (to that person only)."""
    return {"task": {"type": "message", "value": words}}


def form(title: str, body: list[ac.Element], errors: list[str], action: str,
         data: dict[str, Any], save: str = "Save") -> dict[str, Any]:
    """A dialog's card: ``errors`` first (our words), then the inputs, then the button
    that sends them back with ``data`` (which says what the form is about)."""
    shown = [ac.text(f"**{ac.clip(title, 150)}**")]
    shown += [ac.text(e, color="Attention") for e in errors]
    return ac.card(shown + body, [ac.submit(save, {verbs.ACTION: action, **data})])


def typed_input(label: str, value: str, *, required: bool = True) -> ac.Element:
    """The dialog's free text (kept as typed on a second showing: in the dialog only)."""
    el: ac.Element = {"type": "Input.Text", "id": verbs.IN_TEXT, "label": label,
                      "isMultiline": True, "maxLength": 3000, "value": value}
    if required:
        el["isRequired"] = True
        el["errorMessage"] = "Please fill this in."
    return el


def ordinary_toggle() -> ac.Element:
    """"It's an ordinary word here": shown when a word may be a name."""
    return {"type": "Input.Toggle", "id": verbs.IN_ORDINARY, "value": "false",
            "title": "It's an ordinary word here, not a name"}


def screen(typed: str, data: dict[str, Any]) -> tuple[str, bool] | None:
    """The no-names error for ``typed`` and whether to offer "an ordinary word"; None: it
    may be kept (words the person ticked as ordinary pass)."""
    confirmed = unsure_words(typed) if ticked(data) else frozenset()
    found = guard(typed, confirmed)
    if not found:
        return None
    certain = not found[0].confirm
    where = places(typed, [f for f in nonames.scan(typed)
                           if f.confirm != certain and not _confirmed(typed, f, confirmed)])
    lead = ("This could identify a child: " if certain else
            "A word here may be a name; could it identify the child or family? ")
    return lead + "; ".join(where) + ". " + NO_NAMES, not certain


def ticked(data: dict[str, Any]) -> bool:
    """Whether the "ordinary word" box was ticked."""
    return data.get(verbs.IN_ORDINARY) == "true"


async def audit_ordinary(sv: Services, user: str, typed: str, data: dict[str, Any],
                         subject_type: str, subject_id: int | None) -> None:
    """The choice "an ordinary word" is audited (never the words)."""
    if ticked(data) and unsure_words(typed):
        await sv.tx.run(lambda tx: tx.audit(
            actor=user, action="nonames.ordinary_word", subject_type=subject_type,
            subject_id=subject_id))


def unsure_words(text: str) -> frozenset[str]:
    """The words the guard is unsure of in ``text`` (casefolded)."""
    return frozenset(" ".join(text[f.start:f.end].split()).casefold()
                     for f in nonames.scan(text) if f.confirm)


def _confirmed(text: str, f: nonames.Finding, confirmed: frozenset[str]) -> bool:
    return " ".join(text[f.start:f.end].split()).casefold() in confirmed


def date_of(raw: Any) -> date | None:
    """A date input's value ("2026-12-21"), else None."""
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def number(raw: Any) -> int | None:
    """An id from a card's data ("12", 12), else None."""
    text = str(raw).partition(":")[0] if raw is not None else ""
    return int(text) if text.isdigit() else None
