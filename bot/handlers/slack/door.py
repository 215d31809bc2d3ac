"""The door: what a verified Slack request must pass before Bolt runs it.

Over HTTP (``bot.server``) and in Socket Mode (:class:`SocketModeDoor`) alike:
the body's shape (``bot.handlers.slack.envelope``: malformed is a 400, a kind the bot does not
use a 200), the person acting (``bot.handlers.slack.members``: not a person of the workspace,
a 200 that does nothing), and, for a request that changes state, that it was
not taken before (``bot.replay``: a replay, a 200 that does nothing). Only a
request that passes all three reaches Bolt, and only such a one writes its
replay key: a refused request changes nothing in the database.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy.exc import DBAPIError

from bot import replay
from bot.handlers.slack import envelope
from bot.handlers.slack.members import Members
from store.runner import TxRunner
from store.types import utcnow

log = logging.getLogger("frontdoor.door")
NOT_A_PERSON = "Front Door takes requests only from people in this workspace."


@dataclass(frozen=True)
class Answer:
    """The door's own answer to a request it does not pass on."""

    status: int
    text: str = ""


class Door:
    """Checks a decoded body; ``None`` means: hand it to Bolt."""

    def __init__(self, runner: TxRunner, members: Members, *,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.runner = runner
        self.members = members
        self.now = now  # real time: replay keys are about Slack's signature window
        self.counts: Counter[str] = Counter()  # what the door stopped, by reason

    async def admit(self, body: Any, once: str | None) -> Answer | None:
        """``None`` to pass ``body`` on, else the answer; ``once`` is its replay key."""
        try:
            env = envelope.read(body)
        except envelope.Malformed:
            self.counts["malformed"] += 1
            return Answer(400, "bad request")
        if not env.handled:
            self.counts["unused"] += 1
            return Answer(200)
        if env.user is not None and not await self.members.is_person(env.user):
            self.counts["not a person"] += 1
            return Answer(200, NOT_A_PERSON if env.kind == "command" else "")
        if env.changes and once is not None and not await self._first_time(once):
            self.counts["replay"] += 1
            return Answer(200)
        return None

    async def ran_nothing(self, once: str) -> None:
        """The request passed here and Bolt had no listener for it (its 404): forget its
        key, so that a request refused either way leaves the database as it was."""
        try:
            await replay.forget(self.runner, once)
        except DBAPIError as exc:
            log.warning("could not forget a request (%s)", type(exc.orig).__name__)

    async def _first_time(self, once: str) -> bool:
        try:
            return await replay.first_time(self.runner, once, self.now())
        except DBAPIError as exc:
            # The database is not taking writes: the request's own work cannot change
            # anything either, and its listener tells the person to try again.
            log.warning("could not record a request (%s)", type(exc.orig).__name__)
            return True


class SocketModeDoor(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler behind the door: a refused envelope is acked and
    dropped, and nothing an envelope holds stops the connection's loop."""

    def __init__(self, app: AsyncApp, app_token: str, door: Door) -> None:
        super().__init__(app, app_token)
        self.door = door

    async def handle(self, client: SocketModeClient,  # type: ignore[override]
                     req: SocketModeRequest) -> None:
        """Check the envelope, then let Bolt run it (and ack) or ack it here."""
        envelope_id = req.envelope_id if isinstance(req.envelope_id, str) else None
        if envelope_id is None:
            self.door.counts["malformed"] += 1
            return  # nothing to ack it by
        try:
            answer = await self.door.admit(req.payload, replay.key("env", envelope_id))
            if answer is None:
                await super().handle(client, req)
                return
        except Exception as exc:  # noqa: BLE001 - one line, and the envelope is acked
            log.error("socket mode envelope failed: %s", type(exc).__name__)
            answer = Answer(500)
        payload = {"text": answer.text} if answer.text and req.accepts_response_payload else None
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=envelope_id, payload=payload))
