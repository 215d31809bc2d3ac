"""Being watched and stopped: readiness checks, listener work in flight, letting go of claims.

``/healthz`` says the process serves; ``/readyz`` says it should be sent work (the
database answers, its schema is at this version's head, the policy is loaded, and
it is not shutting down). On SIGTERM the bot stops listening, finishes what it
has started (requests, the work each does after its ack, counted by the chat
platform's package, e.g. ``bot.handlers.slack.inflight``, deliveries it claimed),
gives back the claims it still holds so another process takes them over at once,
and exits, all within ``FRONTDOOR_SHUTDOWN_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from store import claims
from store.migrate import current_revision, head_revision
from store.runner import TxRunner

log = logging.getLogger("frontdoor.lifecycle")
CHECK_TIMEOUT = 2.0  # seconds for the database to answer a readiness check
READY_CACHE = 1.0  # seconds a readiness answer is reused (a burst of probes, one query)


@dataclass
class Health:
    """Liveness and readiness of one running bot."""

    engine: Engine
    authority: str  # the loaded policy's authority ("" when none is loaded)
    head: str = field(default_factory=head_revision)
    draining: bool = False
    _last: tuple[float, bool, dict[str, Any]] | None = None

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        """Whether to send this process work, and which check failed if not."""
        if self.draining:
            return False, {"ok": False, "failed": "shutting_down"}
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < READY_CACHE:
            return self._last[1], self._last[2]
        ok, body = await self._check()
        self._last = (time.monotonic(), ok, body)
        return ok, body

    async def _check(self) -> tuple[bool, dict[str, Any]]:
        if not self.authority:
            return False, {"ok": False, "failed": "policy", "policy": "not loaded"}
        try:
            rev = await asyncio.wait_for(asyncio.to_thread(current_revision, self.engine),
                                         timeout=CHECK_TIMEOUT)
        except TimeoutError:
            return False, {"ok": False, "failed": "database",
                           "database": f"no answer within {CHECK_TIMEOUT:g} s"}
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            return False, {"ok": False, "failed": "database",
                           "database": f"unreachable ({type(exc).__name__})"}
        if rev != self.head:
            return False, {"ok": False, "failed": "migrations", "database": "reachable",
                           "revision": rev, "head": self.head}
        return True, {"ok": True, "database": "reachable", "revision": rev,
                      "policy": self.authority}


async def release_mine(runner: TxRunner, workers: dict[str, str], now: datetime) -> int:
    """At shutdown: end the leases this process's claimants hold (``{table: worker id}``),
    so another process takes the rows over now, not when the lease runs out. A row left
    ``sending`` is checked against Slack's history before it is sent again."""

    def release(tx: Any) -> int:
        return sum(claims.release_worker(tx.cx, table, worker, now)
                   for table, worker in workers.items())

    try:
        released, _ = await runner.run(release)
    except Exception:  # noqa: BLE001 - their leases still run out
        log.exception("could not release this process's claims")
        return 0
    if released:
        log.info("released %d claimed rows for other processes", released)
    return int(released)
