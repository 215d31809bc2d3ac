"""One flow action, as any platform's listener runs it: in one transaction with the
messages it queues and the request's once-key, committed when this returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlmodel import Session

from bot.flows.guided.models import Step
from bot.flows.guided.service import Effects
from store.sql import Lease
from store.tx import Tx, as_tx

if TYPE_CHECKING:
    from bot.services import Services


class Duplicate(Exception):
    """The request's once-key was taken before: a redelivery, dropped."""


R = TypeVar("R")


def once_then(once: str | None, then: Callable[[Session, R], None]
              ) -> Callable[[Session, R], None]:
    """Effects for a card or consultation decision: claim the request's once-key in the
    decision's own transaction (a redelivered request raises ``Duplicate`` there, and the
    decision rolls back with it), then queue its messages with ``then``."""

    def effects(s: Session, result: R) -> None:
        if once and not as_tx(s).claim_event(once):
            raise Duplicate
        then(s, result)

    return effects


async def drive(sv: Services, user: str, action: Callable[[Tx, Effects], Step], *,
                once: str | None = None, lease: Lease | None = None
                ) -> tuple[Step, bool, Tx]:
    """(step, whether it changed the flow, the committed transaction). Raises
    ``Duplicate`` for a once-key taken before (it waits for the first delivery's
    transaction first), and the service's ``Conflict`` when another action came first."""

    def attempt(tx: Tx) -> tuple[Step, bool]:
        applied = False
        if once and not tx.claim_event(once):
            raise Duplicate

        def effects(tx: Tx, step: Step) -> None:
            nonlocal applied
            applied = True
            sv.guided_messaging.flow_step(tx, user, step, sv.clock())

        return action(tx, effects), applied

    (step, applied), sent = await sv.tx.run(attempt, lease=lease)
    return step, applied, sent
