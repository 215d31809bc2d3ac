"""Write transactions for per-request work: a fast one, and the full one with the ORM.

Every click or typed answer is one transaction. What they write (a flow's new
state, the next question queued, a finished flow's referral, card and clocks)
``store.sql`` writes on the bare DBAPI connection: a ``Tx`` without a session.
Code that needs the ORM (walking a chain of linked consultations) asks for
``tx.session``, which on a fast transaction raises ``NeedsSession``; the runner
rolls back and runs the same action again in a full transaction, where
``tx.session`` is the ORM session and the fast statements share its connection.
So an action is written once and commits in one transaction either way.

``store.runner.TxRunner`` decides where and when a transaction runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from store import sql
from store.db import session_scope
from store.types import DEFAULT_PLATFORM, utcnow


class NeedsSession(Exception):
    """The action needs the ORM: run it again in a full transaction."""


class Tx:
    """One write transaction: fast statements (``store.sql``) and, when full, the ORM."""

    def __init__(
        self, cx: sql.Cx, session: Session | None = None, *, lease: sql.Lease | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._cx = cx
        self._session = session
        self.lease = lease
        self.clock = clock
        self.claimed: list[sql.OutboxRow] = []  # queued already claimed: send after commit
        self.queued = 0  # queued for the sweep

    @classmethod
    def of(cls, session: Session, *, lease: sql.Lease | None = None) -> Tx:
        """A full transaction around an open ORM session (sharing its connection)."""
        return cls(sql.Cx.of(session), session, lease=lease)

    @property
    def session(self) -> Session:
        """The ORM session; raises ``NeedsSession`` in a fast transaction."""
        if self._session is None:
            raise NeedsSession
        return self._session

    @property
    def full(self) -> bool:
        """Whether the ORM session is there."""
        return self._session is not None

    @property
    def cx(self) -> sql.Cx:
        """The connection for ``store.sql`` statements, in this transaction."""
        if self._session is not None:  # statements must see the ORM's pending changes
            return sql.Cx.of(self._session)
        return self._cx

    def enqueue(
        self, *, key: str, intent: str, payload: dict[str, Any], channel: str = "",
        subject_type: str | None = None, subject_id: int | None = None,
        not_before: datetime | None = None, claim: bool = False, platform: str = DEFAULT_PLATFORM,
    ) -> bool:
        """Queue an outgoing message once per ``key`` (see ``store.sql.enqueue``).

        ``claim``: this process sends it right after commit when it can (a lease
        was given and the channel has nothing else open).
        """
        row = sql.enqueue(
            self.cx, key=key, intent=intent, channel=channel, platform=platform,
            payload=payload, now=self.clock(), not_before=not_before,
            subject_type=subject_type, subject_id=subject_id,
            lease=self.lease if claim else None,
        )
        if isinstance(row, sql.OutboxRow):
            self.claimed.append(row)
            return True
        self.queued += row
        return row

    def claim_event(self, event_id: str) -> bool:
        """Record a platform's event id; False when it was already handled."""
        return sql.claim_event(self.cx, event_id, self.clock())

    def claim_once(self, key: str, now: datetime) -> bool:
        """Record a request's once-key at ``now``; False when it was already taken."""
        return sql.claim_once(self.cx, key, now)

    def audit(
        self, *, actor: str, action: str, subject_type: str, subject_id: Any, old: Any = None,
        new: Any = None, reason: str | None = None, at: datetime | None = None,
    ) -> None:
        """Append an audit entry: who, when, what, from what, to what, why."""
        sql.audit(self.cx, at=at or self.clock(), actor=actor, action=action,
                  subject_type=subject_type, subject_id=subject_id, old=old, new=new,
                  reason=reason)


Db = Session | Tx  # what code that only needs the fast statements accepts


def as_tx(db: Db) -> Tx:
    """``db`` as a ``Tx`` (a session is wrapped in a full one)."""
    return db if isinstance(db, Tx) else Tx.of(db)


@contextlib.contextmanager
def write_tx(engine: Engine, *, lease: sql.Lease | None = None) -> Iterator[Tx]:
    """A full write transaction (ORM session and fast statements), committed on success."""
    with session_scope(engine, write=True) as s:
        yield Tx.of(s, lease=lease)
