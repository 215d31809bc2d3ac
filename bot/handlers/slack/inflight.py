"""Listener work in flight: Bolt runs each listener in a task of its own, which goes on after
the ack; a shutdown waits for them (``bot.server.running``)."""

from __future__ import annotations

import asyncio

from slack_bolt.async_app import AsyncApp
from slack_bolt.listener.async_listener_completion_handler import (
    AsyncListenerCompletionHandler,
)
from slack_bolt.listener.async_listener_start_handler import AsyncListenerStartHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse


class InFlight:
    """Counts listeners still working after their ack (Bolt runs each in a task of its own),
    so that a shutdown waits for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def install(self, app: AsyncApp) -> None:
        """Count every listener ``app`` runs, from its start to its completion."""
        runner = app.listener_runner
        runner.listener_start_handler = _Started(runner.listener_start_handler, self)
        runner.listener_completion_handler = _Completed(runner.listener_completion_handler, self)

    def enter(self) -> None:
        """A listener started."""
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        """A listener finished."""
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def idle(self) -> None:
        """Until no listener is running."""
        await self._idle.wait()


class _Started(AsyncListenerStartHandler):
    def __init__(self, inner: AsyncListenerStartHandler, tracker: InFlight) -> None:
        self.inner, self.tracker = inner, tracker

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        self.tracker.enter()  # before anything that may raise: completion always follows
        await self.inner.handle(request=request, response=response)


class _Completed(AsyncListenerCompletionHandler):
    def __init__(self, inner: AsyncListenerCompletionHandler, tracker: InFlight) -> None:
        self.inner, self.tracker = inner, tracker

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        try:
            await self.inner.handle(request=request, response=response)
        finally:
            self.tracker.leave()
