"""``caflog [filters]`` in the 1:1 chat: the newest consultations of the CAF log, for duty
advisors and managers (the same filters as Slack's ``/caflog``).

Teams has no private message and keeps chats under the council's retention, so the log is
shown only in the person's own chat with the bot (never in a channel), and only what a
log line needs (reference, dates, outcomes, status): no professional's name or contact.
Reading is audited (``caflog.viewed``: the filter and a count); anyone else's attempt too
(``denied.caflog``).
"""

from __future__ import annotations

from typing import Any

from bot import caflog
from bot.handlers.teams import people
from bot.labels import OUTCOME_LABELS
from bot.services import Services

SHOWN = 10
REFUSED = "Only the front door's duty advisors and managers can read the consultation log."
IN_CHAT = "The consultation log is shown only in your personal chat with Front Door."


async def show(sv: Services, user: str, query: str, *, personal: bool) -> dict[str, Any]:
    """What ``caflog <query>`` answers ``user`` with (an activity)."""
    if not people.is_advisor(sv.policy, user):
        await sv.caflog.adenied(user, "view")
        return _words(REFUSED)
    if not personal:
        return _words(IN_CHAT)
    try:
        f = caflog.parse_query(query, platform="teams")  # advisor: an Entra object id
    except caflog.FilterError as exc:
        return _words("; ".join(exc.problems)[:1500] + "\nFilters are words like "
                      "since:2026-11-01 until:2026-11-30 outcome:early_help.")
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
    card = {"type": "AdaptiveCard", "version": "1.5", "body": body}
    return {"type": "message", "text": "CAF consultation log", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}




def _words(text: str) -> dict[str, Any]:
    return {"type": "message", "text": text}
