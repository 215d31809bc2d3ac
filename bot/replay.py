"""A state-changing request is taken once: a replay of it is answered and dropped.

Slack's signature covers the body and a timestamp, and has no nonce: the same
signed bytes sent again within its five minutes verified again, and a "Stuck"
CAF submission replayed twice moved the CAF two more stages (issue 15). Each
click, modal submission, shortcut and slash command is remembered by a key
Slack sends once (over HTTP its request signature, unique per body and
timestamp; in Socket Mode the envelope ID) in ``request_replay``, shared by
every replica; the first insert wins. Keys are kept well past the signature's
window (after it the replay is refused as stale) and then purged by the sweep.
Events are not recorded here: a typed answer is taken once by its ``event_id``
in the flow's own transaction.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from store import sql
from store.runner import TxRunner

KEEP = timedelta(minutes=15)  # Slack's signature is good for 5
MAX_KEY = 128


def key(kind: str, value: str) -> str:
    """The stored key for a request's once-value (hashed when it would be too long)."""
    k = f"{kind}:{value}"
    if len(k) > MAX_KEY:
        k = f"{kind}#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return k


async def first_time(runner: TxRunner, once: str, now: datetime) -> bool:
    """Record ``once``; False when some process (this or another) already did."""
    taken, _ = await runner.run(lambda tx: tx.claim_once(once, now))
    return taken


async def forget(runner: TxRunner, once: str) -> None:
    """Take ``once`` back: the request it let in ran nothing (Bolt had no listener)."""
    await runner.run(lambda tx: sql.forget_once(tx.cx, once))


def purge(cx: sql.Cx, now: datetime) -> int:
    """Forget keys older than ``KEEP``; how many."""
    return sql.purge_once(cx, now - KEEP)
