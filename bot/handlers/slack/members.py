"""Is this a person in the workspace? Checked at the door before a request runs.

A request naming a user the workspace does not have ("", "W123", an unknown or
deleted "U...", a bot) started a flow whose DMs could only dead-letter, each
dead letter an alert in the escalation channel (issue 15). The id's shape is
checked first (no call for junk); then ``users.info``, remembered per process
for a while: people come and go far more slowly than they click.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("frontdoor.members")
USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
KNOWN_FOR = 600.0  # seconds a person found is taken as still there
UNKNOWN_FOR = 60.0  # seconds an id not found is refused without asking again
MAX_REMEMBERED = 10_000  # ids held; past it the memory starts afresh
_NOT_THERE = {"user_not_found", "user_not_visible"}


class Members:
    """Who may act: people of the workspace, not deleted, not bots (cached with a TTL)."""

    def __init__(self, client: AsyncWebClient, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock
        self._seen: dict[str, tuple[bool, float]] = {}  # id -> (a person?, until)
        self.lookups = 0  # users.info calls made (tests read it)

    async def is_person(self, user: object) -> bool:
        """Whether ``user`` is a person of this workspace who may act."""
        if not isinstance(user, str) or not USER_ID.fullmatch(user):
            return False
        now = self.clock()
        seen = self._seen.get(user)
        if seen is not None and seen[1] > now:
            return seen[0]
        verdict = await self._lookup(user)
        if verdict is None:
            return True  # Slack did not answer: let the person through, ask next time
        if len(self._seen) >= MAX_REMEMBERED:
            self._seen.clear()
        self._seen[user] = (verdict, now + (KNOWN_FOR if verdict else UNKNOWN_FOR))
        return verdict

    async def _lookup(self, user: str) -> bool | None:
        self.lookups += 1
        try:
            resp = await self.client.users_info(user=user)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in _NOT_THERE:
                return False
            log.warning("users.info failed (%s): letting the request through", error)
            return None
        except Exception as exc:  # noqa: BLE001 - a network fault must not refuse people
            log.warning("users.info failed (%s): letting the request through",
                        type(exc).__name__)
            return None
        found = resp.get("user") or {}
        return bool(found) and not found.get("deleted") and not found.get("is_bot")
