"""Sweep scale: the reminder sweep's cost with 10k, 100k and 1M open reminders.

For each size and backend: a fresh database (a SQLite file, or a new
PostgreSQL database), the schema by Alembic, ``N`` pending reminders bulk
inserted (SQLAlchemy Core ``executemany`` in big transactions) of which
``due`` are due and the rest due over the coming weeks, then
``ReminderSweep(sv, batch=...).run(now)`` timed while it claims and processes
the due ones. The reminder kind is a registered test kind (as in
``tests/test_fault_sweep.py``) that queues one outbox row, so processing does
the real per-reminder work: claim, load, one transaction with an outbox insert.

The figure that must stay flat as ``N`` grows is the sweep time (and due/s);
the claim time and an empty sweep (nothing due: what every replica pays
every 30 s) are shown beside it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from bot import intents, jobs
from bot.config import Settings
from bot.policy import load_policy
from bot.reminders import ReminderSweep
from bot.services import Services
from store.db import database_url, make_engine
from store.migrate import upgrade
from store.models import OutboxMessage, Reminder

KIND = "bench_ping"
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
CHUNK = 50_000


def bench_ping(s: Session, sv: Services, r: Reminder, now: dt.datetime) -> bool:
    """The test kind: one outbox row per reminder, like a real nudge."""
    intents.queue(s, intents.NOTICE, key=f"bench:{r.id}",
                  to=intents.conversation("C0ESCALATE"), data={"text": f"reminder {r.subject_id}"})
    return True


class TimedSweep(ReminderSweep):
    """A ReminderSweep that adds up the time spent claiming."""

    claim_seconds = 0.0
    claims = 0

    def claim(self, now: dt.datetime) -> list[int]:
        """Claim as usual, timed."""
        t0 = time.perf_counter()
        try:
            return super().claim(now)
        finally:
            self.claim_seconds += time.perf_counter() - t0
            self.claims += 1


def rows(n: int, due: int, now: dt.datetime) -> Iterator[dict[str, Any]]:
    """``n`` pending reminders; ``due`` of them (spread evenly) are due before ``now``."""
    step = max(1, n // max(1, due))
    made_due = 0
    for i in range(n):
        is_due = made_due < due and i % step == 0
        if is_due:
            made_due += 1
            at = now - dt.timedelta(seconds=1 + i % 3600)
        else:
            at = now + dt.timedelta(hours=1) + dt.timedelta(seconds=i % (60 * 86_400))
        yield {"key": f"bench:{i}", "kind": KIND, "subject_type": "bench", "subject_id": i,
               "due_at": at, "status": "pending", "payload": {}, "sent_count": 0,
               "attempts": 0, "created_at": now}


def fill(engine: Engine, n: int, due: int, now: dt.datetime) -> float:
    """Insert the reminders in transactions of ``CHUNK`` rows; returns seconds taken."""
    t0 = time.perf_counter()
    table = Reminder.__table__  # type: ignore[attr-defined]
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows(n, due, now):
            batch.append(row)
            if len(batch) >= CHUNK:
                conn.execute(table.insert(), batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)
    with engine.connect() as conn:
        # A table that grew to N rows in production has been vacuumed as it grew; a
        # fresh bulk load has not, and the first reads after it set hint bits and
        # flush pages while they are timed. (SQLite has neither: ANALYZE is enough.)
        sql = "ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(sql))
    return time.perf_counter() - t0


def add_due(engine: Engine, start: int, due: int, now: dt.datetime) -> None:
    """``due`` more due reminders, keys from ``start`` on (for another timed round)."""
    batch = [{**row, "key": f"bench:{start + i}", "subject_id": start + i}
             for i, row in enumerate(rows(due, due, now))]
    with engine.begin() as conn:
        conn.execute(Reminder.__table__.insert(), batch)  # type: ignore[attr-defined]


def claim_plan(engine: Engine, now: dt.datetime) -> str:
    """The database's plan for the claim query (one line per step)."""
    due = ((Reminder.status == "pending") & (Reminder.due_at <= now)) | (  # type: ignore[arg-type,operator]
        (Reminder.status == "claimed") & (Reminder.claimed_until < now))  # type: ignore[arg-type,operator]
    stmt = select(Reminder.id).where(due).order_by(Reminder.due_at).limit(500)  # type: ignore[arg-type]
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": False})
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        params = compiled.construct_params()
        out = conn.exec_driver_sql(prefix + str(compiled), _positional(engine, compiled, params))
        lines = [" ".join(str(c) for c in r[-1:]) for r in out]
    return " | ".join(lines)


def _positional(engine: Engine, compiled: Any, params: dict[str, Any]) -> Any:
    processors = compiled._bind_processors  # noqa: SLF001 - only for EXPLAIN's parameters
    values = {k: processors[k](v) if k in processors else v for k, v in params.items()}
    if engine.dialect.paramstyle in ("qmark", "numeric"):
        return tuple(values[k] for k in compiled.positiontup)
    return values


@contextmanager
def database(backend: str, workdir: Path, postgres: str | None) -> Iterator[str]:
    """A fresh, empty database URL (the PostgreSQL one is dropped afterwards)."""
    if backend == "sqlite":
        path = workdir / f"sweep-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert postgres
    admin = create_engine(database_url(postgres), isolation_level="AUTOCOMMIT")
    name = f"fd_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url(postgres)).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


async def one(backend: str, size: int, due: int, workdir: Path, postgres: str | None,
              batch: int, repeat: int = 3) -> dict[str, Any]:
    """Fill a fresh database with ``size`` reminders and time the sweep of the due ones.

    ``repeat`` rounds (each adding ``due`` fresh due reminders); the median round is reported.
    """
    policy = load_policy("cambridgeshire")
    settings = Settings(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/")
    with database(backend, workdir, postgres) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            fill_s = await asyncio.to_thread(fill, engine, size, due, NOW)
            plan = claim_plan(engine, NOW)
            runs: list[tuple[float, float, float]] = []
            async with aiohttp.ClientSession() as http:
                sv = Services.build(settings, policy, engine, http, pace=0)
                for r in range(repeat):
                    if r:  # another round: ``due`` fresh due reminders among the same open ones
                        await asyncio.to_thread(add_due, engine, size + r * due, due, NOW)
                    sweep = TimedSweep(sv, worker_id=f"bench-{r}", batch=batch)
                    t0 = time.perf_counter()
                    stats = await asyncio.to_thread(sweep.run, NOW)
                    seconds = time.perf_counter() - t0
                    t1 = time.perf_counter()
                    empty = await asyncio.to_thread(TimedSweep(sv, worker_id="idle").run, NOW)
                    empty_s = time.perf_counter() - t1
                    if stats.claimed != due or empty.claimed:
                        raise AssertionError(f"{backend} {size}: claimed {stats.claimed} of {due}"
                                             f", then {empty.claimed} more")
                    runs.append((seconds, sweep.claim_seconds, empty_s))
            with engine.connect() as conn:
                outbox = conn.execute(select(func.count()).select_from(OutboxMessage)).scalar()
                done = conn.execute(select(func.count()).select_from(Reminder)
                                    .where(Reminder.status == "done")).scalar()  # type: ignore[arg-type]
        finally:
            engine.dispose()
    if outbox != due * repeat or done != due * repeat:
        raise AssertionError(f"{backend} {size}: outbox {outbox}, done {done}; "
                             f"wanted {due * repeat}")
    seconds, claim_s, empty_s = sorted(runs)[len(runs) // 2]  # the median round
    return {
        "backend": backend, "open": size, "due": due, "fill_s": round(fill_s, 2),
        "sweep_s": round(seconds, 3), "claim_s": round(claim_s, 4),
        "process_s": round(seconds - claim_s, 3), "due_per_s": round(due / seconds),
        "empty_sweep_ms": round(empty_s * 1000, 1),
        "rounds_s": [round(r[0], 3) for r in runs], "plan": plan,
    }


async def run(sizes: list[int], *, due: int = 1000, postgres: str | None = None,
              batch: int = 500, repeat: int = 3,
              say: Callable[[str], None] = print) -> dict[str, Any]:
    """Every size on SQLite, and on PostgreSQL when a URL is given."""
    backends = ["sqlite"] + (["postgresql"] if postgres else [])
    results: list[dict[str, Any]] = []
    previous = jobs.NUDGES.get(KIND)
    jobs.NUDGES[KIND] = bench_ping
    try:
        with tempfile.TemporaryDirectory(prefix="fd-sweep-") as tmp:
            for backend in backends:
                for size in sizes:
                    say(f"  sweep: {backend}, {size:,} open reminders ...")
                    r = await one(backend, size, min(due, size), Path(tmp), postgres, batch, repeat)
                    say(f"    filled in {r['fill_s']} s; sweeps {r['rounds_s']} s "
                        f"(median: claim {r['claim_s']} s), {r['due_per_s']} due/s")
                    results.append(r)
    finally:
        if previous is None:
            jobs.NUDGES.pop(KIND, None)
        else:
            jobs.NUDGES[KIND] = previous
    return {"due": due, "batch": batch, "repeat": repeat, "rows": results,
            "postgres": "skipped: no --postgres URL or TEST_POSTGRES_URL" if not postgres
            else "yes"}
