"""platforms: provider-qualified ids, wide enough for Teams; message references; intents

Ids of people, conversations and messages are each platform's own, so rows that
carry them gain ``platform`` (every existing row is Slack's) and their columns
widen from 32 to 255 characters (an Entra object id is 36, a Teams conversation
id often over 100). Where a message sits (a card's post, a consultation card, a
flow's question on screen) moves from ``ts`` columns on those rows to
``message_ref``. Outbox rows name a platform-neutral intent, not a Web API
method: rows still queued by the previous release keep their Slack call as the
``slack_call`` intent, which only the Slack renderer sends, exactly as queued.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 255
OLD = 32
WIDE = {  # table -> columns holding a platform's id of a person or conversation
    "flow_session": ["user_id"],
    "consultation": ["advisor_user_id"],
    "triage_card": ["referrer_user_id", "assignee_user_id", "decided_by"],
    "decision": ["actor"],
    "outbox": ["channel"],
    "caf_episode": ["lead_user_id", "coordinator_user_id"],
    "caf_meeting": ["recorded_by"],
}
PLATFORM_TABLES = ("professional", "flow_session", "consultation", "triage_card", "outbox",
                   "caf_episode")
# Where each subject's message was, before this revision: (table, subject, purpose,
# conversation column, message column).
REFS = (
    ("triage_card", "card", "post", "channel", "ts"),
    ("consultation", "consultation", "post", "card_channel", "card_ts"),
    ("flow_session", "flow", "question", "channel", "message_ts"),
)


def _s(length: int) -> sa.String:
    return sa.String(length=length)


def _platform() -> sa.Column:
    return sa.Column("platform", _s(16), nullable=False, server_default="slack")


def upgrade() -> None:
    op.create_table(
        "message_ref",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", _s(32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("purpose", _s(32), nullable=False),
        _platform(),
        sa.Column("conversation", _s(ID), nullable=False),
        sa.Column("message_id", _s(ID), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_type", "subject_id", "purpose", "platform",
                            name="uq_message_ref_subject"),
    )
    now = sa.bindparam("now", store.types.utcnow(), type_=store.types.UTCDateTime())
    for table, subject, purpose, conv, msg in REFS:
        # A row queued but never delivered still knows its conversation: updates and
        # threads queued behind it wait for its message id, as before.
        op.execute(sa.text(
            f"INSERT INTO message_ref (subject_type, subject_id, purpose, platform, "
            f"conversation, message_id, created_at, updated_at) "
            f"SELECT '{subject}', id, '{purpose}', 'slack', {conv}, "
            f"CASE WHEN {msg} = '' THEN NULL ELSE {msg} END, :now, :now FROM {table} "
            f"WHERE {conv} IS NOT NULL AND {conv} <> ''"
        ).bindparams(now))

    # The old unique constraint on professional.slack_user_id has no name on SQLite:
    # the naming convention gives it one for batch mode to drop.
    uq = _unique_name("professional", ["slack_user_id"])
    with op.batch_alter_table(
        "professional",
        naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"},
    ) as batch_op:
        batch_op.drop_constraint(uq or "uq_professional_slack_user_id", type_="unique")
        batch_op.alter_column("slack_user_id", new_column_name="user_id",
                              existing_type=_s(OLD), type_=_s(ID), existing_nullable=False)
        batch_op.add_column(_platform())
    with op.batch_alter_table("professional") as batch_op:  # on the columns made above
        batch_op.create_unique_constraint("uq_professional_user", ["platform", "user_id"])

    # The one-active-flow index is per platform's person now.
    with op.batch_alter_table("flow_session") as batch_op:
        batch_op.drop_index("uq_flow_active_user")
    for table in PLATFORM_TABLES[1:]:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(_platform())
    for table, columns in WIDE.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=_s(OLD), type_=_s(ID))
    with op.batch_alter_table("audit") as batch_op:
        batch_op.alter_column("actor", existing_type=_s(64), type_=_s(ID))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite alters a table by copying it: the copy has none of the triggers that keep
        # the audit log append-only (0001), so they are made again on it.
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_no_{verb.lower()} BEFORE {verb} ON audit "
                "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END"
            )
    with op.batch_alter_table("flow_session") as batch_op:
        batch_op.drop_column("channel")
        batch_op.drop_column("message_ts")
        batch_op.create_index(
            "uq_flow_active_user", ["platform", "user_id"], unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
    with op.batch_alter_table("consultation") as batch_op:
        batch_op.drop_column("card_channel")
        batch_op.drop_column("card_ts")
    with op.batch_alter_table("triage_card") as batch_op:
        batch_op.drop_column("channel")
        batch_op.drop_column("ts")

    with op.batch_alter_table("outbox") as batch_op:
        batch_op.alter_column("method", new_column_name="intent",
                              existing_type=_s(64), existing_nullable=False)
        batch_op.alter_column("result_ts", new_column_name="message_id",
                              existing_type=_s(OLD), type_=_s(ID))
    _queued_rows_keep_their_call()


def _unique_name(table: str, columns: list[str]) -> str | None:
    for uc in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if uc["column_names"] == columns:
            return uc["name"]
    return None


# Rows the previous release queued as instructions to draw at send time (cards, the
# advice DM's redraw): the same thing said as this release's intents.
_RENDERED = {
    ("triage_card", "chat.postMessage"): ("triage_card.post", "card"),
    ("triage_card", "chat.update"): ("triage_card.update", "card"),
    ("consultation_card", "chat.postMessage"): ("consultation_card.post", "consultation"),
    ("consultation_card", "chat.update"): ("consultation_card.update", "consultation"),
    ("advice_dm", "chat.update"): ("consultation.advice_redraw", "consultation"),
}


def _queued_rows_keep_their_call() -> None:
    """Rows the previous release queued and has not finished. Those it drew at send time
    become this release's intents for the same thing; the rest were whole Slack calls:
    each is kept as the ``slack_call`` intent ({"method", "args"}), sent by the Slack
    renderer as queued (a note in a card's thread gets the card's message as its
    thread). Delivered and dead rows keep their payload as a record."""
    bind = op.get_bind()
    outbox = sa.table(
        "outbox", sa.column("id", sa.Integer), sa.column("intent", sa.String),
        sa.column("payload", sa.JSON), sa.column("status", sa.String),
        sa.column("subject_type", sa.String), sa.column("subject_id", sa.Integer),
    )
    ref = sa.table("message_ref", sa.column("subject_type", sa.String),
                   sa.column("subject_id", sa.Integer), sa.column("purpose", sa.String),
                   sa.column("message_id", sa.String))
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.intent, outbox.c.payload, outbox.c.subject_id)
        .where(outbox.c.status.in_(("pending", "sending")))
    ).all()
    for row_id, method, payload, subject_id in rows:
        payload = dict(payload or {})
        drawn = _RENDERED.get((payload.get("render"), method))
        if drawn is not None:
            intent, subject = drawn
            channel = str(payload.get("channel") or "")
            new: dict = {"to": {"user": channel} if subject == "consultation"
                         and intent.endswith("advice_redraw") else {"channel": channel}}
            if payload.get("ts_of"):
                new["of_key"] = payload["ts_of"]
            if payload.get("changing"):
                new["changing"] = True
            values = {"intent": intent, "payload": new, "subject_type": subject,
                      "subject_id": int(payload.get("id") or subject_id or 0)}
        else:
            thread_of = str(payload.pop("thread_of", "") or "")
            kind, _, sid = thread_of.partition(":")
            if kind == "card" and sid.isdigit():
                ts = bind.execute(sa.select(ref.c.message_id).where(
                    ref.c.subject_type == "card", ref.c.subject_id == int(sid),
                    ref.c.purpose == "post")).scalar()
                if ts:
                    payload["thread_ts"] = ts
            values = {"intent": "slack_call", "payload": {"method": method, "args": payload}}
        bind.execute(outbox.update().where(outbox.c.id == row_id).values(**values))


def downgrade() -> None:
    raise NotImplementedError(
        "0005 cannot be undone: restore the backup taken before upgrading"
    )
