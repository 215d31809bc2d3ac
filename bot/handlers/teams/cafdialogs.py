"""The CAF cards' buttons in Teams, as dialogs: *Meeting held on…*, *Rearranged to…*,
*Stuck: ask for help*, *Close the CAF*, *Record the lead professional* (Teams' people
picker) — the same rules as Slack's ``slack/caf.py``.

Who may act is checked first: the episode's lead professional or co-ordinator (only the
co-ordinator records a lead), or the CAF team (``people.People.is_caf_team``); anyone else is
audited and hears the same words whether the episode exists or not. A click on a card
about a meeting dealt with already (its due date moved on) is told so; a closed CAF is
told it is closed. Problems are shown in the dialog, nothing saved; the stuck note passes
the no-names screen. The action is committed, with the activity's once-key and the
messages it causes (``sv.caf_messaging``: the earlier cards lose their buttons, one fresh
card goes to the lead professional and co-ordinator), before the invoke is answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.flows.caf.flows import CLOSE_REASONS, STUCK_LABELS
from bot.flows.caf.messaging import recipients
from bot.flows.caf.models import CafResult
from bot.flows.caf.qa import NFA
from bot.flows.drive import Duplicate, once_then
from bot.handlers.teams import people, tasks
from bot.handlers.teams.cards import ac, verbs
from bot.services import Services
from bot.wording import day
from store.models import CafEpisode

NOT_YOURS = ("Only this CAF's lead professional, its co-ordinator or the CAF team can do that. "
             "Nothing was changed.")
GONE = "That CAF episode no longer exists."
ASKED = ("Sent to a CAF manager: closing with no further action needs their agreement. The "
         "CAF stays open until then.")


@dataclass(frozen=True)
class Form:
    """One CAF dialog: its audited name, title and button; whether a click about a
    meeting dealt with already is refused; what it says when done."""

    name: str
    title: str
    save: str
    stale_check: bool
    done: str
    lead_setter: bool = False  # who: the co-ordinator or the CAF team (not the lead)


FORMS = {
    verbs.CAF_HELD: Form("held", "Meeting held", "Record", True,
                         "Recorded: the lead professional and co-ordinator are told."),
    verbs.CAF_REARRANGED: Form("rearranged", "Meeting rearranged", "Save", True,
                               "Saved: the lead professional and co-ordinator are told."),
    verbs.CAF_STUCK: Form("stuck", "Ask for help", "Send", False, ""),
    verbs.CAF_CLOSE: Form("close", "Close the CAF", "Close it", False,
                          "Closed: the lead professional, the co-ordinator and the CAF team "
                          "duty channel are told."),
    verbs.CAF_SET_LEAD: Form("lead", "Lead professional", "Save", False,
                             "Saved: the lead professional now gets this CAF's reminders.",
                             lead_setter=True),
}
_QUIET = (verbs.CAF_HELD, verbs.CAF_REARRANGED, verbs.CAF_CLOSE)  # their cards show it


class CafDialogs:
    """The CAF dialogs for one process."""

    actions = frozenset(FORMS)

    def __init__(self, sv: Services, who: people.People) -> None:
        self.sv = sv
        self.who = who

    async def fetch(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        """Open the form (for whom may act, on an open episode, about its current meeting)."""
        early = await self._check(user, data)
        if isinstance(early, dict):
            return early
        action, ep, due = early
        return tasks.continue_with(FORMS[action].title, self._form(action, ep, due, user,
                                                                   data, []))

    async def submit(self, user: str, data: dict[str, Any], once: str | None
                     ) -> dict[str, Any]:
        """Check the form and act; errors are shown in the dialog, nothing saved."""
        early = await self._check(user, data)
        if isinstance(early, dict):
            return early
        action, ep, due = early
        form = FORMS[action]
        typed = str(data.get(verbs.IN_TEXT) or "")
        errors = self._problems(action, data, typed)
        screened = tasks.screen(typed, data) if action == verbs.CAF_STUCK else None
        if errors or screened:
            if screened:
                errors.append(screened[0])
            ordinary = bool(screened and screened[1])
            return tasks.continue_with(form.title, self._form(action, ep, due, user, data,
                                                              errors, ordinary))
        if action == verbs.CAF_STUCK:
            await tasks.audit_ordinary(self.sv, user, typed, data, "caf", ep.id)
        if action == verbs.CAF_CLOSE and data.get(verbs.IN_OUTCOME) == NFA:
            # Closing with no further action needs a CAF manager's agreement (as in Slack).
            asked = await self.sv.caf_qa.arequest_closure(ep.id or 0, user)
            self.sv.sender.kick()
            if not asked.ok:
                return tasks.continue_with(form.title, self._form(
                    action, ep, due, user, data, [asked.message or "Not saved."]))
            return tasks.message(ASKED)
        run = self._action(action, ep.id or 0, due, user, data, typed)
        try:
            result = await run(once_then(once, self.sv.caf_messaging))
        except Duplicate:  # delivered before
            return tasks.message("Done.")
        self.sv.sender.kick()
        if not result.ok:
            return tasks.continue_with(form.title, self._form(
                action, ep, due, user, data, [result.message or "Not saved."]))
        return tasks.message(self._done(action, result, user))

    async def _check(self, user: str, data: dict[str, Any]
                     ) -> tuple[str, CafEpisode, date | None] | dict[str, Any]:
        """(the form, the episode, the meeting the card was about), or the answer that
        ends here."""
        action = str(data.get(verbs.ACTION) or "")
        form = FORMS[action]
        episode_id = tasks.number(data.get(verbs.EPISODE)) or 0
        due = tasks.date_of(data.get(verbs.DUE))
        ep = await self.sv.caf.aget(episode_id) if episode_id else None
        holders = (ep.coordinator_user_id,) if form.lead_setter or ep is None else (
            ep.lead_user_id, ep.coordinator_user_id)
        team = await self.who.is_caf_team(user)
        if ep is None or not (user in holders or team):
            if ep is None and team:
                return tasks.message(GONE)
            await self.sv.caf.adenied(episode_id or None, user, form.name)
            return tasks.message(NOT_YOURS)
        if ep.status != "open":
            return tasks.message(f"CAF {ep.ehm_reference} is closed.")
        if form.stale_check and due is not None and ep.next_meeting_due != due:
            return tasks.message(f"CAF {ep.ehm_reference} was updated already: the next "
                                 f"meeting is due by {day(ep.next_meeting_due)}.")
        return action, ep, due

    def _problems(self, action: str, data: dict[str, Any], typed: str) -> list[str]:
        """What is wrong with the form (the no-names screen aside); the service checks
        again in its transaction."""
        today = self.sv.caf.today()
        on = tasks.date_of(data.get(verbs.IN_DATE))
        if action == verbs.CAF_HELD:
            if on is None:
                return ["Choose the date the meeting was held."]
            if on > today:
                return ["That is in the future: use \"Rearranged to\" instead."]
        if action == verbs.CAF_REARRANGED:
            if on is None:
                return ["Choose the date the meeting is now arranged for."]
            if on < today:
                return ["That date has passed: record the meeting as held."]
        if action == verbs.CAF_STUCK and not typed.strip():
            return ["Say briefly what is stuck."]
        if action == verbs.CAF_CLOSE and data.get(verbs.IN_OUTCOME) not in CLOSE_REASONS:
            return ["Choose why the CAF is closing."]
        if action == verbs.CAF_SET_LEAD and not data.get(verbs.IN_LEAD):
            return ["Choose the lead professional."]
        return []

    def _action(self, action: str, episode_id: int, due: date | None, user: str,
                data: dict[str, Any], typed: str
                ) -> Callable[[Any], Awaitable[CafResult]]:
        caf = self.sv.caf
        on = tasks.date_of(data.get(verbs.IN_DATE)) or caf.today()
        if action == verbs.CAF_HELD:
            return lambda effects: caf.arecord_meeting(episode_id, user, on, expect_due=due,
                                                       effects=effects)
        if action == verbs.CAF_REARRANGED:
            return lambda effects: caf.arearrange(episode_id, user, on, expect_due=due,
                                                  effects=effects)
        if action == verbs.CAF_STUCK:
            return lambda effects: caf.astuck(episode_id, user, typed, effects=effects)
        if action == verbs.CAF_SET_LEAD:
            lead = str(data.get(verbs.IN_LEAD))
            return lambda effects: caf.aset_lead(episode_id, user, lead, effects=effects)
        reason = str(data.get(verbs.IN_OUTCOME))
        return lambda effects: caf.aclose(episode_id, user, reason, effects=effects)

    @staticmethod
    def _done(action: str, result: CafResult, user: str) -> str:
        ep = result.episode
        if action == verbs.CAF_STUCK and ep is not None:
            return f"Thank you: CAF {ep.ehm_reference} went to {_where(ep, result.stage or '')}. " \
                   "This is recorded."
        if ep is not None and user in recipients(ep) and action in _QUIET:
            return "Saved: the card in your chat shows it."
        return FORMS[action].done

    def _form(self, action: str, ep: CafEpisode, due: date | None, user: str,
              data: dict[str, Any], errors: list[str], ordinary: bool = False
              ) -> dict[str, Any]:
        """The dialog's card: what it does, its input (as chosen or typed), the errors."""
        ref = f"CAF {ep.ehm_reference}"
        body: list[ac.Element] = []
        chosen = str(data.get(verbs.IN_DATE) or "")
        if action == verbs.CAF_HELD:
            initial = min(due, self.sv.caf.today()) if due else self.sv.caf.today()
            body += [ac.text(f"{ref}: the next meeting is then due a meeting interval after it.",
                             subtle=True),
                     _date_input("Held on", chosen or initial.isoformat())]
        elif action == verbs.CAF_REARRANGED:
            body += [ac.text(f"{ref}: the new date replaces the due date "
                             f"({day(ep.next_meeting_due)}).", subtle=True),
                     _date_input("Rearranged to", chosen)]
        elif action == verbs.CAF_STUCK:
            stage = self.sv.caf.next_stuck_stage(ep, user)
            body += [ac.text(f"{ref}: this goes to {_where(ep, stage)}.", subtle=True),
                     tasks.typed_input("What is stuck?", str(data.get(verbs.IN_TEXT) or ""))]
            if ordinary:
                body.append(tasks.ordinary_toggle())
        elif action == verbs.CAF_SET_LEAD:
            body += [ac.text(f"{ref}: the lead professional gets the CAF's reminders from "
                             "now on.", subtle=True),
                     ac.person_picker(verbs.IN_LEAD, "Lead professional",
                                      value=str(data.get(verbs.IN_LEAD) or ""), required=True)]
        else:
            initial = str(data.get(verbs.IN_OUTCOME) or (
                "" if ep.lead_user_id else "stepped_down"))
            body += [ac.text(f"{ref}: closing stops its reminders. The CAF team duty channel "
                             "is told, for the duty manager's oversight.", subtle=True),
                     ac.choices(verbs.IN_OUTCOME, list(CLOSE_REASONS.items()), value=initial,
                                required=True, label="Why is it closing?")]
        return tasks.form(ref, body, errors, action, {
            verbs.EPISODE: ep.id, verbs.DUE: due.isoformat() if due else ""},
            FORMS[action].save)


def _where(ep: CafEpisode, stage: str) -> str:
    """Where asking for help goes (never a name: the anonymous panel says so)."""
    where = STUCK_LABELS.get(stage, stage)
    if stage == "panel" and not ep.consent:
        where += ", anonymously (the family has not consented: no EHM reference, no names)"
    return where


def _date_input(label: str, value: str) -> ac.Element:
    return {"type": "Input.Date", "id": verbs.IN_DATE, "label": label, "value": value,
            "isRequired": True, "errorMessage": "Please choose a date."}
