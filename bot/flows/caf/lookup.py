"""Looking CAF episodes up: one by its EHM reference, and the open ones in a list.

Platform-neutral data for ``/caf EHM-20417``, ``/caf list``, ``/caf list @lead`` and
``/caf mine``: each platform's listener draws it. Open CAFs come overdue first (the
meeting's due date has passed), then by the next meeting's due date, soonest first;
one with no due date last. Who may see what is the listener's rule (the CAF team sees
every CAF; a lead professional or co-ordinator their own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select

from bot.flows.caf.service import normalise_reference
from bot.policy import Policy
from store.models import CafEpisode
from store.runner import TxRunner, threaded
from store.types import utcnow

SHOWN = 20  # a list longer than this says how many more


@dataclass(frozen=True)
class CafView:
    """One episode as shown: its state, its people and when the next meeting is due."""

    episode: CafEpisode
    overdue: bool  # the next meeting's due date has passed and it is not recorded
    late_days: int  # how many days past its due date (0 when not overdue)


@dataclass(frozen=True)
class CafList:
    """Open episodes, overdue first, and how many there are in all."""

    views: list[CafView]
    total: int

    @property
    def overdue(self) -> int:
        """How many of those shown are overdue."""
        return sum(1 for v in self.views if v.overdue)


class CafLookup:
    """Read-only queries over CAF episodes, as of the service's clock in the policy's zone."""

    def __init__(self, tx: TxRunner, policy: Policy,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.tx = tx
        self.policy = policy
        self.clock = clock

    def today(self) -> date:
        """The authority's local date now."""
        return self.clock().astimezone(self.policy.tz).date()

    def view(self, ep: CafEpisode, today: date | None = None) -> CafView:
        """``ep`` with whether its meeting is overdue (only an open CAF's can be)."""
        today = today or self.today()
        due = ep.next_meeting_due
        late = (today - due).days if ep.status == "open" and due is not None else 0
        return CafView(ep, late > 0, max(late, 0))

    def one(self, ehm_reference: str) -> CafView | None:
        """The episode with this reference (open or closed), or None."""
        with self.tx.session() as s:
            stmt = select(CafEpisode).where(
                CafEpisode.ehm_reference == normalise_reference(ehm_reference))  # type: ignore[arg-type]
            ep = s.exec(stmt).scalars().first()  # type: ignore[call-overload]
        return self.view(ep) if ep is not None else None

    def open_list(self, *, lead: str | None = None, involving: str | None = None,
                  limit: int = SHOWN) -> CafList:
        """Open episodes (led by ``lead``; or with ``involving`` as lead or co-ordinator),
        overdue first, then by the next meeting's due date."""
        with self.tx.session() as s:
            stmt = select(CafEpisode).where(CafEpisode.status == "open")  # type: ignore[arg-type]
            if lead is not None:
                stmt = stmt.where(CafEpisode.lead_user_id == lead)  # type: ignore[arg-type]
            if involving is not None:
                stmt = stmt.where(or_(CafEpisode.lead_user_id == involving,  # type: ignore[arg-type]
                                      CafEpisode.coordinator_user_id == involving))  # type: ignore[arg-type]
            total = int(s.exec(select(func.count()).select_from(  # type: ignore[call-overload]
                stmt.subquery())).scalar_one())
            # An earlier due date is the more overdue one, so one ascending order puts the
            # overdue first; a CAF with no due date goes last.
            due = CafEpisode.next_meeting_due
            stmt = stmt.order_by(due.is_(None), due, CafEpisode.ehm_reference).limit(limit)  # type: ignore[union-attr,arg-type]
            eps = list(s.exec(stmt).scalars())  # type: ignore[call-overload]
        today = self.today()
        return CafList([self.view(ep, today) for ep in eps], total)

    aone = threaded(one)
    aopen_list = threaded(open_list)
