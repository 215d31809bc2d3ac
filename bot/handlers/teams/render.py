"""Teams' renderer: an outbox row's intent, drawn as the Bot Connector activity that says it.

The twin of ``bot.handlers.slack.render``, run by the sender at send time: cards are drawn
from the rows as they are then, the other intents from their data. People and groups in the
data (``bot.intents``) become Teams mentions (``<at>Name</at>`` plus a ``mention`` entity
with the id), conversations become a channel's name or deep link: never Slack markup.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot import delivered, intents
from bot.flows.triage.scheduled import read_card_clocks
from bot.handlers.teams.cards import ac, caf, caf_qa, flow, triage
from bot.handlers.teams.transport import TeamsCall
from bot.outbox import NotReady, UnknownIntent
from bot.policy import Policy
from bot.report import WeeklyFigures, period, summary_lines
from store import sql
from store.models import CafEpisode, Consultation, Professional, Referral, TriageCard
from store.sql import OutboxRow
from store.types import utcnow


@dataclass
class Draft:
    """The transport's ``TeamsCall`` while it is drawn (the drawings fill in ``reply_to``
    and ``activity_id``), with the same fields."""

    activity: dict[str, Any]
    to: str
    dm: bool = False
    reply_to: str | None = None
    activity_id: str | None = None


class TeamsRenderer:
    """Draws intents for Teams (``prepare``) with the policy, the SLA clock and the
    directory of display names."""

    def __init__(self, policy: Policy | None, clock: Callable[[], datetime] = utcnow,
                 directory: ac.Directory | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.directory = directory or ac.Directory()

    @staticmethod
    def needs_rows(row: OutboxRow) -> bool:
        """Whether drawing ``row`` reads the database (else it is drawn from its data)."""
        return intents.needs_rows(row)

    def mentions(self) -> ac.Mentions:
        """A fresh collector of one message's mentions."""
        return ac.Mentions(self.directory)

    def prepare(self, cx: sql.Cx | None, row: OutboxRow, _sent_at: datetime) -> TeamsCall | None:
        """The call that says ``row``'s intent; None when there is nothing to say any more
        (its subject was purged, or the message to redraw was never delivered)."""
        intent, data = intents.intent_of(row), row.payload
        address = intents.Address.of(row)
        draw = _DRAW.get(intent)
        if draw is None:
            raise UnknownIntent(f"no Teams drawing for {intent!r}")
        call = Draft({}, address.id, dm=address.is_person)
        activity = draw(self, cx, row, data, call)
        if activity is None:
            return None
        call.activity = activity
        redraws = intents.REDRAWS.get(intent)
        if redraws is not None and cx is not None:  # the subject's own message, redrawn
            call.activity_id = _need(delivered.where_is(cx, redraws, row.subject_id or 0,
                                                        platform=row.platform)[1])
        of_key = data.get("of_key")
        if of_key and cx is not None:
            # An update of a message posted by another row: it is where that row put it.
            status, message_id = delivered.where_row_put(cx, str(of_key))
            if status is None or status == "dead":
                return None
            call.activity_id = _need(message_id)
        return TeamsCall(call.activity, call.to, dm=call.dm, reply_to=call.reply_to,
                         activity_id=call.activity_id)

    # --- cards (from the rows as they are now) -----------------------------------------

    def _triage_card(self, cx: sql.Cx | None, row: OutboxRow, _d: dict,
                     _call: Draft) -> dict | None:
        assert cx is not None and self.policy is not None
        card = sql.load(cx, TriageCard, row.subject_id or 0)
        referral = sql.load(cx, Referral, card.referral_id) if card else None
        if card is None or referral is None:
            return None
        return triage.triage_card(card, referral, self.policy, self.clock(),
                                  sql.last_decision(cx, card.id or 0), self.mentions(),
                                  read_card_clocks(cx, card))

    def _consultation_card(self, cx: sql.Cx | None, row: OutboxRow, _d: dict,
                           _call: Draft) -> dict | None:
        assert cx is not None and self.policy is not None
        c = sql.load(cx, Consultation, row.subject_id or 0)
        prof = sql.load(cx, Professional, c.professional_id) if c else None
        if c is None or prof is None:
            return None
        return triage.consultation_card(c, prof, self.policy, self.mentions())

    def _advice_redraw(self, cx: sql.Cx | None, row: OutboxRow, d: dict,
                       _call: Draft) -> dict | None:
        assert cx is not None and self.policy is not None
        c = sql.load(cx, Consultation, row.subject_id or 0)
        if c is None:
            return None
        return triage.advice(c, self.policy, self.mentions(), changing=bool(d.get("changing")))

    def _card_note(self, cx: sql.Cx | None, row: OutboxRow, d: dict,
                   call: Draft) -> dict:
        assert cx is not None
        call.reply_to = _need(delivered.where_is(cx, "card", row.subject_id or 0,
                                                 platform=row.platform)[1])
        return triage.note(str(d.get("text", "")), self.mentions(),
                           notify=_users(d.get("notify")), groups=_groups(d.get("groups")),
                           by=_user(d.get("by")))

    # --- what the data says ----------------------------------------------------------

    def _edt_alert(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict,
                   _call: Draft) -> dict:
        assert self.policy is not None
        rating = self.policy.rating(d["rating"])
        m = self.mentions()
        return ac.text_activity(
            f"{ac.emoji(rating.emoji)} **{d['reference']}**: {rating.label} item received out "
            f"of office hours. The front door's card is in {m.channel(_channel(d.get('card')))}; "
            "the Emergency Duty Team should act on what cannot wait until the next working day."
            .strip(), m)

    def _sla_escalation(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict,
                        _call: Draft) -> dict:
        m = self.mentions()
        return ac.text_activity(f"{d['text']} Card: {m.channel(_channel(d.get('card')))}.", m)

    @staticmethod
    def _notice(_cx: sql.Cx | None, _row: OutboxRow, d: dict, call: Draft) -> dict:
        if d.get("thread"):  # an answer in the thread of a message (its id)
            call.reply_to = str(d["thread"])
        return ac.text_activity(str(d.get("text", "")), plain=True)

    def _dead_letter(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict,
                     _call: Draft) -> dict:
        what = ("could not tell whether Teams has a message to" if d.get("unconfirmed")
                else "could not deliver a message to")
        about = str(d.get("about") or "")
        names = self.directory
        where = ac.Mentions(names).channel(about) if about in names.channels else (
            names.people.get(about) or "a conversation")
        return ac.text_activity(
            f"⚠️ Front Door {what} {where} after {d.get('attempts')} attempts "
            f"({ac.clip(str(d.get('error', '')), 100)}). Outbox row {d.get('row')}: check the "
            "bot's log and the Teams service status.", plain=True)

    # --- the guided flow -------------------------------------------------------------

    @staticmethod
    def _flow_question(_cx: sql.Cx | None, _row: OutboxRow, d: dict, _call: Draft) -> dict:
        return flow.question(intents.step_from(d["step"]))

    @staticmethod
    def _flow_question_closed(_cx: sql.Cx | None, _row: OutboxRow, d: dict,
                              call: Draft) -> dict | None:
        call.activity_id = str(d["message"])
        return flow.answered(intents.step_from(d["question"]), intents.step_from(d["step"]))

    def _flow_completed(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict,
                        _call: Draft) -> dict:
        assert self.policy is not None
        return flow.completed(intents.step_from(d["step"]), self.policy,
                              intents.restore(Referral, d.get("referral")))

    def _flow_urgent(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict,
                     _call: Draft) -> dict:
        assert self.policy is not None
        return flow.urgent(intents.step_from(d["step"]), self.policy,
                           datetime.fromisoformat(d["at"]))

    @staticmethod
    def _flow_status(draw: Callable[..., dict]) -> Callable[..., dict]:
        return lambda _self, _cx, _row, d, _call: draw(intents.step_from(d["step"]))

    # --- the referrer, the professional -----------------------------------------------

    def _referrer_outcome(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict,
                          _call: Draft) -> dict:
        assert self.policy is not None
        return triage.outcome(intents.restore(TriageCard, d["card"]),
                              intents.restore(Referral, d["referral"]), self.policy)

    @staticmethod
    def _referrer_info(_cx: sql.Cx | None, _row: OutboxRow, d: dict, _call: Draft) -> dict:
        return triage.info_request(intents.restore(TriageCard, d["card"]), d["question"])

    def _advice(self, _cx: sql.Cx | None, _row: OutboxRow, d: dict, _call: Draft) -> dict:
        assert self.policy is not None
        return triage.advice(intents.restore(Consultation, d["consultation"]), self.policy,
                             self.mentions())

    # --- CAF ---------------------------------------------------------------------------

    def _caf(self, intent: str, d: dict, call: Draft) -> dict:
        ep: CafEpisode = intents.restore(CafEpisode, d["episode"])
        policy, m = self.policy, self.mentions()
        actor, note = _user(d.get("actor")), str(d.get("note", ""))
        if intent == intents.CAF_REGISTERED:
            assert policy is not None
            return caf.registered(ep, _user(d.get("user")), actor, policy, m)
        if intent == intents.CAF_LINKED:
            return caf.linked(ep, intents.restore(TriageCard, d["card"]), actor, m)
        if intent == intents.CAF_UPDATE:
            return caf.update(ep, caf.said(ep, d["said"], _user(d["said"].get("actor")), m),
                              policy if d.get("live") else None, m)
        if intent == intents.CAF_DONE:
            call.activity_id = str(d["message"])
            return caf.done(ep, caf.said(ep, d["said"], _user(d["said"].get("actor")), m), m)
        if intent == intents.CAF_CLOSED:
            return caf.closed(ep, actor, m)
        if intent == intents.CAF_STUCK_COORDINATOR:
            return caf.stuck_coordinator(ep, actor, note, m)
        if intent == intents.CAF_STUCK_DUTY:
            assert policy is not None
            return caf.stuck_duty(ep, actor, note, policy, m)
        if intent == intents.CAF_PANEL:
            return caf.panel(ep, note, int(d["months"]), int(d["held"]), m)
        if intent == intents.CAF_PANEL_TOLD:
            return caf.panel_told(ep, m)
        if intent == intents.CAF_TAC_OVERDUE:
            assert policy is not None
            return caf.tac_overdue(ep, date.fromisoformat(d["due"]), policy,
                                   date.fromisoformat(d["today"]), m, int(d.get("nudge", 1)),
                                   str(d.get("escalated", "")))
        if intent == intents.CAF_REASSESS:
            assert policy is not None
            return caf.reassess(ep, policy, m)
        return caf.no_lead(ep, str(d.get("stage", "")), m)

    def _caf_qa(self, intent: str, d: dict, call: Draft) -> dict:
        assert self.policy is not None
        return caf_qa.draw(intent, d, self.policy, self.mentions())

    # --- the weekly figures --------------------------------------------------------------

    @staticmethod
    def _report_summary(_cx: sql.Cx | None, _row: OutboxRow, d: dict, _call: Draft) -> dict:
        fig = WeeklyFigures.from_json(d["figures"])
        lines = summary_lines(fig, bold=lambda s: f"**{s}**", escape=ac.unmarked)
        body = [ac.heading(f"Front Door weekly figures: {period(fig)}")]
        for line in lines[1:]:  # a heading line, then its "• " items as one list
            if line.startswith("• ") and body[-1].get("size") != "Medium":
                body[-1]["text"] += f"\n- {line[2:]}"
            else:
                body.append(ac.text(line))
        body.append(ac.text(f"{ac.unmarked(fig.authority)} · weeks run Monday to Sunday",
                            subtle=True))
        said = (f"Front Door weekly figures, {period(fig)}: {fig.consultations} consultations, "
                f"{fig.referrals} referrals.")
        return ac.card_activity(ac.card(body, fallback=said), said)

    @staticmethod
    def _report_chart(_cx: sql.Cx | None, _row: OutboxRow, d: dict, _call: Draft) -> dict:
        """The chart's title and what it shows, without the PNG: a bot cannot upload a file
        to a channel without SharePoint rights, and the chart (about 60 KB) is more than a
        Teams message carries inline. A row of the release before carries its PNG: inline
        when it fits."""
        if "content_b64" not in d:
            body = [ac.heading(str(d["title"])), ac.text(str(d["alt"])),
                    ac.text("Teams does not show the chart; the figures are in the summary "
                            "above.", subtle=True)]
            return ac.card_activity(ac.card(body, fallback=str(d["title"])), str(d["title"]))
        content = str(d["content_b64"])
        image = {"type": "message", "text": ac.clip(str(d["title"]), 300),
                 "textFormat": "plain",
                 "attachments": [{"contentType": "image/png", "name": str(d["filename"]),
                                  "contentUrl": f"data:image/png;base64,{content}"}]}
        if len(json.dumps(image).encode()) <= ac.MAX_ACTIVITY_BYTES:
            return image
        size = len(base64.b64decode(content)) // 1024
        body = [ac.heading(str(d["title"])), ac.text(str(d["alt"])),
                ac.text(f"The chart ({size} KB) is larger than a Teams message can carry; the "
                        "figures are in the summary above.", subtle=True)]
        return ac.card_activity(ac.card(body, fallback=str(d["title"])), str(d["title"]))


def _caf_drawer(intent: str) -> Callable[..., dict]:
    return lambda self, _cx, _row, d, call: self._caf(intent, d, call)


def _static(draw: Callable[..., dict | None]) -> Callable[..., dict | None]:
    return lambda _self, cx, row, d, call: draw(cx, row, d, call)


_R = TeamsRenderer
_DRAW: dict[str, Callable[..., dict | None]] = {
    intents.TRIAGE_CARD: _R._triage_card,
    intents.TRIAGE_CARD_UPDATE: _R._triage_card,
    intents.CONSULTATION_CARD: _R._consultation_card,
    intents.CONSULTATION_CARD_UPDATE: _R._consultation_card,
    intents.CARD_NOTE: _R._card_note,
    intents.EDT_ALERT: _R._edt_alert,
    intents.SLA_ESCALATION: _R._sla_escalation,
    intents.NOTICE: _static(_R._notice),
    intents.DEAD_LETTER: _R._dead_letter,
    intents.FLOW_QUESTION: _static(_R._flow_question),
    intents.FLOW_QUESTION_CLOSED: _static(_R._flow_question_closed),
    intents.FLOW_COMPLETED: _R._flow_completed,
    intents.FLOW_URGENT: _R._flow_urgent,
    intents.FLOW_REDIRECTED: _R._flow_status(flow.redirected),
    intents.FLOW_CANCELLED: _R._flow_status(flow.cancelled),
    intents.FLOW_EXPIRED: _R._flow_status(flow.expired),
    intents.REFERRER_OUTCOME: _R._referrer_outcome,
    intents.REFERRER_INFO_REQUEST: _static(_R._referrer_info),
    intents.ADVICE: _R._advice,
    intents.ADVICE_REDRAW: _R._advice_redraw,
    intents.REPORT_SUMMARY: _static(_R._report_summary),
    intents.REPORT_CHART: _static(_R._report_chart),
    **{name: _caf_drawer(name) for name in intents.KINDS if name.startswith("caf.")},
    **{name: (lambda n: lambda self, _cx, _row, d, call: self._caf_qa(n, d, call))(name)
       for name in intents.KINDS if name.startswith("caf_qa.")},
}


_user, _users, _groups = intents.user_of, intents.users_of, intents.groups_of
_channel = intents.channel_of


def _need(message_id: str | None) -> str:
    if not message_id:
        raise NotReady("the message to update has not been delivered yet")
    return message_id
