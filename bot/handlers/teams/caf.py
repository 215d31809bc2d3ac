"""``caf`` in Teams: the CAF team registers a CAF episode in a dialog (task module), as
Slack's ``/caf`` does in its modal (``bot.handlers.slack.caf``).

``caf`` (in the personal chat, or ``@Front Door caf`` in a channel, answered in the
personal chat) is answered with a card whose button opens the dialog: Teams opens a
dialog only from a card. The role is checked first, at every step (the CAF team: duty
advisors and managers); anyone else is refused with the same words and audited
(``denied.register``), and learns nothing about any reference.

The fields are checked as Slack's are (``bot.flows.caf.service``: the policy's reference shape,
the no-names guard on the reference, people as Entra object ids): a problem is shown in
the dialog by its field, in words that never quote what was typed, and a refused field is
emptied (a dialog's errors are not kept in the chat, but its card is ours to draw). The
episode belongs to Teams (its platform), so its notices go to Teams people and channels.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.flows.caf.models import NewEpisode
from bot.flows.caf.service import problems, reference_problem
from bot.handlers.teams import TEAMS, people
from bot.handlers.teams.cards import caf as cards
from bot.handlers.teams.cards import verbs
from bot.handlers.teams.tasks import continue_with, message
from bot.policy import Policy
from bot.services import Services

TEAM_ONLY = ("Only the CAF team (duty advisors and managers) can register a CAF. "
             "Nothing was changed.")
TITLE = "Register a CAF"
# The service's field names -> the dialog's inputs.
_FIELDS = {"ehm_reference": verbs.IN_CAF_REFERENCE, "lead_professional": verbs.IN_CAF_LEAD,
           "coordinator": verbs.IN_CAF_COORDINATOR, "completed_on": verbs.IN_CAF_COMPLETED,
           "last_meeting_on": verbs.IN_CAF_COMPLETED}
_INPUTS = (verbs.IN_CAF_REFERENCE, verbs.IN_CAF_LEAD, verbs.IN_CAF_COORDINATOR,
           verbs.IN_CAF_COMPLETED, verbs.IN_CAF_CONSENT)


class CafRegistration:
    """The ``caf`` command and its dialog, for one process."""

    def __init__(self, sv: Services, who: people.People) -> None:
        self.sv = sv
        self.who = who

    async def refused(self, user: str) -> str | None:
        """None for the CAF team; anyone else is audited and told why."""
        if await self.who.is_advisor(user):
            return None
        await self.sv.caf.adenied(None, user, "register")
        return TEAM_ONLY

    async def command(self, user: str) -> dict[str, Any]:
        """``caf``: the card that opens the dialog, or the refusal (an activity)."""
        no = await self.refused(user)
        return {"type": "message", "text": no} if no else cards.register_prompt()

    async def fetch(self, user: str) -> dict[str, Any]:
        """Open the dialog."""
        no = await self.refused(user)
        if no:
            return message(no)
        return continue_with(TITLE, cards.register_form(self.sv.policy, {}, {}))

    async def submit(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        """Check the fields and register; problems shown in the dialog, nothing saved."""
        no = await self.refused(user)
        if no:
            return message(no)
        values = {k: str(data.get(k) or "").strip() for k in _INPUTS}
        new, errors = read_episode(values, self.sv.caf.today(), self.sv.policy)
        if new is not None and not errors:
            result = await self.sv.caf.aregister(new, user, effects=self.sv.caf_messaging)
            if result.ok and result.episode is not None:
                self.sv.sender.kick()
                return message(cards.registered_words(result.episode, self.sv.policy))
            errors = _by_field(result.problems) or {
                verbs.IN_CAF_REFERENCE: _sentence(result.message or "That was not saved")}
        kept = {k: v for k, v in values.items() if k not in errors}
        return continue_with(TITLE, cards.register_form(self.sv.policy, kept, errors))


def read_episode(values: dict[str, str], today: date, policy: Policy
                 ) -> tuple[NewEpisode | None, dict[str, str]]:
    """The episode typed into the dialog, or its problems by input id (Slack's
    ``read_episode``, for the dialog's inputs and Teams' people)."""
    errors: dict[str, str] = {}
    ref = values[verbs.IN_CAF_REFERENCE]
    msg = reference_problem(ref, policy.caf)
    if msg:
        errors[verbs.IN_CAF_REFERENCE] = _sentence(msg)
    completed: date | None = None
    try:
        completed = date.fromisoformat(values[verbs.IN_CAF_COMPLETED] or "")
    except ValueError:
        errors[verbs.IN_CAF_COMPLETED] = "Choose the date the CAF was completed."
    consent = values[verbs.IN_CAF_CONSENT]
    if consent not in ("yes", "no"):
        errors[verbs.IN_CAF_CONSENT] = "Say whether the family consented."
    new = NewEpisode(ref, values[verbs.IN_CAF_LEAD] or None,
                     values[verbs.IN_CAF_COORDINATOR] or None, completed or today,
                     consent == "yes", platform=TEAMS)
    for key, msg in _by_field(problems(new, today, policy.caf)).items():
        if completed is not None or key != verbs.IN_CAF_COMPLETED:
            errors.setdefault(key, msg)
    return (None if errors else new), errors


def _by_field(found: list[tuple[str, str]]) -> dict[str, str]:
    """The service's problems as the dialog's errors, each by its input."""
    errors: dict[str, str] = {}
    for name, msg in found:
        errors.setdefault(_FIELDS.get(name, verbs.IN_CAF_REFERENCE), _sentence(msg))
    return errors


def _sentence(msg: str) -> str:
    msg = msg.strip()
    return msg[:1].upper() + msg[1:] + ("" if msg.endswith(".") else ".")
