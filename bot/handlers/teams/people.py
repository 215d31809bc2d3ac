"""Who may do what in Teams: the policy's managers and advisors, by Entra object id or by
membership of a named team.

The roles are the policy's ``teams:`` section (``policy.people("teams").roles``): a
policy with no such section names nobody in Teams. ``users`` are Entra object ids;
``usergroups`` are teams, by the team's id (``19:…@thread.tacv2``) or its Entra group
id: a person holds the role while they are a member of one, as the Bot Connector's roster
says (``Roster``). The sync ``is_manager``/``is_advisor`` read the named people only;
``People`` adds the teams and is what the listeners ask.

Failing closed: an error asking the roster (a 5xx, no token, a timeout) means "not a
member", logged by its status or kind (never an id or a message's text), and is not kept,
so the next question asks again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote

import aiohttp

from bot.handlers.teams.auth import Tokens
from bot.policy import Policy, Roles

log = logging.getLogger("frontdoor.teams")
# How long a roster answer is believed: someone removed from the managers' team loses the
# role within this time (and Teams is not asked on every click).
MEMBERSHIP_TTL = timedelta(minutes=5)
TIMEOUT = aiohttp.ClientTimeout(total=10)


def roles(policy: Policy) -> Roles:
    """The policy's roles for Teams people."""
    return policy.people("teams").roles


def is_manager(policy: Policy, user_id: str) -> bool:
    """A MASH / CAF duty manager named by Entra object id (teams: ``People``)."""
    return bool(user_id) and "teams" in policy.platforms and (
        user_id in roles(policy).managers.users)


def is_advisor(policy: Policy, user_id: str) -> bool:
    """A duty advisor (or a manager) named by Entra object id (teams: ``People``)."""
    return bool(user_id) and "teams" in policy.platforms and (
        user_id in roles(policy).advisors.users or is_manager(policy, user_id))


class Roster:
    """Whether a person is a member of a team, asked of the Bot Connector
    (``GET {serviceUrl}/v3/conversations/{team}/members/{user}``: 200 a member, 404 not)
    with the bot's token, and kept for ``ttl`` by the injected clock."""

    def __init__(self, http: aiohttp.ClientSession, tokens: Tokens, service_url: str, *,
                 clock: Callable[[], datetime], ttl: timedelta = MEMBERSHIP_TTL) -> None:
        self.http = http
        self.tokens = tokens
        self.service_url = service_url.rstrip("/") + "/"
        self.clock = clock
        self.ttl = ttl
        self._known: dict[tuple[str, str], tuple[bool, datetime]] = {}

    async def member(self, team: str, user: str) -> bool:
        """Whether ``user`` (an Entra object id) is in ``team`` now (within ``ttl``)."""
        now = self.clock()
        known = self._known.get((team, user))
        if known is not None and known[1] > now:
            return known[0]
        found = await self._ask(team, user)
        if found is not None:
            if len(self._known) > 10_000:  # a bound on memory, whatever happens
                self._known.clear()
            self._known[(team, user)] = (found, now + self.ttl)
        return bool(found)

    async def _ask(self, team: str, user: str) -> bool | None:
        """The roster's answer; None: it could not be had (not a member, not kept)."""
        url = (f"{self.service_url}v3/conversations/{quote(team, safe='')}"
               f"/members/{quote(user, safe='')}")
        try:
            token = await self.tokens.token()
            async with self.http.get(url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=TIMEOUT) as resp:
                if resp.status == 200:
                    return True
                if resp.status == 404:
                    return False
                log.warning("teams roster: answered %s; taken as not a member", resp.status)
                return None
        except Exception as exc:  # noqa: BLE001 - fail closed, whatever went wrong
            log.warning("teams roster: could not be asked (%s); taken as not a member",
                        type(exc).__name__)
            return None


class People:
    """The roles for the listeners: the policy's people, then its teams' rosters (none
    without a ``Roster``: a team then grants nothing)."""

    def __init__(self, policy: Policy, roster: Roster | None = None) -> None:
        self.policy = policy
        self.roster = roster

    async def _in_any(self, teams: tuple[str, ...], user: str) -> bool:
        if self.roster is None or not user:
            return False
        for team in teams:
            if await self.roster.member(team, user):
                return True
        return False

    async def is_manager(self, user: str) -> bool:
        """A MASH / CAF duty manager: may decide ratings, assign, snooze and close cards."""
        if is_manager(self.policy, user):
            return True
        return "teams" in self.policy.platforms and await self._in_any(
            roles(self.policy).managers.usergroups, user)

    async def is_advisor(self, user: str) -> bool:
        """A duty advisor (or a manager)."""
        if is_advisor(self.policy, user):
            return True
        return "teams" in self.policy.platforms and (
            await self._in_any(roles(self.policy).advisors.usergroups, user)
            or await self.is_manager(user))

    async def is_caf_team(self, user: str) -> bool:
        """The CAF team (as Slack's ``not_team``): a duty advisor or a manager; may act on
        any CAF episode."""
        return await self.is_advisor(user)
