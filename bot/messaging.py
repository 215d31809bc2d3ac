"""From state changes to outbox rows, and from outbox rows to Slack arguments.

Called inside the transaction that changed the state (the flows' ``effects``
hook), so a message exists if and only if its cause was committed. Cards are
queued as *render instructions* and drawn when sent, so an update delayed by
an outage shows the card as it is then, not as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.flows.advice import AdviceResult
from bot.flows.api import Status, Step
from bot.flows.triage import CardResult, TriageService
from bot.handlers.slack.blocks import cards, flow
from bot.outbox import INSTRUCTIONS, NotReady
from bot.policy import Policy
from store import repo, sql
from store.models import (
    Consultation,
    Decision,
    Professional,
    Referral,
    TriageCard,
)
from store.sql import OutboxRow
from store.tx import Tx, as_tx
from store.types import utcnow

POST = "chat.postMessage"
UPDATE = "chat.update"


class Messaging:
    """Queues the bot's messages and prepares them for sending."""

    def __init__(
        self, policy: Policy, triage: TriageService, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.policy = policy
        self.triage = triage
        self.clock = clock

    # --- queueing (inside the caller's transaction) ----------------------

    def dm(self, db: Session | Tx, user_id: str, message: dict[str, Any], key: str, *,
           claim: bool = False, flow_id: int | None = None) -> None:
        """A direct message to a person (addressed by user ID; the DM is opened on send).

        ``claim``: for this process to send at once after commit (see ``Tx.enqueue``).
        ``flow_id``: the message asks that flow's question (``on_sent`` remembers where).
        """
        as_tx(db).enqueue(key=key, intent=POST, payload={"channel": user_id, **message},
                          claim=claim, subject_type="flow" if flow_id else None,
                          subject_id=flow_id)

    def flow_step(self, tx: Tx, user_id: str, step: Step, now: datetime) -> None:
        """Queue what a flow step shows: the next question, the outcome, the urgent advice.

        The professional's DM is queued for this process to send at once (``claim``): it
        is what they are waiting for. Everything here needs only the fast statements.
        """
        base = f"flow:{step.flow_id}:v{step.version}"
        # Read before this step's question is queued: the message of the question before.
        asked = self._question_message(tx, user_id, step.flow_id)

        def dm(message: dict[str, Any], what: str) -> None:
            self.dm(tx, user_id, message, f"{base}:{what}", claim=True)

        if step.status == Status.ASKING and step.prompt is not None:
            self.dm(tx, user_id, flow.question_message(step), f"{base}:q:{step.prompt.id}",
                    claim=True, flow_id=step.flow_id)
        elif step.status == Status.COMPLETED:
            referral = (sql.load(tx.cx, Referral, step.referral_id) if step.referral_id
                        else None)
            dm(flow.completed_message(step, self.policy, referral), "done")
            if step.consultation_id:
                self.post_consultation(tx, step.consultation_id)
            if step.card_id:
                self.new_card(tx, step.card_id)
        elif step.status == Status.URGENT:
            dm(flow.urgent_message(step, self.policy, now), "urgent")
            if step.card_id:
                self.new_card(tx, step.card_id)
        elif step.status == Status.REDIRECTED:
            dm(flow.redirected_message(step), "redirected")
        elif step.status == Status.CANCELLED:
            dm(flow.cancelled_message(step), "cancelled")
        elif step.status == Status.EXPIRED:
            dm(flow.expired_message(step), "expired")
        if asked is not None:
            # The question before loses its buttons and shows the answer given. Queued after
            # what the professional waits for, which goes first.
            ts, original = asked
            closed = flow.answered_question(original, step)
            if closed is not None:
                as_tx(tx).enqueue(key=f"{base}:closed:{ts}", intent=UPDATE,
                                  payload={"channel": user_id, "ts": ts, **closed})

    @staticmethod
    def _question_message(tx: Tx, user_id: str, flow_id: int | None
                          ) -> tuple[str, dict[str, Any]] | None:
        """(ts, what was posted) of the flow's question message now on screen, if known."""
        at = sql.where(tx.cx, "flow", flow_id, "question") if flow_id else None
        if at is None or not at.message_id:
            return None
        original = sql.posted_payload(tx.cx, user_id, at.message_id)
        return (at.message_id, original) if original is not None else None

    def new_card(self, db: Session | Tx, card_id: int) -> None:
        """Post a new triage card (and to the EDT out of hours); its clocks were started
        by the domain when it was written."""
        cx = as_tx(db).cx
        card = sql.load(cx, TriageCard, card_id)
        if card is None:
            raise LookupError(f"card {card_id} not found")
        rating = self.policy.rating(card.suggested_rating)
        channel = self.policy.channel(rating.card_channel)
        sql.place(cx, "card", card_id, "post", channel, self.clock())
        repo.enqueue(
            db, key=f"card:{card_id}:post", intent=POST, channel=channel,
            payload={"render": "triage_card", "id": card_id, "channel": channel},
            subject_type="card", subject_id=card_id,
        )
        self.edt_alert(db, card, card.received_at)

    def edt_alert(self, db: Session | Tx, card: TriageCard, at: datetime) -> None:
        """Out of office hours at ``at``, a card whose rating goes to the EDT (Red and
        significant harm) is posted to the EDT channel now; otherwise nothing."""
        rating = self.policy.rating(card.rating or card.suggested_rating)
        if not rating.edt_out_of_hours or self.policy.calendar.is_open(at):
            return
        text = (
            f"{rating.emoji} *{card.reference}*: {rating.label} item received out of office "
            f"hours. The front door's card is in <#{card_channel(as_tx(db).cx, card)}>; the "
            "Emergency Duty Team "
            "should act on what cannot wait until the next working day."
        )
        repo.enqueue(
            db, key=f"card:{card.id}:edt:{card.rating or card.suggested_rating}", intent=POST,
            channel=self.policy.channel("edt"),
            payload={"channel": self.policy.channel("edt"), "text": text},
        )

    def update_card(self, s: Session, card: TriageCard) -> None:
        """Redraw a card (after any change) with chat.update."""
        channel = card_channel(as_tx(s).cx, card)
        if not channel:
            return  # never queued for posting (nothing to redraw)
        repo.enqueue(
            s, key=f"card:{card.id}:update:v{card.version}", intent=UPDATE,
            channel=channel, payload={"render": "triage_card", "id": card.id, "channel": channel},
        )

    def card_thread(self, s: Session, card: TriageCard, text: str, key: str, *,
                    notify_managers: bool = False, by: str = "") -> None:
        """A note in the card's thread (requests, replies, warnings); ``text`` is escaped,
        after a mention of ``by`` (who did it) when given."""
        managers = self.policy.roles.managers
        note = cards.thread_note(
            text,
            notify=managers.users if notify_managers else (),
            groups=managers.usergroups if notify_managers else (),
            by=by,
        )
        channel = card_channel(as_tx(s).cx, card)
        repo.enqueue(
            s, key=key, intent=POST, channel=channel,
            payload={"channel": channel, "thread_of": f"card:{card.id}", **note},
        )

    def card_result(self, s: Session, result: CardResult) -> None:
        """Queue what a triage action shows: the redrawn card, the referrer's DM, notes."""
        card, referral = result.card, result.referral
        if card is None or referral is None:
            return
        self.update_card(s, card)
        key = f"card:{card.id}:v{card.version}"
        if result.action in ("approve", "change"):
            self.dm(s, card.referrer_user_id, cards.outcome_dm(card, referral, self.policy),
                    f"{key}:outcome")
            self.edt_alert(s, card, card.decided_at or card.received_at)
        elif result.action == "request_info":
            self.dm(s, card.referrer_user_id, cards.info_request_dm(card, result.note),
                    f"{key}:info")
            self.card_thread(s, card, f"More information requested:\n{result.note}", f"{key}:ask")
        elif result.action == "info_reply":
            self.card_thread(s, card, f"The referrer answered:\n{result.note}", f"{key}:reply")
        elif result.action in ("snooze", "written_received"):
            self.card_thread(s, card, result.note, f"{key}:snooze", by=result.by)
        elif result.action == "close":
            self.dm(s, card.referrer_user_id, cards.outcome_dm(card, referral, self.policy),
                    f"{key}:closed")

    def post_consultation(self, db: Session | Tx, consultation_id: int) -> None:
        """Post a new consultation card to the consultation duty channel."""
        channel = self.policy.channel("consultation_duty")
        sql.place(as_tx(db).cx, "consultation", consultation_id, "post", channel, self.clock())
        repo.enqueue(
            db, key=f"consultation:{consultation_id}:post", intent=POST, channel=channel,
            payload={"render": "consultation_card", "id": consultation_id, "channel": channel},
            subject_type="consultation", subject_id=consultation_id,
        )

    def advice_result(self, s: Session, result: AdviceResult) -> None:
        """Redraw the consultation card; on advice, DM the professional."""
        c, prof = result.consultation, result.professional
        if c is None or prof is None:
            return
        stamp = f"{c.advised_at.isoformat() if c.advised_at else ''}:{c.followed_advice}"
        if result.action == "respond":
            # An answer can be changed, and changed back, within one tick of the clock:
            # each is its own redraw (queued once, in the transaction that recorded it).
            stamp += f":{uuid.uuid4().hex}"
        at = sql.where(as_tx(s).cx, "consultation", c.id or 0, "post")
        channel = at.conversation if at else ""
        repo.enqueue(
            s, key=f"consultation:{c.id}:update:{result.action}:{stamp}", intent=UPDATE,
            channel=channel,
            payload={"render": "consultation_card", "id": c.id, "channel": channel},
        )
        if result.action == "advise":
            self.dm(s, prof.user_id, cards.advice_dm(c, self.policy),
                    advice_dm_key(c.id))
        elif result.action == "respond":
            # The advice DM is redrawn with the answer: its buttons go, so a later click
            # cannot overwrite the answer by accident.
            self.redraw_advice_dm(s, c.id, prof.user_id, f"answered:{stamp}")

    def redraw_advice_dm(self, db: Session | Tx, consultation_id: int, user_id: str,
                         what: str, *, changing: bool = False) -> None:
        """Redraw the advice DM as the consultation is when sent (``changing``: with the
        buttons again, for a professional who asked to change their answer)."""
        payload: dict[str, Any] = {
            "render": "advice_dm", "id": consultation_id, "channel": user_id,
            "ts_of": advice_dm_key(consultation_id),
        }
        if changing:
            payload["changing"] = True
        repo.enqueue(db, key=f"consultation:{consultation_id}:dm:{what}", intent=UPDATE,
                     channel=user_id, payload=payload)

    # --- sending (the outbox's hooks) ------------------------------------

    def prepare(self, cx: sql.Cx, row: OutboxRow, _sent_at: datetime) -> dict[str, Any] | None:
        """Turn a row into Web API arguments, rendering cards as they are now.

        "Now" for a card's countdown is the service's clock (the SLA clock), not the
        sender's real time, which only paces and retries deliveries.
        """
        now = self.clock()
        args = {k: v for k, v in row.payload.items() if k not in (*INSTRUCTIONS, "id")}
        render = row.payload.get("render")
        if render == "triage_card":
            card = sql.load(cx, TriageCard, row.payload["id"])
            if card is None:
                return None
            referral = sql.load(cx, Referral, card.referral_id)
            if referral is None:
                return None
            args.update(cards.triage_card(card, referral, self.policy, now,
                                          _last_decision(cx, card.id or 0)))
            if row.intent == UPDATE:
                args["ts"] = _need(_message(cx, "card", card.id))
        elif render == "consultation_card":
            c = sql.load(cx, Consultation, row.payload["id"])
            if c is None:
                return None
            prof = sql.load(cx, Professional, c.professional_id)
            if prof is None:
                return None
            args.update(cards.consultation_card(c, prof, self.policy, now))
            if row.intent == UPDATE:
                args["ts"] = _need(_message(cx, "consultation", c.id))
        elif render == "advice_dm":
            c = sql.load(cx, Consultation, row.payload["id"])
            if c is None:
                return None
            args.pop("changing", None)
            args.update(cards.advice_dm(c, self.policy,
                                        changing=bool(row.payload.get("changing"))))
        ts_of = row.payload.get("ts_of")
        if ts_of:
            # An update of a message posted by another row: it is where that row put it.
            status, ts = sql.sent_ts(cx, str(ts_of))
            if status is None or status == "dead":
                return None  # never delivered, or purged: there is nothing to redraw
            args["ts"] = _need(ts)
        thread_of = row.payload.get("thread_of")
        if thread_of:
            kind, _, sid = str(thread_of).partition(":")
            if kind == "card":
                args["thread_ts"] = _need(_message(cx, "card", int(sid)))
        return args

    def on_sent(self, tx: Tx, row: OutboxRow, data: dict[str, Any]) -> None:
        """Remember where a card, a consultation card or a flow's question went, so updates
        and threads can find it."""
        if row.intent != POST or not data.get("ts") or not row.subject_id:
            return
        purpose = {"card": "post", "consultation": "post", "flow": "question"}.get(
            row.subject_type or "")
        if purpose is None:
            return
        # The question now on screen is always the newest; a card stays where it was posted.
        sql.delivered(tx.cx, row.subject_type or "", row.subject_id, purpose,
                      data.get("channel") or row.channel, data["ts"], self.clock(),
                      replace=purpose == "question")


def card_channel(cx: sql.Cx, card: TriageCard) -> str:
    """The conversation a card was posted to ("" before it was queued)."""
    at = sql.where(cx, "card", card.id or 0, "post")
    return at.conversation if at else ""


def _message(cx: sql.Cx, subject_type: str, subject_id: int | None) -> str | None:
    at = sql.where(cx, subject_type, subject_id or 0, "post")
    return at.message_id if at else None


def advice_dm_key(consultation_id: int) -> str:
    """The outbox key of the advice DM (its later redraws find it by this key)."""
    return f"consultation:{consultation_id}:advice"


def _last_decision(cx: sql.Cx, card_id: int) -> Decision | None:
    """The card's newest decision (its id is the order they were made in)."""
    r = cx.first("SELECT max(id) FROM decision WHERE card_id = :id", {"id": card_id})
    return sql.load(cx, Decision, int(r[0])) if r and r[0] is not None else None


def _need(ts: str | None) -> str:
    if not ts:
        raise NotReady("the message to update has not been delivered yet")
    return ts
