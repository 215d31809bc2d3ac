"""Who may do what: the policy's managers and advisors, by user ID or user group."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.policy import Policy, Role

log = logging.getLogger("frontdoor.roles")


class Roles:
    """Role checks; user-group members are looked up with usergroups.users.list and cached."""

    def __init__(
        self,
        policy: Policy,
        client: AsyncWebClient,
        *,
        ttl: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.client = client
        self.ttl = ttl
        self.monotonic = monotonic
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    async def is_manager(self, user_id: str) -> bool:
        """A MASH / CAF duty manager: may decide ratings, assign and close cards."""
        return await self._holds(self.policy.roles.managers, user_id)

    async def is_advisor(self, user_id: str) -> bool:
        """A duty advisor (or a manager): may answer consultations and read the log."""
        return await self._holds(self.policy.roles.advisors, user_id) or await self.is_manager(
            user_id
        )

    async def _holds(self, role: Role, user_id: str) -> bool:
        if user_id in role.users:
            return True
        for group in role.usergroups:
            if user_id in await self._members(group):
                return True
        return False

    async def _members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        now = self.monotonic()
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        try:
            resp = await self.client.usergroups_users_list(usergroup=group)
            members = frozenset(resp.get("users") or [])
        except SlackApiError as exc:
            # Fail closed: an unreadable group grants nothing, and says why in the log.
            log.warning("cannot read user group %s: %s", group, exc.response.get("error"))
            return cached[1] if cached else frozenset()
        self._groups[group] = (now, members)
        return members
