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

from bot import caflog
from bot.handlers.teams import people
from bot.labels import OUTCOME_LABELS
from bot.services import Services

SHOWN = 10
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
        return _words(REFUSED)
    if not personal:
        return _words(IN_CHAT)
    try:
        f = caflog.parse_query(plain_ids(query, entities), platform="teams")
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
