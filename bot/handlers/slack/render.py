"""Slack's renderer: an outbox row's intent, drawn as the Web API call that says it.

Run by the sender at send time. Cards are drawn from the rows as they are then
(an update delayed by an outage shows the card as it is, not as it was); the
other intents carry what they say as data. People, groups and conversations in
the data are structured (``bot.intents``) and become ``<@…>``, ``<!subteam^…>``
and ``<#…>`` here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot import delivered, intents, report
from bot.flows.guided.models import Step
from bot.flows.triage.scheduled import read_card_clocks
from bot.handlers.slack.blocks import caf, caf_qa, cards, flow
from bot.handlers.slack.blocks import text as tx
from bot.outbox import NotReady, UnknownIntent
from bot.policy import Policy
from store import sql
from store.models import (
    CafEpisode,
    Consultation,
    Professional,
    Referral,
    TriageCard,
)
from store.sql import OutboxRow
from store.types import utcnow

POST = "chat.postMessage"
UPDATE = "chat.update"
UPLOAD = "files.upload_v2"
# An upload's argument that is no Web API argument: a function drawing the file's bytes.
DRAW = "draw"

@dataclass
class SlackCall:
    """One Web API call: ``method`` with ``args``; ``dm``: ``args["channel"]`` is a user ID
    whose DM channel the transport opens first."""

    method: str
    args: dict[str, Any] = field(default_factory=dict)
    dm: bool = False


class SlackRenderer:
    """Draws intents for Slack (``prepare``) with the policy and the SLA clock."""

    def __init__(self, policy: Policy | None, clock: Callable[[], datetime] = utcnow) -> None:
        self.policy = policy
        self.clock = clock

    @staticmethod
    def needs_rows(row: OutboxRow) -> bool:
        """Whether drawing ``row`` reads the database (else it is drawn from its data)."""
        return intents.needs_rows(row)

    def prepare(self, cx: sql.Cx | None, row: OutboxRow, _sent_at: datetime) -> SlackCall | None:
        """The call that says ``row``'s intent; None when there is nothing to say any more
        (its subject was purged, or the message to redraw was never delivered).

        "Now" for a card's countdown is the service's clock (the SLA clock), not the
        sender's real time, which only paces and retries deliveries.
        """
        intent, data = intents.intent_of(row), row.payload
        if intent == intents.LEGACY:  # queued before intents: the call as it was
            args = dict(data["args"])
            return SlackCall(str(data["method"]), args,
                             dm=str(args.get("channel", "")).startswith(("U", "W")))
        address = intents.Address.of(row)
        draw = _DRAW.get(intent)
        if draw is None:
            raise UnknownIntent(f"no Slack drawing for {intent!r}")
        args = draw(self, cx, row, data)
        if args is None:
            return None
        kind = intents.kind(intent)
        call = SlackCall(UPLOAD if kind == intents.FILE else UPDATE if kind == intents.UPDATE
                         else POST, {"channel": address.id, **args}, dm=address.is_person)
        redraws = intents.REDRAWS.get(intent)
        if redraws is not None and cx is not None:  # the subject's own message, redrawn
            call.args["ts"] = _need(delivered.where_is(cx, redraws, row.subject_id or 0)[1])
        of_key = data.get("of_key")
        if of_key and cx is not None:
            # An update of a message posted by another row: it is where that row put it.
            status, ts = delivered.where_row_put(cx, str(of_key))
            if status is None or status == "dead":
                return None  # never delivered, or purged: there is nothing to redraw
            call.args["ts"] = _need(ts)
        return call

    # --- cards (from the rows as they are now) -----------------------------------------

    def _triage_card(self, cx: sql.Cx | None, row: OutboxRow, _d: dict) -> dict | None:
        assert cx is not None and self.policy is not None
        card = sql.load(cx, TriageCard, row.subject_id or 0)
        referral = sql.load(cx, Referral, card.referral_id) if card else None
        if card is None or referral is None:
            return None
        return cards.triage_card(card, referral, self.policy, self.clock(),
                                 _last_decision(cx, card.id or 0), read_card_clocks(cx, card))

    def _consultation_card(self, cx: sql.Cx | None, row: OutboxRow, _d: dict) -> dict | None:
        assert cx is not None and self.policy is not None
        c = sql.load(cx, Consultation, row.subject_id or 0)
        prof = sql.load(cx, Professional, c.professional_id) if c else None
        if c is None or prof is None:
            return None
        return cards.consultation_card(c, prof, self.policy, self.clock())

    def _advice_redraw(self, cx: sql.Cx | None, row: OutboxRow, d: dict) -> dict | None:
        assert cx is not None and self.policy is not None
        c = sql.load(cx, Consultation, row.subject_id or 0)
        if c is None:
            return None
        return cards.advice_dm(c, self.policy, changing=bool(d.get("changing")))

    def _card_note(self, cx: sql.Cx | None, row: OutboxRow, d: dict) -> dict | None:
        assert cx is not None
        note = cards.thread_note(str(d.get("text", "")), notify=tuple(_users(d.get("notify"))),
                                 groups=tuple(_groups(d.get("groups"))),
                                 by=_user(d.get("by")))
        return {**note, "thread_ts": _need(delivered.where_is(cx, "card", row.subject_id or 0)[1])}

    # --- what the data says ----------------------------------------------------------

    def _edt_alert(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        assert self.policy is not None
        rating = self.policy.rating(d["rating"])
        return {"text": (
            f"{rating.emoji} *{d['reference']}*: {rating.label} item received out of office "
            f"hours. The front door's card is in {_channel_link(d.get('card'))}; the Emergency "
            "Duty Team should act on what cannot wait until the next working day."
        )}

    @staticmethod
    def _sla_escalation(_cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        return {"text": f"{d['text']} Card: {_channel_link(d.get('card'))}."}

    @staticmethod
    def _notice(_cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        args = {"text": str(d.get("text", ""))}
        if d.get("thread"):  # an answer in the thread of a message (its id)
            args["thread_ts"] = str(d["thread"])
        return args

    @staticmethod
    def _dead_letter(_cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        what = ("could not tell whether Slack has a message to" if d.get("unconfirmed")
                else "could not deliver a message to")
        return {"text": (
            f":warning: Front Door {what} {_channel_link(d.get('about'))} "
            f"after {d.get('attempts')} attempts ({str(d.get('error', ''))[:100]}). "
            f"Outbox row {d.get('row')}: check the bot's log and Slack's status."
        )}

    # --- the guided flow -------------------------------------------------------------

    @staticmethod
    def _flow_question(_cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        return flow.question_message(intents.step_from(d["step"]))

    @staticmethod
    def _flow_question_closed(_cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict | None:
        asked = flow.question_message(intents.step_from(d["question"]))
        closed = flow.answered_question(asked, intents.step_from(d["step"]))
        return None if closed is None else {**closed, "ts": d["message"]}

    def _flow_completed(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        assert self.policy is not None
        return flow.completed_message(intents.step_from(d["step"]), self.policy,
                                      intents.restore(Referral, d.get("referral")))

    def _flow_urgent(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        assert self.policy is not None
        return flow.urgent_message(intents.step_from(d["step"]), self.policy,
                                   datetime.fromisoformat(d["at"]))

    @staticmethod
    def _flow_status(draw: Callable[[Step], dict]) -> Callable[..., dict]:
        return lambda _self, _cx, _row, d: draw(intents.step_from(d["step"]))

    # --- the referrer, the professional -----------------------------------------------

    def _referrer_outcome(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        assert self.policy is not None
        return cards.outcome_dm(intents.restore(TriageCard, d["card"]),
                                intents.restore(Referral, d["referral"]), self.policy)

    @staticmethod
    def _referrer_info(_cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        return cards.info_request_dm(intents.restore(TriageCard, d["card"]), d["question"])

    def _advice(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        assert self.policy is not None
        return cards.advice_dm(intents.restore(Consultation, d["consultation"]), self.policy)

    # --- CAF ---------------------------------------------------------------------------

    def _caf(self, intent: str, d: dict) -> dict:
        ep: CafEpisode = intents.restore(CafEpisode, d["episode"])
        policy = self.policy
        actor, note = _user(d.get("actor")), str(d.get("note", ""))
        if intent == intents.CAF_REGISTERED:
            assert policy is not None
            return caf.registered_dm(ep, _user(d.get("user")), actor, policy)
        if intent == intents.CAF_LINKED:
            assert policy is not None
            return caf.linked_dm(ep, intents.restore(TriageCard, d["card"]), actor, policy)
        if intent == intents.CAF_UPDATE:
            return caf.update_dm(ep, caf_said(ep, d["said"]), policy if d.get("live") else None)
        if intent == intents.CAF_DONE:
            return {**caf.done_dm(ep, caf_said(ep, d["said"])), "ts": d["message"]}
        if intent == intents.CAF_CLOSED:
            return caf.closed_post(ep, actor)
        if intent == intents.CAF_STUCK_COORDINATOR:
            return caf.stuck_coordinator_dm(ep, actor, note)
        if intent == intents.CAF_STUCK_DUTY:
            assert policy is not None
            return caf.stuck_duty_post(ep, actor, note, policy)
        if intent == intents.CAF_PANEL:
            return caf.panel_post(ep, note, int(d["months"]), int(d["held"]))
        if intent == intents.CAF_PANEL_TOLD:
            return caf.panel_told_dm(ep)
        if intent == intents.CAF_TAC_OVERDUE:
            assert policy is not None
            return caf.tac_overdue_dm(ep, date.fromisoformat(d["due"]), policy,
                                      date.fromisoformat(d["today"]), int(d.get("nudge", 1)),
                                      str(d.get("escalated", "")))
        if intent == intents.CAF_REASSESS:
            assert policy is not None
            return caf.reassess_dm(ep, policy)
        return caf.no_lead_post(ep, str(d.get("stage", "")))

    def _caf_qa(self, intent: str, d: dict) -> dict:
        assert self.policy is not None
        return caf_qa.draw(intent, d, self.policy)

    # --- the weekly figures --------------------------------------------------------------

    @staticmethod
    def _report_summary(_cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        from bot.handlers.slack.blocks.report import summary_message

        return summary_message(d["figures"])

    def _report_chart(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict) -> dict:
        """The upload of the week's chart. The PNG is drawn by the transport (``draw``, in
        a thread) only when it uploads: never in a write transaction, never for a row
        found already shared. A row queued by the release before carries its PNG."""
        args = {"filename": d["filename"], "title": d["title"], "alt_txt": d["alt"]}
        if "content_b64" in d:
            return {**args, "content_b64": d["content_b64"]}
        assert self.policy is not None
        fig = report.WeeklyFigures.from_json(d["figures"])
        return {**args, DRAW: functools.partial(report.render_chart, fig, self.policy)}


def caf_said(ep: CafEpisode, said: dict[str, Any]) -> str:
    """What a CAF change says (``said``: what happened, who did it, on what day)."""
    what, actor = said.get("what"), _user(said.get("actor"))
    if what == "held":
        return caf.held_text(ep, date.fromisoformat(said["on"]), actor)
    if what == "rearranged":
        return caf.rearranged_text(ep, actor)
    if what == "closed":
        return caf.closed_text(ep, actor)
    return caf.lead_text(ep, actor)


def _caf_drawer(intent: str) -> Callable[..., dict]:
    return lambda self, _cx, _row, d: self._caf(intent, d)


_R = SlackRenderer
_DRAW: dict[str, Callable[..., dict | None]] = {
    intents.TRIAGE_CARD: _R._triage_card,
    intents.TRIAGE_CARD_UPDATE: _R._triage_card,
    intents.CONSULTATION_CARD: _R._consultation_card,
    intents.CONSULTATION_CARD_UPDATE: _R._consultation_card,
    intents.CARD_NOTE: _R._card_note,
    intents.EDT_ALERT: _R._edt_alert,
    intents.SLA_ESCALATION: lambda _s, cx, row, d: _R._sla_escalation(cx, row, d),
    intents.NOTICE: lambda _s, cx, row, d: _R._notice(cx, row, d),
    intents.DEAD_LETTER: lambda _s, cx, row, d: _R._dead_letter(cx, row, d),
    intents.FLOW_QUESTION: lambda _s, cx, row, d: _R._flow_question(cx, row, d),
    intents.FLOW_QUESTION_CLOSED: lambda _s, cx, row, d: _R._flow_question_closed(cx, row, d),
    intents.FLOW_COMPLETED: _R._flow_completed,
    intents.FLOW_URGENT: _R._flow_urgent,
    intents.FLOW_REDIRECTED: _R._flow_status(flow.redirected_message),
    intents.FLOW_CANCELLED: _R._flow_status(flow.cancelled_message),
    intents.FLOW_EXPIRED: _R._flow_status(flow.expired_message),
    intents.REFERRER_OUTCOME: _R._referrer_outcome,
    intents.REFERRER_INFO_REQUEST: lambda _s, cx, row, d: _R._referrer_info(cx, row, d),
    intents.ADVICE: _R._advice,
    intents.ADVICE_REDRAW: _R._advice_redraw,
    intents.REPORT_SUMMARY: lambda _s, cx, row, d: _R._report_summary(cx, row, d),
    intents.REPORT_CHART: _R._report_chart,
    **{name: _caf_drawer(name) for name in intents.KINDS if name.startswith("caf.")},
    **{name: (lambda n: lambda self, _cx, _row, d: self._caf_qa(n, d))(name)
       for name in intents.KINDS if name.startswith("caf_qa.")},
}


_user, _users, _groups = intents.user_of, intents.users_of, intents.groups_of


def _channel_link(value: Any) -> str:
    """``<#C…>`` for a conversation in the data (``{"channel": id}`` or a bare id)."""
    return f"<#{intents.channel_of(value)}>"


def said(message: str, who: str = "") -> str:
    """A domain result's words, after a mention of the person they are about."""
    return f"{tx.mention(who)} {message}" if who else message


_last_decision = sql.last_decision


def _need(ts: str | None) -> str:
    if not ts:
        raise NotReady("the message to update has not been delivered yet")
    return ts
