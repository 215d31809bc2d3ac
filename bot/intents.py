"""What the bot says, as platform-neutral intents (issue 17).

Every outgoing message is an outbox row holding an *intent*: its name (what is
said: "post the triage card", "ask the flow's question", "nudge"), the subject it
is about (``subject_type``/``subject_id``), its address (a person or a
conversation) and neutral, JSON-able data. A platform's renderer (for Slack,
``bot.handlers.slack.render``) turns it into that platform's call when the row is
sent. Nothing here knows a chat platform: people, user groups and conversations
in the data are structured (``{"user": id}``, ``{"group": id}``,
``{"channel": id}``), never markup.

The row's intent is read and written only through ``queue`` and ``intent_of``
(the ``intent`` column; the row's ``platform`` says whose renderer draws it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bot.flows.guided.models import Finding, Kind, Option, Prompt, Reason, Status, Step, Suggestion
from store.sql import OutboxRow
from store.tx import Db, as_tx
from store.types import DEFAULT_PLATFORM

# What an intent does to the conversation: a new message (the one kind that is searched
# for before a resend: only a new message can be duplicated), a redraw of one already
# delivered, or a file.
POST, UPDATE, FILE = "post", "update", "file"

KINDS: dict[str, str] = {}


def _intent(name: str, kind: str = POST) -> str:
    KINDS[name] = kind
    return name


# Cards, drawn from the current rows when sent.
TRIAGE_CARD = _intent("triage_card.post")
TRIAGE_CARD_UPDATE = _intent("triage_card.update", UPDATE)
CONSULTATION_CARD = _intent("consultation_card.post")
CONSULTATION_CARD_UPDATE = _intent("consultation_card.update", UPDATE)
CARD_NOTE = _intent("triage_card.note")  # in the card's thread: {text, notify, groups, by}
EDT_ALERT = _intent("triage_card.edt_alert")  # {reference, rating, card: {channel}}
SLA_ESCALATION = _intent("triage_card.sla_escalation")  # {text, card: {channel}}
# The professional's guided flow (data: the flow's ``step``).
FLOW_QUESTION = _intent("flow.question")
FLOW_QUESTION_CLOSED = _intent("flow.question_closed", UPDATE)  # {question, step, message}
FLOW_COMPLETED = _intent("flow.completed")  # {step, referral}
FLOW_URGENT = _intent("flow.urgent")  # {step, at}
FLOW_REDIRECTED = _intent("flow.redirected")
FLOW_CANCELLED = _intent("flow.cancelled")
FLOW_EXPIRED = _intent("flow.expired")
# The referrer and the consulting professional.
REFERRER_OUTCOME = _intent("referrer.outcome")  # {card, referral}
REFERRER_INFO_REQUEST = _intent("referrer.info_request")  # {card, question}
ADVICE = _intent("consultation.advice")  # {consultation}
ADVICE_REDRAW = _intent("consultation.advice_redraw", UPDATE)  # {changing}, of ``of_key``
# CAF / early help (data: the ``episode`` as it was, and the builder's arguments).
CAF_REGISTERED = _intent("caf.registered")  # {episode, user, actor}
CAF_LINKED = _intent("caf.linked")  # {episode, card, actor}
CAF_UPDATE = _intent("caf.update")  # {episode, said, live}
CAF_DONE = _intent("caf.done", UPDATE)  # {episode, said, message}
CAF_CLOSED = _intent("caf.closed")  # {episode, actor}
CAF_STUCK_COORDINATOR = _intent("caf.stuck_coordinator")  # {episode, actor, note}
CAF_STUCK_DUTY = _intent("caf.stuck_duty")  # {episode, actor, note}
CAF_PANEL = _intent("caf.panel")  # {episode, note, months, held}
CAF_PANEL_TOLD = _intent("caf.panel_told")  # {episode}
CAF_TAC_OVERDUE = _intent("caf.tac_overdue")  # {episode, due, today}
CAF_REASSESS = _intent("caf.reassess")  # {episode}
CAF_NO_LEAD = _intent("caf.no_lead")  # {episode, stage}
# A CAF manager's quality assurance (bot.flows.caf.qa; data: the ``qa`` request and the
# ``episode`` as they were). The card goes to the CAF team's channel and is redrawn with
# the answer (``of_key``: the card's row); the answer goes to the people holding the CAF.
CAF_QA_CARD = _intent("caf_qa.card")  # {qa, episode, due}
CAF_QA_CARD_DONE = _intent("caf_qa.card_done", UPDATE)  # {qa, episode}, of ``of_key``
CAF_QA_AGREED = _intent("caf_qa.agreed")  # {qa, episode}
CAF_QA_RETURNED = _intent("caf_qa.returned")  # {qa, episode}
CAF_QA_DUE = _intent("caf_qa.due")  # {qa, episode, due}: not answered in time
# The managers' weekly figures and their chart.
REPORT_SUMMARY = _intent("report.summary")  # {figures}
REPORT_CHART = _intent("report.chart", FILE)  # {filename, title, alt, content_b64}
# The sender's own: a message it gave up on.
DEAD_LETTER = _intent("outbox.dead_letter")  # {about, attempts, error, row, unconfirmed}
# Plain words to a person or a conversation: {text, thread (a message id to answer under)}.
NOTICE = _intent("notice")
# A row the release before intents queued (migration 0005 keeps it as it was: the
# platform's call and its arguments), delivered as queued, searched for like a post.
LEGACY = _intent("slack_call")  # {method, args}


# Drawn from the rows as they are when sent: a renderer reads the database for them.
FROM_ROWS = frozenset({
    TRIAGE_CARD, TRIAGE_CARD_UPDATE, CONSULTATION_CARD, CONSULTATION_CARD_UPDATE,
    ADVICE_REDRAW, CARD_NOTE,
})
# Redraws of their subject's own message: the subject whose delivered message they replace.
REDRAWS = {TRIAGE_CARD_UPDATE: "card", CONSULTATION_CARD_UPDATE: "consultation"}


def needs_rows(row: Any) -> bool:
    """Whether drawing ``row`` reads the database (else it is drawn from its data alone)."""
    return intent_of(row) in FROM_ROWS or "of_key" in row.payload


def kind(intent: str) -> str:
    """POST, UPDATE or FILE ("" for a name this release does not know)."""
    return KINDS.get(intent, "")


# --- addresses and structured mentions -------------------------------------------


def person(user_id: str) -> dict[str, str]:
    """A person: the platform opens (or finds) the direct conversation with them."""
    return {"user": user_id}


def conversation(channel_id: str) -> dict[str, str]:
    """A conversation (a channel) by the platform's id for it."""
    return {"channel": channel_id}


def group(group_id: str) -> dict[str, str]:
    """A user group (mentioned, never addressed)."""
    return {"group": group_id}


def user_of(value: Any) -> str:
    """A person's id from structured data (``{"user": id}``) or a bare id."""
    if isinstance(value, dict):
        return str(value.get("user") or "")
    return str(value or "")


def users_of(values: Any) -> list[str]:
    """The ids of a list of people."""
    return [user_of(v) for v in values or ()]


def groups_of(values: Any) -> list[str]:
    """The ids of a list of groups (``{"group": id}`` or bare ids)."""
    return [str(v.get("group") if isinstance(v, dict) else v) for v in values or ()]


def channel_of(value: Any) -> str:
    """A conversation's id from structured data (``{"channel": id}``) or a bare id."""
    return str((value.get("channel") if isinstance(value, dict) else value) or "")


@dataclass(frozen=True, slots=True)
class Address:
    """Where a row goes: the platform id of a person or a conversation."""

    id: str
    is_person: bool

    @classmethod
    def of(cls, row: OutboxRow) -> Address:
        to = row.payload.get("to") or {}
        if "user" in to:
            return cls(str(to["user"]), True)
        return cls(str(to.get("channel") or row.channel), False)


# --- the row: one accessor each way ------------------------------------------------


def queue(
    db: Db, intent: str, *, key: str, to: dict[str, str], data: dict[str, Any] | None = None,
    subject_type: str | None = None, subject_id: int | None = None,
    of_key: str | None = None, claim: bool = False, not_before: Any = None,
    platform: str = DEFAULT_PLATFORM,
) -> bool:
    """Queue ``intent`` for ``to`` once per ``key`` (False: that key was queued before).

    ``of_key``: the intent redraws (UPDATE) or answers in the thread of the message
    another row delivered, found by that row's key when sent. ``claim``: this process
    sends it right after commit (see ``Tx.enqueue``).
    """
    payload: dict[str, Any] = {"to": to, **(data or {})}
    if of_key:
        payload["of_key"] = of_key
    address = to.get("user") or to.get("channel") or ""
    return as_tx(db).enqueue(
        key=key, intent=intent, channel=address, payload=payload, subject_type=subject_type,
        subject_id=subject_id, not_before=not_before, claim=claim, platform=platform,
    )


def intent_of(row: Any) -> str:
    """The intent of an outbox row (``OutboxRow`` or the ORM's ``OutboxMessage``), stored in
    the ``intent`` column)."""
    return row.intent


def posts(row: Any) -> bool:
    """Whether the row posts a new message (the kind a resend could duplicate)."""
    return kind(intent_of(row)) == POST


# The column, for the few queries that select rows by intent.
COLUMN = "intent"


# --- a flow's step as data -----------------------------------------------------------


def step_data(step: Step, *, about: str | None = None) -> Step:
    """A step for an intent's data: written as JSON as it is (a dataclass), and read
    back by ``step_from``; the row a request claims keeps the object, so the question
    it sends at once is drawn without a round trip through JSON. ``about``: only the
    answer to that question is kept (a question's message shows no other)."""
    if about is None:
        return step
    kept = {about: step.answers[about]} if about in step.answers else {}
    return dataclasses.replace(step, answers=kept, findings=())


def step_from(value: Step | dict[str, Any]) -> Step:
    """The ``Step`` an intent's data holds (the object, or its JSON read back)."""
    if isinstance(value, Step):
        return value
    d = dict(value)
    p = d.get("prompt")
    prompt = None if p is None else Prompt(
        id=p["id"], text=p["text"], kind=Kind(p["kind"]),
        options=tuple(Option(o["value"], o["label"]) for o in p.get("options") or ()),
        help=p.get("help", ""), optional=bool(p.get("optional")),
        placeholder=p.get("placeholder", ""),
    )
    s = d.get("suggestion")
    suggestion = None if s is None else Suggestion(
        outcome=s["outcome"], rating=s.get("rating"),
        reasons=tuple(Reason(r["rule"], r["text"], r["source"]) for r in s.get("reasons") or ()),
        notes=tuple(s.get("notes") or ()),
    )
    return Step(
        status=Status(d["status"]), flow_id=d.get("flow_id"), flow_kind=d.get("flow_kind"),
        prompt=prompt, step_no=d.get("step_no", 0), step_total=d.get("step_total", 0),
        answers=dict(d.get("answers") or {}), can_go_back=bool(d.get("can_go_back")),
        message=d.get("message", ""),
        findings=tuple(Finding(**f) for f in d.get("findings") or ()),
        errors=tuple(d.get("errors") or ()), suggestion=suggestion,
        reference=d.get("reference"), consultation_id=d.get("consultation_id"),
        referral_id=d.get("referral_id"), card_id=d.get("card_id"), version=d.get("version", 0),
    )


def snapshot(row: Any) -> dict[str, Any] | None:
    """A model row as JSON values (what a message said is what the row was then). Where
    its own message was delivered is not in it: that is ``bot.delivered``'s."""
    return None if row is None else row.model_dump(mode="json")


def restore(model: type[Any], data: dict[str, Any] | None) -> Any:
    """The model row a ``snapshot`` holds."""
    return None if data is None else model.model_validate(data)
