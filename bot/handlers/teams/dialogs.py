"""Dialogs (task modules) for the cards' typed decisions: change a triage card's rating,
ask the referrer for more information, close the card (managers); the referrer's reply;
give advice on a consultation (duty advisors); "I'm doing something else" (the
professional who asked); the CAF buttons (``cafdialogs``) and "Route to a CAF"
(``cafroute``).

``task/fetch`` opens the form; ``task/submit`` checks it and acts. Who may act is checked
first, before anything is looked up, with the same words whatever the subject; the free
text passes the no-names screen (``tasks.screen``) before anything is saved; every problem
is shown in the dialog, to that person only. The decision is committed, with the
activity's once-key, before the invoke is answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.flows.consultation.service import ALREADY_ANSWERED
from bot.flows.triage.models import CLOSE_REASONS
from bot.handlers.teams import caflog, people, tasks
from bot.handlers.teams.actions import REFUSED, decide, load_card, load_consultation
from bot.handlers.teams.cafdialogs import CafDialogs
from bot.handlers.teams.cafroute import CafRoute
from bot.handlers.teams.cards import ac, verbs
from bot.labels import ADVICE_OUTCOMES, OUTCOME_LABELS, rating_name
from bot.policy import RATINGS
from bot.services import Services
from bot.wording import CARD_CLOSE_CONFIRM
from store.models import Consultation, TriageCard

ADVISORS_ONLY = "Only duty advisors can answer consultations."
PROFESSIONAL_ONLY = "Only the professional who asked can answer."
REFERRER_ONLY = "Only the referrer can answer this request."
NOT_HERE = "That can't be done from Teams yet: nothing was changed."
# action -> (the dialog's title, what a refusal says they may not do, the audited name)
FORMS = {
    verbs.CARD_CHANGE: ("Change rating", "change a rating", "change"),
    verbs.CARD_REQUEST_INFO: ("Request more information", "ask for more information",
                              "request_info"),
    verbs.CARD_CLOSE: ("Close the card", "close cards", "close"),
    verbs.INFO_REPLY: ("Reply to the front door", "", "info_reply"),
    verbs.CONSULT_ADVISE: ("Give advice", "", "advise"),
    verbs.ADVICE_NOT_FOLLOWED: ("Not following the advice", "", "respond"),
}
_ADVICE = (verbs.CONSULT_ADVISE, verbs.ADVICE_NOT_FOLLOWED)
_MANAGERS = (verbs.CARD_CHANGE, verbs.CARD_REQUEST_INFO, verbs.CARD_CLOSE)
DONE = {verbs.CONSULT_ADVISE: "Done: the advice is on its way.",
        verbs.ADVICE_NOT_FOLLOWED: "Thank you: that is recorded in the consultation log.",
        verbs.INFO_REPLY: "Thank you: your reply is on the card for the front door."}
DONE.update(dict.fromkeys(_MANAGERS, "Done: the card is updated."))
LABELS = {verbs.CARD_CHANGE: "Why", verbs.CARD_REQUEST_INFO: "What do you need to know?",
          verbs.CARD_CLOSE: "Anything to add (optional)", verbs.CONSULT_ADVISE: "Your advice",
          verbs.ADVICE_NOT_FOLLOWED: "What are you doing instead, and why?",
          verbs.INFO_REPLY: "Your answer"}
Subject = TriageCard | Consultation


class Dialogs:
    """The card dialogs for one process."""

    def __init__(self, sv: Services, who: people.People | None = None) -> None:
        self.sv = sv
        self.who = who or people.People(sv.policy)  # the roles (teams' rosters too)
        self.caf = CafDialogs(sv, self.who)
        self.route = CafRoute(sv, self.who)
        self.log_filter = caflog.FilterDialog(sv, self.who)

    async def fetch(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        """Open the form ``data`` asks for."""
        if str(data.get(verbs.ACTION) or "") in self.caf.actions:
            return await self.caf.fetch(user, data)
        if data.get(verbs.ACTION) == verbs.CAF_ROUTE_CARD:
            return await self.route.fetch(user, data)
        if data.get(verbs.ACTION) == verbs.CAFLOG_FILTER:
            return await self.log_filter.fetch(user, data)
        early = await self._check(user, data)
        if isinstance(early, dict):
            return early
        action, card = early
        return tasks.continue_with(FORMS[action][0], self._form(action, card, data, []))

    async def submit(self, user: str, data: dict[str, Any], once: str | None
                     ) -> dict[str, Any]:
        """Check the form and act; errors are shown in the dialog, nothing saved."""
        if str(data.get(verbs.ACTION) or "") in self.caf.actions:
            return await self.caf.submit(user, data, once)
        if data.get(verbs.ACTION) == verbs.CAF_ROUTE_CARD:
            return await self.route.submit(user, data, once)
        if data.get(verbs.ACTION) == verbs.CAFLOG_FILTER:
            return await self.log_filter.submit(user, data)
        early = await self._check(user, data)
        if isinstance(early, dict):
            return early
        action, card = early
        title = FORMS[action][0]
        typed = str(data.get(verbs.IN_TEXT) or "")
        errors = self._problems(action, data, typed)
        screened = tasks.screen(typed, data)
        if errors or screened:
            if screened:
                errors.append(screened[0])
            ordinary = bool(screened and screened[1])
            return tasks.continue_with(title, self._form(action, card, data, errors, ordinary))
        subject = "consultation" if action in _ADVICE else "card"
        await tasks.audit_ordinary(self.sv, user, typed, data, subject, card.id)
        result = await decide(self.sv, self._action(action, card.id or 0, user, data, typed),
                              once)
        if result is None:  # delivered before
            return tasks.message("Done.")
        if not result.ok:
            return tasks.continue_with(title, self._form(action, card, data,
                                                         [result.message or "Not saved."]))
        return tasks.message(DONE[action])

    async def _check(self, user: str, data: dict[str, Any]
                     ) -> tuple[str, Subject] | dict[str, Any]:
        """(the form, its card or consultation), or the answer that ends here: not the
        role, nothing to act on."""
        action = str(data.get(verbs.ACTION) or "")
        if action not in FORMS:
            return tasks.message(NOT_HERE)
        advice = action in _ADVICE
        subject_id = tasks.number(data.get(verbs.CONSULTATION if advice else verbs.CARD))
        if action == verbs.ADVICE_NOT_FOLLOWED:
            # The professional who asked, and nobody else: the same words whether the
            # consultation exists or not, before anything else is said.
            c = await load_consultation(self.sv, subject_id) if subject_id else None
            if c is None or await self.sv.advice.aasker(c.id or 0) != user:
                return tasks.message(PROFESSIONAL_ONLY)
            if c.status != "advised":
                return tasks.message("There is no advice to respond to yet.")
            if c.followed_advice is not None and not data.get("change"):
                return tasks.message(ALREADY_ANSWERED)
            return action, c
        if action == verbs.INFO_REPLY:
            # The card's referrer only: the same words whether the card exists or not.
            card = await load_card(self.sv, subject_id) if subject_id else None
            if card is None or card.referrer_user_id != user:
                return tasks.message(REFERRER_ONLY)
            if card.status == "closed":
                return tasks.message("This card is closed.")
            return action, card
        if advice and not await self.who.is_advisor(user):
            await self.sv.triage.adenied(None, user, f"advise:consultation:{subject_id}")
            return tasks.message(ADVISORS_ONLY)
        if not advice and not await self.who.is_manager(user):
            await self.sv.triage.adenied(subject_id, user, FORMS[action][2])
            return tasks.message(REFUSED.format(what=FORMS[action][1]))
        if advice:
            c = await load_consultation(self.sv, subject_id) if subject_id else None
            if c is None or c.status != "open":
                return tasks.message("This consultation has already been answered.")
            return action, c
        card = await load_card(self.sv, subject_id) if subject_id else None
        if card is None or card.status == "closed":
            return tasks.message("This card is closed.")
        return action, card

    @staticmethod
    def _problems(action: str, data: dict[str, Any], typed: str) -> list[str]:
        """What is wrong with the form's choices and text (the no-names screen aside)."""
        errors: list[str] = []
        if action == verbs.CARD_CHANGE and data.get(verbs.IN_RATING) not in RATINGS:
            errors.append("Choose one of the ratings offered.")
        if action == verbs.CARD_CLOSE and data.get(verbs.IN_OUTCOME) not in CLOSE_REASONS:
            errors.append("Choose one of the reasons offered.")
        if action == verbs.CONSULT_ADVISE and data.get(verbs.IN_OUTCOME) not in ADVICE_OUTCOMES:
            errors.append("Choose one of the outcomes offered.")
        if action != verbs.CARD_CLOSE and not typed.strip():  # the services say it too
            errors.append("Please fill this in.")
        return errors

    def _action(self, action: str, subject_id: int, user: str, data: dict[str, Any],
                typed: str) -> Callable[[Any], Awaitable[Any]]:
        triage, advice = self.sv.triage, self.sv.advice
        if action == verbs.ADVICE_NOT_FOLLOWED:
            # The first answer stands unless the form was opened to change it.
            change = bool(data.get("change"))
            return lambda effects: advice.arespond(subject_id, user, False, typed,
                                                   change=change, effects=effects)
        if action == verbs.CONSULT_ADVISE:
            outcome = str(data.get(verbs.IN_OUTCOME))
            return lambda effects: advice.aadvise(subject_id, user, outcome, typed,
                                                  effects=effects)
        if action == verbs.CARD_CHANGE:
            rating = str(data.get(verbs.IN_RATING))
            return lambda effects: triage.achange(subject_id, user, rating, typed,
                                                  effects=effects)
        if action == verbs.CARD_REQUEST_INFO:
            return lambda effects: triage.arequest_info(subject_id, user, typed, effects=effects)
        if action == verbs.INFO_REPLY:
            return lambda effects: triage.ainfo_reply(subject_id, user, typed, effects=effects)
        chosen = str(data.get(verbs.IN_OUTCOME))
        reason = f"{chosen}: {typed}" if typed.strip() else chosen
        return lambda effects: triage.aclose(subject_id, user, reason, effects=effects)

    def _form(self, action: str, subject: Subject, data: dict[str, Any], errors: list[str],
              ordinary: bool = False) -> dict[str, Any]:
        """The dialog's card: the inputs (as typed, on a second showing), the errors."""
        policy = self.sv.policy
        body: list[ac.Element] = []
        if action == verbs.CARD_CHANGE and isinstance(subject, TriageCard):
            current = data.get(verbs.IN_RATING) or subject.rating or subject.suggested_rating
            body.append(ac.choices(verbs.IN_RATING, [(k, rating_name(policy, k)) for k in RATINGS],
                                   value=str(current or ""), required=True, label="Rating"))
        if action == verbs.CARD_CLOSE:
            body.append(ac.text(CARD_CLOSE_CONFIRM, subtle=True))
            body.append(ac.choices(verbs.IN_OUTCOME, [(r, r) for r in CLOSE_REASONS],
                                   value=str(data.get(verbs.IN_OUTCOME) or ""), required=True,
                                   label="Outcome"))
        if action == verbs.CONSULT_ADVISE and isinstance(subject, Consultation):
            chosen = data.get(verbs.IN_OUTCOME) or subject.suggested_outcome or ""
            body.append(ac.choices(verbs.IN_OUTCOME,
                                   [(k, OUTCOME_LABELS[k]) for k in ADVICE_OUTCOMES],
                                   value=str(chosen), required=True, label="Outcome"))
        body.append(tasks.typed_input(LABELS[action], str(data.get(verbs.IN_TEXT) or ""),
                                      required=action != verbs.CARD_CLOSE))
        if ordinary:
            body.append(tasks.ordinary_toggle())
        key = verbs.CONSULTATION if isinstance(subject, Consultation) else verbs.CARD
        keep = {"change": True} if data.get("change") else {}
        return tasks.form(f"{subject.reference}", body, errors, action,
                          {key: subject.id, **keep})
