"""``caflog [filters]`` in the 1:1 chat: the newest consultations of the CAF log, for duty
advisors and managers (the same filters as Slack's ``/caflog``).

Teams has no private message and keeps chats under the council's retention, so the log is
shown only in the person's own chat with the bot (never in a channel), and only what a
log line needs (reference, dates, outcomes, status): no professional's name or contact.
Reading is audited (``caflog.viewed``: the filter and a count); anyone else's attempt too
(``denied.caflog``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.flows.consultation import log as caflog
from bot.flows.guided.rules import CATEGORIES
from bot.handlers.teams import TEAMS, people, tasks
from bot.handlers.teams.cards import ac, verbs
from bot.labels import CAFLOG_FILTER_LABELS, OUTCOME_LABELS
from bot.services import Services

SHOWN = 10
TITLE = "Consultation log"
# The dialog's inputs make_filter takes by name (the search words are read apart).
INPUTS = ("since", "until", "outcome", "category", "agency", "advisor")
REFUSED = "Only the front door's duty advisors and managers can read the consultation log."
IN_CHAT = "The consultation log is shown only in your personal chat with Front Door."


def plain_ids(query: str, entities: Iterable[Any]) -> str:
    """The typed words with each mention as the Entra object id it names
    (``advisor:<at>Dee</at>`` -> ``advisor:<guid>``): the log filters by plain ids."""
    for entity in entities:
        data = entity.model_dump(by_alias=True) if hasattr(entity, "model_dump") else entity
        mentioned = (data or {}).get("mentioned") or {}
        aad, text = mentioned.get("aadObjectId"), str(data.get("text") or "")
        if data.get("type") == "mention" and aad and text:
            query = query.replace(text, str(aad))
    return query


async def show(sv: Services, user: str, query: str, *, personal: bool,
               entities: Iterable[Any] = (), who: people.People | None = None
               ) -> dict[str, Any]:
    """What ``caflog <query>`` answers ``user`` with (an activity); ``entities``: the
    message's mentions; ``who``: the roles (teams' rosters too)."""
    if not await (who or people.People(sv.policy)).is_advisor(user):
        await sv.caflog.adenied(user, "view")
        return ac.text_activity(REFUSED, plain=True)
    if not personal:
        return ac.text_activity(IN_CHAT, plain=True)
    try:
        f = caflog.parse_query(plain_ids(query, entities), platform="teams")
    except caflog.FilterError as exc:
        return ac.text_activity("; ".join(exc.problems)[:1500] + "\nFilters are words like "
                                "since:2026-11-01 until:2026-11-30 outcome:early_help.",
                                plain=True)
    return await _shown(sv, user, f)


async def _shown(sv: Services, user: str, f: caflog.LogFilter) -> dict[str, Any]:
    """The log as ``f`` filters it, read (and audited) for ``user``: a message."""
    card = await _log_card(sv, user, f)
    return {"type": "message", "text": "CAF consultation log", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}


async def _log_card(sv: Services, user: str, f: caflog.LogFilter) -> dict[str, Any]:
    entries, total = await sv.caflog.aread(user, f, SHOWN)
    tz = sv.policy.tz
    body: list[dict[str, Any]] = [{"type": "TextBlock", "size": "Medium", "weight": "Bolder",
                                   "text": "CAF consultation log", "wrap": True},
                                  {"type": "TextBlock", "isSubtle": True, "wrap": True,
                                   "text": f"{f.describe() or 'All consultations'}: "
                                           f"{len(entries)} of {total}, newest first"}]
    for e in entries:
        given = OUTCOME_LABELS.get(e.given_outcome or "", "not yet advised")
        body.append({"type": "FactSet", "separator": True, "facts": [
            {"title": "Reference", "value": e.reference},
            {"title": "Received", "value": e.received_at.astimezone(tz).strftime(
                "%a %d %b %Y %H:%M")},
            {"title": "Suggested", "value": OUTCOME_LABELS.get(e.suggested_outcome,
                                                               e.suggested_outcome)},
            {"title": "Advice", "value": given},
            {"title": "Status", "value": e.status},
        ]})
    return {"type": "AdaptiveCard", "version": "1.5", "body": body,
            "actions": [ac.dialog("Filter…", verbs.CAFLOG_FILTER, {})]}


class FilterDialog:
    """*Filter…*: the log's filters in a dialog (Slack's filter modal). The log it shows
    stays in the dialog, out of the chat Teams keeps; a problem is said there, naming the
    field, never echoing what was typed."""

    def __init__(self, sv: Services, who: people.People) -> None:
        self.sv = sv
        self.who = who

    async def fetch(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        refused = await self._refused(user)
        return refused or tasks.continue_with(TITLE, self._form({}, []))

    async def submit(self, user: str, data: dict[str, Any]) -> dict[str, Any]:
        refused = await self._refused(user)
        if refused:
            return refused
        values = {key: str(data.get(key) or "").strip() for key in INPUTS}
        try:
            f = caflog.make_filter(CAFLOG_FILTER_LABELS, platform=TEAMS,
                                   words=str(data.get(verbs.IN_TEXT) or "").split(),
                                   **values)
        except caflog.FilterError as exc:
            # The choices are kept; the search words are not shown again (they may be
            # what was refused).
            return tasks.continue_with(TITLE, self._form(values, exc.problems))
        return tasks.continue_with(TITLE, await _log_card(self.sv, user, f))

    async def _refused(self, user: str) -> dict[str, Any] | None:
        if await self.who.is_advisor(user):
            return None
        await self.sv.caflog.adenied(user, "filter")
        return tasks.message(REFUSED)

    @staticmethod
    def _form(values: dict[str, str], errors: list[str]) -> dict[str, Any]:
        labels = CAFLOG_FILTER_LABELS
        body: list[ac.Element] = [
            ac.text("Dates are whole days in the authority's time zone, both included. "
                    "Leave a field empty for any.", subtle=True),
            {"type": "Input.Date", "id": verbs.IN_SINCE, "label": labels["since"],
             "value": values.get(verbs.IN_SINCE, "")},
            {"type": "Input.Date", "id": verbs.IN_UNTIL, "label": labels["until"],
             "value": values.get(verbs.IN_UNTIL, "")},
            ac.choices(verbs.IN_OUTCOME, list(OUTCOME_LABELS.items()),
                       value=values.get(verbs.IN_OUTCOME), placeholder="Any",
                       label="Outcome (given, or suggested until advised)"),
            ac.choices(verbs.IN_CATEGORY, list(CATEGORIES.items()),
                       value=values.get(verbs.IN_CATEGORY), placeholder="Any",
                       label=labels["category"]),
            ac.choices(verbs.IN_AGENCY, list(caflog.AGENCY_LABELS.items()),
                       value=values.get(verbs.IN_AGENCY), placeholder="Any",
                       label=labels["agency"]),
            ac.person_picker(verbs.IN_ADVISOR, labels["advisor"],
                             value=values.get(verbs.IN_ADVISOR, "")),
            {"type": "Input.Text", "id": verbs.IN_TEXT, "label": "Search words (no names)",
             "maxLength": 200},
        ]
        return tasks.form(TITLE, body, errors, verbs.CAFLOG_FILTER, {}, save="Show")


