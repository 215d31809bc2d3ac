"""The fake Slack Web API in its own process, for the load and memory benchmarks.

``python -m bench.fakeapi --port 0 --users 200`` serves :class:`BenchFake` (a
:class:`bot.sandbox.webapi.FakeSlack`) seeded like the tests' workspace (the
demo people and the policy's channels) plus ``--users`` load users
``U0LOAD0001``..., and prints one JSON line ``{"ready": true, "port": N}``.

Two changes make it fit for long runs, both about the fake's own memory, not
the bot's: calls are counted instead of recorded, and every channel keeps only
its newest messages (trimmed every second from inside this process).

Besides Slack's ``/api/<method>`` it answers, for the load generator:

* ``GET /bench/next?channel=D...&after=TS&timeout=S`` - long-polls for the
  newest bot message in a DM that is newer than ``TS`` (``{"message": null}``
  after ``S`` seconds);
* ``GET /bench/stats`` - calls per method, API errors, stored messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter, defaultdict
from typing import Any

from aiohttp import web

from bot.policy import load_policy
from bot.sandbox import demo
from bot.sandbox.webapi import Call, FakeSlack

TOKEN = "xoxb-bench-token"
KEEP = 50  # messages kept per channel (and ephemerals per person and channel)
TRIM_EVERY = 1.0  # seconds


def load_user(i: int) -> str:
    """The id of the ``i``-th load user (1-based): ``U0LOAD0001``."""
    return f"U0LOAD{i:04d}"


def dm_of(user_id: str) -> str:
    """The DM channel id the fake gives a user (``D`` + the id without its ``U``)."""
    return "D" + user_id[1:]


def ts_key(ts: str) -> int:
    """A Slack ``ts`` as an integer of microseconds (exact, unlike a float)."""
    seconds, _, micros = ts.partition(".")
    return int(seconds) * 1_000_000 + int((micros + "000000")[:6])


class BenchFake(FakeSlack):
    """FakeSlack with bounded memory and a long-poll for a DM's newest bot message."""

    def __init__(self, *, keep: int = KEEP, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keep = keep
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latest: dict[str, dict[str, Any]] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self.app.router.add_get("/bench/next", self._handle_next)
        self.app.router.add_get("/bench/stats", self._handle_stats)

    async def _record(self, call: Call) -> None:
        # Count, do not keep: a long run would otherwise hold every call forever.
        self.counts[call.method] += 1
        if call.response is not None and not call.response.get("ok"):
            self.errors[f"{call.method}:{call.response.get('error')}"] += 1

    def _store(
        self, channel_id: str, msg: dict[str, Any], *, thread_ts: str | None, broadcast: bool
    ) -> None:
        super()._store(channel_id, msg, thread_ts=thread_ts, broadcast=broadcast)
        if channel_id.startswith("D") and msg.get("bot_id"):
            self.latest[channel_id] = msg
            for fut in self._waiters.pop(channel_id, []):
                if not fut.done():
                    fut.set_result(None)

    def trim(self) -> None:
        """Keep only the newest ``keep`` messages per channel; forget used response URLs."""
        for cid, msgs in self.messages.items():
            if len(msgs) > self.keep:
                for old in msgs[: len(msgs) - self.keep]:
                    self._index.pop((cid, old["ts"]), None)
                del msgs[: len(msgs) - self.keep]
        for msgs in self.ephemerals.values():
            if len(msgs) > self.keep:
                del msgs[: len(msgs) - self.keep]
        self._response_targets.clear()
        self.trigger_users.clear()
        self._used_triggers.clear()

    async def _handle_next(self, request: web.Request) -> web.Response:
        channel = request.query["channel"]
        after = ts_key(request.query.get("after") or "0")
        timeout = float(request.query.get("timeout") or 10)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = self.latest.get(channel)
            if msg is not None and ts_key(msg["ts"]) > after:
                return web.json_response({"message": msg})
            left = deadline - loop.time()
            if left <= 0:
                return web.json_response({"message": None})
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters[channel].append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, timeout=left)

    async def _handle_stats(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "calls": dict(self.counts),
            "errors": dict(self.errors),
            "messages": sum(len(m) for m in self.messages.values()),
            "channels": len(self.messages),
        })


def build(users: int, *, token: str = TOKEN, policy: str | None = None) -> BenchFake:
    """A seeded fake: the demo workspace for ``policy`` plus ``users`` load users."""
    fake = BenchFake(tokens=[token])
    demo.seed(fake, load_policy(policy or os.environ.get("FRONTDOOR_POLICY") or None))
    for i in range(1, users + 1):
        uid = load_user(i)
        fake.add_user(uid, f"load.user{i:04d}", real_name=f"Load User {i:04d}")
    return fake


async def serve(port: int, users: int, token: str) -> None:
    """Serve until SIGTERM/SIGINT, trimming history every second."""
    fake = build(users, token=token)
    await fake.start("127.0.0.1", port)
    bound = int(fake.root_url.rsplit(":", 1)[1])
    print(json.dumps({"ready": True, "port": bound, "base_url": fake.base_url}), flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=TRIM_EVERY)
        fake.trim()
    await fake.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.fakeapi [--port N] [--users N] [--token T]``."""
    p = argparse.ArgumentParser(prog="python -m bench.fakeapi", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    p.add_argument("--users", type=int, default=200, help="load users to seed")
    p.add_argument("--token", default=TOKEN)
    args = p.parse_args(argv)
    asyncio.run(serve(args.port, args.users, args.token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
