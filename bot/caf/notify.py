"""From CAF state changes to outbox rows (called inside the transaction that made them).

Every message is queued with an idempotency key built from the episode's
``version`` (or the reminder's key), so a retried action or sweep queues it once.

DMs that carry buttons have ``:act:`` in their key. When the meeting they are
about is dealt with (held, rearranged, closed), every such DM already delivered
is redrawn without its buttons (``chat.update`` on the delivered ``ts``), and
one fresh DM with the buttons for the next meeting goes to the lead
professional and the co-ordinator: there is always one live set of buttons.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot.caf.service import CafResult, CafService
from bot.handlers.slack.blocks import caf as blocks
from bot.messaging import Messaging
from bot.policy import Policy
from store import repo
from store.models import CafEpisode, CafMeeting, OutboxMessage

POST = "chat.postMessage"
UPDATE = "chat.update"


def recipients(ep: CafEpisode) -> list[str]:
    """The lead professional and the co-ordinator (once each, whoever is set)."""
    out: list[str] = []
    for user in (ep.lead_user_id, ep.coordinator_user_id):
        if user and user not in out:
            out.append(user)
    return out


def post(s: Session, channel: str, msg: dict[str, Any], key: str) -> None:
    """Queue a channel message."""
    repo.enqueue(s, key=key, intent=POST, channel=channel, payload={"channel": channel, **msg},
                 subject_type="caf")


def redraw_done(s: Session, ep: CafEpisode, text: str) -> int:
    """Redraw this episode's delivered button DMs as dealt with; returns how many."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.idempotency_key.like(f"caf:{ep.id}:%:act:%"))  # type: ignore[attr-defined]
        .where(OutboxMessage.intent == POST)  # type: ignore[arg-type]
        .where(OutboxMessage.status == "sent")  # type: ignore[arg-type]
        .where(OutboxMessage.message_id.is_not(None))  # type: ignore[union-attr]
    )
    rows = list(s.exec(stmt).scalars())  # type: ignore[call-overload]
    for row in rows:
        repo.enqueue(s, key=f"caf:{ep.id}:v{ep.version}:redraw:{row.id}", intent=UPDATE,
                     channel=row.channel,
                     payload={"channel": row.channel, "ts": row.message_id,
                              **blocks.done_dm(ep, text)})
    return len(rows)


class CafNotifier:
    """The ``effects`` callback for :class:`CafService` actions taken in Slack."""

    def __init__(self, policy: Policy, messaging: Messaging, service: CafService) -> None:
        self.policy = policy
        self.messaging = messaging
        self.service = service

    def __call__(self, s: Session, result: CafResult) -> None:
        """Queue what ``result`` should show."""
        ep = result.episode
        if ep is None or not result.ok:
            return
        handler = getattr(self, f"_on_{result.action}", None)
        if handler is not None:
            handler(s, ep, result)

    def _dm_all(self, s: Session, ep: CafEpisode, what: str,
                render: Any) -> None:
        for user in recipients(ep):
            self.messaging.dm(s, user, render(user), f"caf:{ep.id}:v{ep.version}:{what}:act:{user}")

    def _on_register(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        self._dm_all(s, ep, "registered",
                     lambda u: blocks.registered_dm(ep, u, result.actor, self.policy))

    def _on_route(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        card = result.card
        if card is not None:
            self.messaging.update_card(s, card)
        if result.linked and card is not None:
            self._dm_all(s, ep, f"linked:{card.id}",
                         lambda _u: blocks.linked_dm(ep, card, result.actor, self.policy))
        else:
            self._on_register(s, ep, result)

    def _changed(self, s: Session, ep: CafEpisode, text: str) -> None:
        redraw_done(s, ep, text)
        live = ep.status == "open"
        self._dm_all(s, ep, "update", lambda _u: blocks.update_dm(
            ep, text, self.policy if live else None))

    def _on_held(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        held = result.on or ep.last_meeting_on or ep.completed_on
        self._changed(s, ep, blocks.held_text(ep, held, result.actor))

    def _on_rearranged(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        self._changed(s, ep, blocks.rearranged_text(ep, result.actor))

    def _on_close(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        self._changed(s, ep, blocks.closed_text(ep, result.actor))
        duty = self.policy.channel("early_help_duty")
        post(s, duty, blocks.closed_post(ep, result.actor), f"caf:{ep.id}:v{ep.version}:closed")

    def _on_lead(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        text = blocks.lead_text(ep, result.actor)
        redraw_done(s, ep, text)
        for user in recipients(ep):
            msg = (blocks.registered_dm(ep, user, result.actor, self.policy)
                   if user == ep.lead_user_id else blocks.update_dm(ep, text))
            self.messaging.dm(s, user, msg, f"caf:{ep.id}:v{ep.version}:lead:act:{user}")
        post(s, self.policy.channel("escalation"), blocks.update_dm(ep, text),
             f"caf:{ep.id}:v{ep.version}:lead:escalation")

    def _on_stuck(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        key = f"caf:{ep.id}:v{ep.version}:stuck"
        stage, note, actor = result.stage, result.note, result.actor
        if stage == "coordinator" and ep.coordinator_user_id:
            self.messaging.dm(s, ep.coordinator_user_id,
                              blocks.stuck_coordinator_dm(ep, actor, note),
                              f"{key}:act:{ep.coordinator_user_id}")
        elif stage == "caf_social_worker":
            post(s, self.policy.channel("early_help_duty"),
                 blocks.stuck_duty_post(ep, actor, note, self.policy), f"{key}:duty")
        elif stage == "panel":
            months, held = self._progress(s, ep)
            post(s, self.policy.channel("escalation"),
                 blocks.panel_post(ep, note, months, held), f"{key}:panel")
            for user in recipients(ep):
                self.messaging.dm(s, user, blocks.panel_told_dm(ep), f"{key}:told:{user}")

    def _progress(self, s: Session, ep: CafEpisode) -> tuple[int, int]:
        today = self.service.today()
        months = max(0, (today.year - ep.completed_on.year) * 12
                     + today.month - ep.completed_on.month
                     - (1 if today.day < ep.completed_on.day else 0))
        held = s.exec(select(CafMeeting).where(  # type: ignore[call-overload]
            CafMeeting.episode_id == ep.id).where(CafMeeting.held_on.is_not(None))  # type: ignore[arg-type,union-attr]
        ).scalars().all()
        return months, len({m.held_on for m in held})


def nudge_dms(s: Session, messaging: Messaging, ep: CafEpisode, msg: dict[str, Any],
              key: str) -> list[str]:
    """DM ``msg`` to the lead professional and co-ordinator; returns who was messaged."""
    users = recipients(ep)
    for user in users:
        messaging.dm(s, user, msg, f"{key}:act:{user}")
    return users

