"""Prometheus metrics: one registry per running bot (tests run several in one process).

Every label is a bounded enum (a request's kind, an HTTP status, a delivery's result,
a clock's name from the policy, where a transaction ran): never a user, a channel,
a card or anything typed. Gauges about the database (outbox depth, reminders due)
are read when Prometheus scrapes, with the indexes the sweeps use, so what
``/metrics`` says is the database's state now, not a number cached in the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select

from store.models import OutboxMessage, Reminder
from store.runner import TxRunner
from store.types import utcnow

log = logging.getLogger("frontdoor.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A reminder still pending this long after it fell due means no sweep is running
# (the loop sweeps every 30 s).
OVERDUE_AFTER = timedelta(minutes=2)
# Slack wants its answer within 3 s: the buckets are finest where that is decided.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
TX_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# Slack's payload types, as the ``kind`` label says them.
_KINDS = {
    "block_actions": "action", "interactive_message": "action",
    "view_submission": "view", "view_closed": "view",
    "event_callback": "event", "url_verification": "event", "app_rate_limited": "event",
    "block_suggestion": "options", "dialog_suggestion": "options",
    "shortcut": "shortcut", "message_action": "shortcut",
}
KINDS = ("command", "action", "view", "event", "options", "shortcut", "other", "unknown")
RESULTS = ("sent", "retried", "ratelimited", "dead", "recovered")


def request_kind(body: Mapping[str, Any] | None) -> str:
    """A Slack request's kind (``unknown`` when it was refused before being read)."""
    if not isinstance(body, Mapping):
        return "unknown"
    if "command" in body:
        return "command"
    return _KINDS.get(str(body.get("type", "")), "other")


class Metrics:
    """The process's metrics and its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "frontdoor_slack_requests", "Requests from Slack, by kind and HTTP status answered.",
            ["kind", "status"], registry=r)
        self.ack_seconds = Histogram(
            "frontdoor_slack_ack_duration_seconds",
            "Time from receiving a Slack request to answering it (the ack), by kind.",
            ["kind"], buckets=ACK_BUCKETS, registry=r)
        self.deliveries = Counter(
            "frontdoor_outbox_deliveries",
            "Outbox delivery attempts by result: sent, retried (5xx, network), ratelimited "
            "(429), dead (given up), recovered (found already in Slack after a crash).",
            ["result"], registry=r)
        self.breaches = Counter(
            "frontdoor_sla_breaches",
            "SLA breaches announced by the reminder sweep, by clock.", ["clock"], registry=r)
        self.tx_seconds = Histogram(
            "frontdoor_db_transaction_duration_seconds",
            "Time inside database write transactions, by where they ran (loop: a turn of "
            "SQLite transactions on the event loop; thread; orm).",
            ["path"], buckets=TX_BUCKETS, registry=r)
        self._by_request: dict[tuple[str, int], tuple[Any, Any]] = {}
        for kind in KINDS:  # a series exists from the start, so a rate() has a zero
            self.ack_seconds.labels(kind)
        for result in RESULTS:
            self.deliveries.labels(result)

    def request(self, kind: str, status: int, seconds: float) -> None:
        """Count one answered Slack request."""
        # The labelled children, looked up once: ``labels()`` takes a lock and builds a
        # key on every call, on the path of every acknowledgement.
        pair = self._by_request.get((kind, status))
        if pair is None:
            pair = self._by_request[(kind, status)] = (
                self.requests.labels(kind, str(status)), self.ack_seconds.labels(kind))
        pair[0].inc()
        pair[1].observe(seconds)

    def delivery(self, result: str) -> None:
        """Count one outbox delivery attempt's result (one of ``RESULTS``)."""
        self.deliveries.labels(result).inc()

    def breach(self, clock: str) -> None:
        """Count an SLA breach on ``clock`` (a clock name from the policy)."""
        self.breaches.labels(clock or "unknown").inc()

    def transaction(self, path: str, seconds: float) -> None:
        """Observe one write transaction's time."""
        self.tx_seconds.labels(path).observe(seconds)

    def watch_database(self, runner: TxRunner, clock: Callable[[], datetime]) -> None:
        """Read the outbox and reminder gauges through ``runner`` at each scrape."""
        self.registry.register(DatabaseGauges(runner, clock))

    def render(self) -> bytes:
        """The text exposition (blocking: it reads the database; call it in a thread)."""
        return generate_latest(self.registry)


class DatabaseGauges(Collector):
    """Outbox depth and age, reminders due and overdue, read at scrape time."""

    def __init__(self, runner: TxRunner, clock: Callable[[], datetime]) -> None:
        self.runner = runner
        self.clock = clock

    def describe(self) -> list[Metric]:
        """Nothing up front: ``collect`` must not touch the database at registration."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Query the database now; a failed query says so in ``frontdoor_database_up``."""
        up = GaugeMetricFamily("frontdoor_database_up",
                               "1 when the metrics query reached the database, 0 otherwise.")
        try:
            depth, oldest, due, overdue = self._read(self.clock())
        except Exception as exc:  # noqa: BLE001 - a scrape must answer when the database doesn't
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("frontdoor_outbox_undelivered_messages",
                                "Outbox rows not yet delivered (pending or being sent).",
                                value=depth)
        yield GaugeMetricFamily("frontdoor_outbox_oldest_undelivered_age_seconds",
                                "Age of the oldest undelivered outbox row (0 when none).",
                                value=oldest)
        yield GaugeMetricFamily("frontdoor_reminders_due",
                                "Reminders due now and not yet sent (pending or claimed).",
                                value=due)
        yield GaugeMetricFamily("frontdoor_reminders_overdue",
                                "Reminders still not sent two minutes after they fell due.",
                                value=overdue)

    def _read(self, now: datetime) -> tuple[int, float, int, int]:
        open_ = OutboxMessage.status.in_(("pending", "sending"))  # type: ignore[attr-defined]
        waiting = Reminder.status.in_(("pending", "claimed"))  # type: ignore[attr-defined]
        with self.runner.session() as s:
            depth, first = s.execute(  # ix_outbox_status_next
                select(func.count(), func.min(OutboxMessage.created_at)).where(open_)).one()
            due = s.execute(select(func.count()).where(  # ix_reminder_status_due
                waiting, Reminder.due_at <= now)).scalar_one()  # type: ignore[arg-type]
            overdue = s.execute(select(func.count()).where(
                waiting, Reminder.due_at <= now - OVERDUE_AFTER,  # type: ignore[arg-type]
                or_(Reminder.status == "pending",
                    Reminder.claimed_until < now))).scalar_one()  # type: ignore[arg-type,operator]
        # Outbox rows are stamped with the real time (retries are about Slack, not the SLA
        # clock); reminders fall due on the service's clock.
        age = max(0.0, (utcnow() - first).total_seconds()) if first is not None else 0.0
        return int(depth), age, int(due), int(overdue)
