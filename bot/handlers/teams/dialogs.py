"""Dialogs (task modules) for the cards' typed decisions: change a triage card's rating,
ask the referrer for more information, close the card (managers); give advice on a
consultation (duty advisors).

``task/fetch`` opens the form; ``task/submit`` checks it and acts. The free text passes
the no-names guard first, in both tiers, as Slack's modals do: anything certainly
identifying, or a word that may be a name, is shown as an error in the dialog (its kind
and where it is), so nothing of it reaches the chat, the database or a log; a word that
may be a name is accepted once the manager ticks "it's an ordinary word here" (the choice
is audited, never the text). The role is checked before anything is looked up.
The decision is committed, with the activity's once-key, before the invoke is answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot import nonames
from bot.flows.triage import CLOSE_REASONS
from bot.flows.validate import guard
from bot.handlers.teams import drawing, people
from bot.handlers.teams.actions import REFUSED, decide, load_card, load_consultation
from bot.handlers.teams.cards import verbs
from bot.labels import ADVICE_OUTCOMES, OUTCOME_LABELS, rating_name
from bot.policy import RATINGS
from bot.services import Services
from store.models import Consultation, TriageCard

ADVISORS_ONLY = "Only duty advisors can answer consultations."
# action -> (the dialog's title, what a refusal says they may not do, the audited name)
FORMS = {
    verbs.CARD_CHANGE: ("Change rating", "change a rating", "change"),
    verbs.CARD_REQUEST_INFO: ("Request more information", "ask for more information",
                            "request_info"),
    verbs.CARD_CLOSE: ("Close the card", "close cards", "close"),
    verbs.CONSULT_ADVISE: ("Give advice", "", "advise"),
    verbs.ADVICE_NOT_FOLLOWED: ("Not following the advice", "", "respond"),
}
PROFESSIONAL_ONLY = "Only the professional who asked can answer."
DONE = {verbs.CONSULT_ADVISE: "Done: the advice is on its way.",
        verbs.ADVICE_NOT_FOLLOWED: "Thank you: that is recorded in the consultation log."}
DONE.update(dict.fromkeys((verbs.CARD_CHANGE, verbs.CARD_REQUEST_INFO, verbs.CARD_CLOSE),
                          "Done: the card is updated."))
Subject = TriageCard | Consultation


def continue_with(title: str, card: dict[str, Any]) -> dict[str, Any]:
    """A task response showing ``card`` in the dialog."""
    return {"task": {"type": "continue", "value": {
        "title": title, "width": "medium", "height": "medium",
        "card": {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}}}}


def message(words: str) -> dict[str, Any]:
    """A task response closing the dialog with ``words`` (to the manager only)."""
    return {"task": {"type": "message", "value": words}}


class Dialogs:
    """The card dialogs for one process."""

    def __init__(self, sv: Services, who: people.People | None = None) -> None:
        self.sv = sv
        self.who = who or people.People(sv.policy)  # the roles (teams' rosters too)

    async def fetch(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        """Open the form ``data`` asks for."""
        early = await self._check(user, data)
        if isinstance(early, dict):
            return early
        action, card = early
        return continue_with(FORMS[action][0], self._form(action, card, data, []))

    async def submit(self, user: str, data: dict[str, Any], once: str | None
                     ) -> dict[str, Any]:
        """Check the form and act; errors are shown in the dialog, nothing saved."""
        early = await self._check(user, data)
        if isinstance(early, dict):
            return early
        action, card = early
        title = FORMS[action][0]
        typed = str(data.get(verbs.IN_TEXT) or "")
        problems = self._problems(action, data, typed)
        if problems:
            return continue_with(title, self._form(action, card, data, *problems))
        if data.get(verbs.IN_ORDINARY) == "true" and _unsure_words(typed):
            await self.sv.tx.run(lambda tx: tx.audit(
                actor=user, action="nonames.ordinary_word", subject_type="card",
                subject_id=card.id))
        result = await decide(self.sv, self._action(action, card.id or 0, user, data, typed),
                              once)
        if result is None:  # delivered before
            return message("Done.")
        if not result.ok:
            return continue_with(title, self._form(action, card, data, [result.message]))
        return message(DONE[action])

    async def _check(self, user: str, data: dict[str, Any]
                     ) -> tuple[str, Subject] | dict[str, Any]:
        """(the form, its card or consultation), or the answer that ends here: not the
        role, nothing to act on."""
        action = str(data.get(verbs.ACTION) or "")
        if action not in FORMS:
            return message("That can't be done from Teams yet: nothing was changed.")
        advice = action in (verbs.CONSULT_ADVISE, verbs.ADVICE_NOT_FOLLOWED)
        raw = str(data.get(verbs.CONSULTATION if advice else verbs.CARD) or "")
        subject_id = int(raw) if raw.isdigit() else None
        if action == verbs.ADVICE_NOT_FOLLOWED:
            # The professional who asked, and nobody else: the same words whether the
            # consultation exists or not, before anything else is said.
            c = await load_consultation(self.sv, subject_id) if subject_id else None
            if c is None or await self.sv.advice.aasker(c.id or 0) != user:
                return message(PROFESSIONAL_ONLY)
            if c.status != "advised":
                return message("There is no advice to respond to yet.")
            return action, c
        if advice and not await self.who.is_advisor(user):
            await self.sv.triage.adenied(None, user, f"advise:consultation:{subject_id}")
            return message(ADVISORS_ONLY)
        if not advice and not await self.who.is_manager(user):
            await self.sv.triage.adenied(subject_id, user, FORMS[action][2])
            return message(REFUSED.format(what=FORMS[action][1]))
        if advice:
            c = await load_consultation(self.sv, subject_id) if subject_id else None
            if c is None or c.status != "open":
                return message("This consultation has already been answered.")
            return action, c
        card = await load_card(self.sv, subject_id) if subject_id else None
        if card is None or card.status == "closed":
            return message("This card is closed.")
        return action, card

    def _problems(self, action: str, data: dict[str, Any], typed: str
                  ) -> tuple[list[str], bool] | None:
        """What is wrong with the form (and whether to offer "an ordinary word"); None:
        nothing."""
        errors: list[str] = []
        if action == verbs.CARD_CHANGE and data.get(verbs.IN_RATING) not in RATINGS:
            errors.append("Choose one of the ratings offered.")
        if action == verbs.CARD_CLOSE and data.get(verbs.IN_OUTCOME) not in CLOSE_REASONS:
            errors.append("Choose one of the reasons offered.")
        if action == verbs.CONSULT_ADVISE and data.get(verbs.IN_OUTCOME) not in ADVICE_OUTCOMES:
            errors.append("Choose one of the outcomes offered.")
        if action != verbs.CARD_CLOSE and not typed.strip():  # the services say it too
            errors.append("Please fill this in.")
        confirmed = (_unsure_words(typed) if data.get(verbs.IN_ORDINARY) == "true"
                     else frozenset())
        found = guard(typed, confirmed)
        if found:
            certain = not found[0].confirm
            where = [drawing.place(typed, f) for f in nonames.scan(typed)
                     if f.confirm != certain and not _confirmed(typed, f, confirmed)]
            lead = ("This could identify a child: " if certain else
                    "A word here may be a name; could it identify the child or family? ")
            errors.append(lead + "; ".join(dict.fromkeys(where)) + ". Please rewrite it "
                          "without names, dates of birth, addresses, postcodes, phone numbers, "
                          "e-mail addresses, NHS/NI numbers or a named school.")
            return errors, not certain
        return (errors, False) if errors else None

    def _action(self, action: str, card_id: int, user: str, data: dict[str, Any],
                typed: str) -> Callable[[Any], Awaitable[Any]]:
        triage = self.sv.triage
        if action == verbs.ADVICE_NOT_FOLLOWED:
            # The first answer stands unless the form was opened to change it.
            change = bool(data.get("change"))
            return lambda effects: self.sv.advice.arespond(card_id, user, False, typed,
                                                           change=change, effects=effects)
        if action == verbs.CONSULT_ADVISE:
            outcome = str(data.get(verbs.IN_OUTCOME))
            return lambda effects: self.sv.advice.aadvise(card_id, user, outcome, typed,
                                                          effects=effects)
        if action == verbs.CARD_CHANGE:
            rating = str(data.get(verbs.IN_RATING))
            return lambda effects: triage.achange(card_id, user, rating, typed, effects=effects)
        if action == verbs.CARD_REQUEST_INFO:
            return lambda effects: triage.arequest_info(card_id, user, typed, effects=effects)
        chosen = str(data.get(verbs.IN_OUTCOME))
        reason = f"{chosen}: {typed}" if typed.strip() else chosen
        return lambda effects: triage.aclose(card_id, user, reason, effects=effects)

    def _form(self, action: str, card: Subject, data: dict[str, Any], errors: list[str],
              ordinary: bool = False) -> dict[str, Any]:
        """The dialog's card: the inputs (as typed, on a second showing), the errors."""
        policy = self.sv.policy
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": f"**{card.reference}**", "wrap": True}]
        for error in errors:
            body.append({"type": "TextBlock", "text": error, "wrap": True, "color": "attention"})
        if action == verbs.CARD_CHANGE:
            current = data.get(verbs.IN_RATING) or card.rating or card.suggested_rating
            body.append({"type": "Input.ChoiceSet", "id": verbs.IN_RATING, "label": "Rating",
                         "isRequired": True, "value": current, "choices": [
                             {"title": rating_name(policy, k), "value": k} for k in RATINGS]})
        if action == verbs.CARD_CLOSE:
            body.append({"type": "Input.ChoiceSet", "id": verbs.IN_OUTCOME, "label": "Outcome",
                         "isRequired": True, "value": data.get(verbs.IN_OUTCOME) or "",
                         "choices": [{"title": r, "value": r} for r in CLOSE_REASONS]})
        if action == verbs.CONSULT_ADVISE and isinstance(card, Consultation):
            chosen = data.get(verbs.IN_OUTCOME) or card.suggested_outcome or ""
            body.append({"type": "Input.ChoiceSet", "id": verbs.IN_OUTCOME, "label": "Outcome",
                         "isRequired": True, "value": chosen, "choices": [
                             {"title": OUTCOME_LABELS[k], "value": k} for k in ADVICE_OUTCOMES]})
        label = {verbs.CARD_CHANGE: "Why", verbs.CARD_REQUEST_INFO: "What do you need to know?",
                 verbs.CARD_CLOSE: "Anything to add (optional)",
                 verbs.CONSULT_ADVISE: "Your advice",
                 verbs.ADVICE_NOT_FOLLOWED: "What are you doing instead, and why?"}[action]
        body.append({"type": "Input.Text", "id": verbs.IN_TEXT, "label": label,
                     "isMultiline": True, "maxLength": 3000,
                     "value": str(data.get(verbs.IN_TEXT) or "")})
        if ordinary:
            body.append({"type": "Input.Toggle", "id": verbs.IN_ORDINARY, "value": "false",
                         "title": "It's an ordinary word here, not a name"})
        return {"type": "AdaptiveCard", "version": "1.5", "body": body, "actions": [
            {"type": "Action.Submit", "title": "Save", "data": {
                verbs.ACTION: action,
                verbs.CONSULTATION if isinstance(card, Consultation) else verbs.CARD: card.id}}]}




def _unsure_words(text: str) -> frozenset[str]:
    """The words the guard is unsure of in ``text`` (casefolded)."""
    return frozenset(" ".join(text[f.start:f.end].split()).casefold()
                     for f in nonames.scan(text) if f.confirm)


def _confirmed(text: str, f: nonames.Finding, confirmed: frozenset[str]) -> bool:
    return " ".join(text[f.start:f.end].split()).casefold() in confirmed
