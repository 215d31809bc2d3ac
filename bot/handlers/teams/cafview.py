"""``caf EHM-20417``, ``caf list``, ``caf list <Entra object id>`` and ``caf mine`` in the
1:1 chat: the same lookups as Slack's ``/caf`` (``bot.flows.caf.lookup``), drawn as a card.

Teams has no private message, so the answer is given only in the person's own chat with
the bot. The CAF team (advisors and managers) sees every CAF; a lead professional or
co-ordinator their own (``caf mine``, or one of theirs by reference). Anything else gets
the usage, never its echo: a name typed where a reference goes is not repeated.
Registering a CAF (bare ``caf``) is its dialog (``bot.handlers.teams.caf``).
"""

from __future__ import annotations

from typing import Any

from bot import nonames, wording
from bot.flows.caf.flows import CLOSE_REASONS
from bot.flows.caf.lookup import CafList, CafLookup, CafView
from bot.handlers.teams import people
from bot.handlers.teams.cards import ac
from bot.handlers.teams.cards.caf import people as caf_people
from bot.handlers.teams.cards.caf import ref
from bot.policy import id_fits
from bot.services import Services

IN_CHAT = "CAFs are looked up only in your personal chat with Front Door."
NOT_YOURS = "Only the CAF team, or a CAF's lead professional or co-ordinator, can look it up."
TEAM_ONLY = "Only the CAF team (duty advisors and managers) can list CAFs."


def usage(sv: Services) -> str:
    """What ``caf`` takes here, with the council's reference example."""
    example = sv.policy.caf.reference_example
    return (f"Type caf {example} to look a CAF up by its EHM reference, caf list for the open "
            "CAFs (overdue first), or caf mine for yours.")


async def show(sv: Services, user: str, words: list[str], *, personal: bool,
               who: people.People | None = None) -> dict[str, Any]:
    """What ``caf <words>`` answers ``user`` with (an activity); ``who``: the roles
    (teams' rosters too)."""
    if not personal:
        return ac.text_activity(IN_CHAT, plain=True)
    look = CafLookup(sv.tx, sv.policy, sv.clock)
    team = await (who or people.People(sv.policy)).is_advisor(user)
    verb = words[0].lower()
    if verb == "mine" and len(words) == 1:
        return _list(await look.aopen_list(involving=user), "Your open CAFs",
                     "You are not the lead professional or co-ordinator of any open CAF.")
    if verb == "list" and len(words) <= 2:
        if not team:
            await sv.caf.adenied(None, user, "list")
            return ac.text_activity(TEAM_ONLY, plain=True)
        lead = words[1] if len(words) == 2 else None
        if lead is not None and not id_fits("teams", "user", lead):  # not echoed
            return ac.text_activity("Give the lead professional's Entra object id. "
                                    + usage(sv), plain=True)
        return _list(await look.aopen_list(lead=lead), "Open CAFs" if lead is None else
                     "Open CAFs of that lead professional",
                     "There are no open CAFs." if lead is None else
                     "That person is not the lead professional of any open CAF.")
    if len(words) == 1 and sv.policy.caf.reference_matches(words[0]) and not nonames.scan(
            words[0]):
        view = await look.aone(words[0])
        ep = view.episode if view else None
        if ep is None or not (team or user in (ep.lead_user_id, ep.coordinator_user_id)):
            if ep is None and team:
                return ac.text_activity("There is no CAF with the EHM reference "
                                        f"{words[0].strip().upper()}.", plain=True)
            await sv.caf.adenied(ep.id if ep else None, user, "lookup")
            return ac.text_activity(NOT_YOURS, plain=True)
        assert view is not None
        return _one(view, sv)
    return ac.text_activity("That is not an EHM reference such as "
                            f"{sv.policy.caf.reference_example}. " + usage(sv), plain=True)


def _bold(s: str) -> str:
    return f"**{s}**"


def _one(v: CafView, sv: Services) -> dict[str, Any]:
    ep, m = v.episode, ac.Mentions(ac.Directory())
    if ep.status != "open":
        state = "**Closed**" + wording.caf_closed_line(ep, sv.policy, CLOSE_REASONS)
    elif v.overdue:
        state = "⏰ **Overdue**: " + wording.caf_overdue_line(ep, v.late_days, _bold)
    else:
        state = wording.caf_due_line(ep, sv.policy, _bold)
    body = [ac.heading(ref(ep)), ac.text(state),
            ac.text(caf_people(ep, m), subtle=True)]
    return ac.card_activity(ac.card(body, fallback=ref(ep), mentions=m), ref(ep))


def _list(found: CafList, title: str, empty: str) -> dict[str, Any]:
    if not found.views:
        return ac.text_activity(empty, plain=True)
    m = ac.Mentions(ac.Directory())
    body = [ac.heading(f"{title}: {wording.caf_list_head(found.total, found.overdue)}")]
    for v in found.views:
        when = wording.caf_list_when(v.episode, v.overdue, v.late_days)
        body.append(ac.text(f"**{v.episode.ehm_reference}** · "
                            + (f"⏰ **overdue**: {when}" if v.overdue else when)
                            + " · Lead professional: "
                            + m.person(v.episode.lead_user_id, nobody="none yet"),
                            separator=True))
    more = found.total - len(found.views)
    if more > 0:
        body.append(ac.text(f"…and {more} more: look one up with caf and its EHM reference.",
                            subtle=True))
    return ac.card_activity(ac.card(body, fallback=title, mentions=m), title)
