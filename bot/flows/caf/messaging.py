"""From CAF state changes to outbox rows (called inside the transaction that made them).

Every message is queued with an idempotency key built from the episode's
``version`` (or the reminder's key), so a retried action or sweep queues it once.

DMs that carry buttons have ``:act:`` in their key. When the meeting they are
about is dealt with (held, rearranged, closed), every such DM already delivered
is redrawn without its buttons (an update of the message delivered), and
one fresh DM with the buttons for the next meeting goes to the lead
professional and the co-ordinator: there is always one live set of buttons.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot import intents
from bot.flows.caf.models import CafResult
from bot.flows.caf.service import CafService
from bot.flows.triage.messaging import TriageMessaging
from bot.policy import Policy
from store.models import CafEpisode, CafMeeting, OutboxMessage


def recipients(ep: CafEpisode) -> list[str]:
    """The lead professional and the co-ordinator (once each, whoever is set)."""
    out: list[str] = []
    for user in (ep.lead_user_id, ep.coordinator_user_id):
        if user and user not in out:
            out.append(user)
    return out


def say(s: Session, ep: CafEpisode, intent: str, to: dict[str, str], key: str,
        **data: Any) -> None:
    """Queue a CAF ``intent`` about ``ep`` as it is now (its data: the episode, and
    ``data``, people as ``{"user": id}``)."""
    intents.queue(s, intent, key=key, to=to,
                  data={"episode": intents.snapshot(ep), **data},
                  subject_type="caf", subject_id=ep.id, platform=ep.platform)


def post(s: Session, channel: str, ep: CafEpisode, intent: str, key: str, **data: Any) -> None:
    """Queue a CAF ``intent`` to a channel."""
    say(s, ep, intent, intents.conversation(channel), key, **data)


def said(what: str, actor: str, on: date | None = None) -> dict[str, Any]:
    """What happened to an episode, who did it, on what day: words the renderer writes."""
    out: dict[str, Any] = {"what": what, "actor": intents.person(actor)}
    if on is not None:
        out["on"] = on.isoformat()
    return out


def redraw_done(s: Session, ep: CafEpisode, what: dict[str, Any]) -> int:
    """Redraw this episode's delivered button DMs as dealt with; returns how many."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.idempotency_key.like(f"caf:{ep.id}:%:act:%"))  # type: ignore[attr-defined]
        .where(getattr(OutboxMessage, intents.COLUMN).in_(  # type: ignore[attr-defined]
            [i for i, k in intents.KINDS.items() if k == intents.POST]))
        .where(OutboxMessage.status == "sent")  # type: ignore[arg-type]
        .where(OutboxMessage.message_id.is_not(None))  # type: ignore[union-attr]
    )
    rows = list(s.exec(stmt).scalars())  # type: ignore[call-overload]
    for row in rows:
        say(s, ep, intents.CAF_DONE, dict(row.payload.get("to") or {}),
            f"caf:{ep.id}:v{ep.version}:redraw:{row.id}", said=what, message=row.message_id)
    return len(rows)


class CafMessaging:
    """The ``effects`` callback for :class:`CafService` actions: what each queues, for the
    episode's platform."""

    def __init__(self, policy: Policy, messaging: TriageMessaging, service: CafService) -> None:
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

    def _dm_all(self, s: Session, ep: CafEpisode, what: str, intent: str,
                **data: Any) -> None:
        for user in recipients(ep):
            say(s, ep, intent, intents.person(user),
                f"caf:{ep.id}:v{ep.version}:{what}:act:{user}", **data)

    def _registered(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        for user in recipients(ep):
            say(s, ep, intents.CAF_REGISTERED, intents.person(user),
                f"caf:{ep.id}:v{ep.version}:registered:act:{user}",
                user=intents.person(user), actor=intents.person(result.actor))

    def _on_register(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        self._registered(s, ep, result)

    def _on_route(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        card = result.card
        if card is not None:
            self.messaging.update_card(s, card)
        if result.linked and card is not None:
            self._dm_all(s, ep, f"linked:{card.id}", intents.CAF_LINKED,
                         card=intents.snapshot(card), actor=intents.person(result.actor))
        else:
            self._registered(s, ep, result)

    def _changed(self, s: Session, ep: CafEpisode, what: dict[str, Any]) -> None:
        redraw_done(s, ep, what)
        self._dm_all(s, ep, "update", intents.CAF_UPDATE, said=what,
                     live=ep.status == "open")

    def _on_held(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        held = result.on or ep.last_meeting_on or ep.completed_on
        self._changed(s, ep, said("held", result.actor, held))

    def _on_rearranged(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        self._changed(s, ep, said("rearranged", result.actor))

    def _on_close(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        self._changed(s, ep, said("closed", result.actor))
        post(s, self.policy.channel("early_help_duty", ep.platform), ep, intents.CAF_CLOSED,
             f"caf:{ep.id}:v{ep.version}:closed", actor=intents.person(result.actor))

    def _on_lead(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        what = said("lead", result.actor)
        redraw_done(s, ep, what)
        for user in recipients(ep):
            key = f"caf:{ep.id}:v{ep.version}:lead:act:{user}"
            if user == ep.lead_user_id:
                say(s, ep, intents.CAF_REGISTERED, intents.person(user), key,
                    user=intents.person(user), actor=intents.person(result.actor))
            else:
                say(s, ep, intents.CAF_UPDATE, intents.person(user), key, said=what)
        post(s, self.policy.channel("escalation", ep.platform), ep, intents.CAF_UPDATE,
             f"caf:{ep.id}:v{ep.version}:lead:escalation", said=what)

    def _on_stuck(self, s: Session, ep: CafEpisode, result: CafResult) -> None:
        key = f"caf:{ep.id}:v{ep.version}:stuck"
        stage, note, actor = result.stage, result.note, intents.person(result.actor)
        if stage == "coordinator" and ep.coordinator_user_id:
            say(s, ep, intents.CAF_STUCK_COORDINATOR, intents.person(ep.coordinator_user_id),
                f"{key}:act:{ep.coordinator_user_id}", actor=actor, note=note)
        elif stage == "caf_social_worker":
            post(s, self.policy.channel("early_help_duty", ep.platform), ep, intents.CAF_STUCK_DUTY,
                 f"{key}:duty", actor=actor, note=note)
        elif stage == "panel":
            months, held = self._progress(s, ep)
            post(s, self.policy.channel("escalation", ep.platform), ep, intents.CAF_PANEL,
                 f"{key}:panel",
                 note=note, months=months, held=held)
            for user in recipients(ep):
                say(s, ep, intents.CAF_PANEL_TOLD, intents.person(user), f"{key}:told:{user}")

    def _progress(self, s: Session, ep: CafEpisode) -> tuple[int, int]:
        today = self.service.today()
        months = max(0, (today.year - ep.completed_on.year) * 12
                     + today.month - ep.completed_on.month
                     - (1 if today.day < ep.completed_on.day else 0))
        held = s.exec(select(CafMeeting).where(  # type: ignore[call-overload]
            CafMeeting.episode_id == ep.id).where(CafMeeting.held_on.is_not(None))  # type: ignore[arg-type,union-attr]
        ).scalars().all()
        return months, len({m.held_on for m in held})


def nudge_dms(s: Session, ep: CafEpisode, intent: str, key: str, **data: Any) -> list[str]:
    """DM ``intent`` to the lead professional and co-ordinator; returns who was messaged."""
    users = recipients(ep)
    for user in users:
        say(s, ep, intent, intents.person(user), f"{key}:act:{user}", **data)
    return users
