"""*Route to a CAF* on a decided Green triage card, in Teams: a dialog (managers only, as
Slack's ``slack/caf.py``; which cards may be routed is the CAF domain's rule,
``CafService.routable``).

An EHM reference of an open CAF links the card to it (the other fields are not used);
otherwise a new episode is registered from the dialog's fields, its people chosen with
Teams' people picker. The reference is checked for its shape and by the no-names guard
before it is looked up, and a problem never repeats what was typed. The routing is
committed with the activity's once-key and the messages it causes (the card redrawn,
the lead professional and co-ordinator told) before the invoke is answered.
"""

from __future__ import annotations

from typing import Any

from bot.flows.caf.models import NewEpisode, Routable
from bot.flows.caf.service import problems, reference_problem
from bot.flows.drive import Duplicate, once_then
from bot.handlers.teams import people, tasks
from bot.handlers.teams.cards import ac, verbs
from bot.services import Services

MANAGERS_ONLY = "Only the front door's managers can route a card to a CAF. Nothing was changed."
TITLE = "Route to a CAF"


class CafRoute:
    """The route dialog for one process."""

    def __init__(self, sv: Services, who: people.People) -> None:
        self.sv = sv
        self.who = who

    async def fetch(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        """Open the form (managers, on a card that may be routed)."""
        found = await self._check(user, data)
        if isinstance(found, dict):
            return found
        return tasks.continue_with(TITLE, self._form(found, data, []))

    async def submit(self, user: str, data: dict[str, Any], once: str | None
                     ) -> dict[str, Any]:
        """Link or register; the problems in the dialog, nothing saved."""
        found = await self._check(user, data)
        if isinstance(found, dict):
            return found
        new, errors = await self._episode(found, data)
        if errors or new is None:
            return tasks.continue_with(TITLE, self._form(found, data, errors))
        card_id = found.card.id or 0
        try:
            result = await self.sv.caf.aroute_from_card(
                card_id, user, new, effects=once_then(once, self.sv.caf_messaging))
        except Duplicate:  # delivered before
            return tasks.message("Done.")
        self.sv.sender.kick()
        if not result.ok or result.episode is None:
            return tasks.continue_with(TITLE, self._form(found, data,
                                                         [result.message or "Not saved."]))
        ref = f"CAF {result.episode.ehm_reference}"
        if result.linked:
            return tasks.message(f"Linked to the open {ref}. The lead professional and "
                                 "co-ordinator are told.")
        return tasks.message(f"Registered {ref}. The lead professional and co-ordinator are "
                             "told.")

    async def _check(self, user: str, data: dict[str, Any]) -> Routable | dict[str, Any]:
        """The card and what the form starts from, or the answer that ends here."""
        card_id = tasks.number(data.get(verbs.CARD)) or 0
        if not await self.who.is_manager(user):  # first: nothing looked up
            await self.sv.triage.adenied(card_id or None, user, "route_caf")
            return tasks.message(MANAGERS_ONLY)
        found = await self.sv.caf.aroutable(card_id)
        return tasks.message(found) if isinstance(found, str) else found

    async def _episode(self, found: Routable, data: dict[str, Any]
                       ) -> tuple[NewEpisode | None, list[str]]:
        """The episode to link to or register, or what is wrong with the form."""
        shape, today = self.sv.policy.caf, self.sv.caf.today()
        ref = str(data.get(verbs.IN_REFERENCE) or "").strip()
        msg = reference_problem(ref, shape)
        if msg:
            return None, [_sentence(msg)]
        to = await self.sv.caf.aroute_target(ref)
        if to.kind == "closed":
            return None, [to.message]
        if to.kind == "link":  # the other fields are not used
            return to.link, []
        errors: list[str] = []
        completed = tasks.date_of(data.get(verbs.IN_DATE))
        consent = data.get(verbs.IN_CONSENT)
        if completed is None:
            errors.append("Choose the date the CAF was completed.")
        if consent not in ("yes", "no"):
            errors.append("Say whether the family consented.")
        if not data.get(verbs.IN_COORDINATOR):
            errors.append("Choose the CAF co-ordinator.")
        if errors or completed is None:
            return None, errors
        new = NewEpisode(ref, str(data.get(verbs.IN_LEAD) or "") or None,
                         str(data.get(verbs.IN_COORDINATOR)), completed, consent == "yes",
                         platform=found.card.platform)  # its people are the card's platform's
        found_problems = problems(new, today, shape)
        return (None, [_sentence(m) for _, m in found_problems]) if found_problems else (
            new, [])

    def _form(self, found: Routable, data: dict[str, Any], errors: list[str]
              ) -> dict[str, Any]:
        """The dialog: the reference, then what registering needs (as chosen before)."""
        example = self.sv.policy.caf.reference_example
        said = [f"**{found.card.reference}**: decided Green. Register the CAF episode, or give "
                "the EHM reference of an open CAF to link the card to it."]
        if found.open_caf:
            said.append("ℹ️ The referrer said there is already an open CAF: give its EHM "
                        "reference (the other fields are then not used).")
        consent = data.get(verbs.IN_CONSENT) or (
            "" if found.consent is None else "yes" if found.consent else "no")
        body: list[ac.Element] = [
            ac.text("\n\n".join(said), subtle=True),
            {"type": "Input.Text", "id": verbs.IN_REFERENCE, "label": "EHM reference",
             "placeholder": f"Like {example}: never a name", "maxLength": 64,
             "isRequired": True, "errorMessage": "Please give the EHM reference.",
             "value": str(data.get(verbs.IN_REFERENCE) or "")},
            ac.person_picker(verbs.IN_LEAD, "Lead professional (if known)",
                             value=str(data.get(verbs.IN_LEAD) or "")),
            ac.person_picker(verbs.IN_COORDINATOR, "CAF co-ordinator",
                             value=str(data.get(verbs.IN_COORDINATOR) or "")),
            {"type": "Input.Date", "id": verbs.IN_DATE, "label": "Date the CAF was completed",
             "value": str(data.get(verbs.IN_DATE) or "")},
            ac.choices(verbs.IN_CONSENT, [("yes", "Yes"), ("no", "No")], value=str(consent),
                       label="Has the family consented to information sharing?"),
        ]
        return tasks.form(TITLE, body, errors, verbs.CAF_ROUTE_CARD,
                          {verbs.CARD: found.card.id}, "Route")


def _sentence(msg: str) -> str:
    return msg[0].upper() + msg[1:] + "."
