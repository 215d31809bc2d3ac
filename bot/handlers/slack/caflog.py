"""``/caflog``: the CAF consultation log for duty advisors and managers.

* ``/caflog`` shows the newest consultations privately, with *Filter…* and
  *Export CSV* buttons;
* ``/caflog since:2026-11-01 outcome:early_help`` filters (also ``until:``,
  ``category:``, ``agency:``, ``advisor:`` with a user ID; the modal has a people picker);
* ``/caflog export [filters]`` sends the filtered log as a CSV file to the
  person's DM with the bot (uploaded straight away: it is an interactive
  request, and file bytes do not belong in the outbox).

Only advisors and managers (``Roles.is_advisor``) may read it; anyone else is
told so privately and the attempt is audited (``denied.caflog``). Reading and
exporting are audited too (``caflog.viewed``, ``caflog.exported``: the filter
and a count, never the contents).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import caflog
from bot.handlers.slack.blocks import caflog as blocks
from bot.handlers.slack.common import (
    After,
    Outcome,
    Refuse,
    later,
    off_loop,
    on_action,
    on_submit,
    shielded,
    state_value,
    tell,
    told,
    who,
)
from bot.services import Services
from store import repo
from store.db import session_scope

USAGE = (
    "Filters are words like `since:2026-11-01 until:2026-11-30 outcome:early_help "
    "category:neglect agency:education advisor:U0123ABCD` (or use the Filter… button); "
    "`/caflog export` sends the log as a "
    "CSV file to your direct messages."
)


def register(app: AsyncApp, sv: Services) -> None:
    """Register /caflog, its buttons and its filter modal on ``app``."""

    def denied(user: str, what: str) -> None:
        with session_scope(sv.engine, write=True) as s:
            repo.audit(s, actor=user, action="denied.caflog", subject_type="caflog",
                       subject_id=what, at=sv.clock())


    def read(user: str, f: caflog.LogFilter) -> tuple[list[caflog.LogEntry], int]:
        with session_scope(sv.engine, write=True) as s:
            entries, total = caflog.latest(s, f, sv.policy.tz, blocks.SHOWN)
            caflog.audit_access(s, actor=user, action="caflog.viewed", f=f, count=total,
                                at=sv.clock())
            return entries, total

    def export(user: str, f: caflog.LogFilter) -> tuple[str, int]:
        with session_scope(sv.engine, write=True) as s:
            text, count = caflog.export_csv(s, f, sv.policy.tz)
            caflog.audit_access(s, actor=user, action="caflog.exported", f=f, count=count,
                                at=sv.clock())
            return text, count

    async def show(user: str, channel: str | None, f: caflog.LogFilter) -> None:
        entries, total = await off_loop(read, user, f)
        msg = blocks.log_message(entries, total, f, sv.policy.tz, sv.clock())
        await tell(sv, user, channel, msg["text"], msg["blocks"])

    async def send_export(user: str, channel: str | None, f: caflog.LogFilter) -> None:
        text, count = await off_loop(export, user, f)
        dm = await sv.sender.resolve_channel(user)
        await sv.client.files_upload_v2(
            channel=dm,
            content=caflog.excel_bytes(text),
            filename=caflog.export_filename(f, sv.clock(), sv.policy.tz),
            title="CAF consultation log",
            initial_comment=blocks.export_comment(f, count),
        )
        if channel != dm:
            await tell(sv, user, channel, "The consultation log is in your direct messages "
                       "with Front Door.")

    def parse(value: str) -> caflog.LogFilter:
        try:
            return caflog.parse_query(value)
        except caflog.FilterError:
            return caflog.LogFilter()  # a button's own value: never a person's typing

    @app.command("/caflog")
    async def command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await shielded(sv, body, run_command(body), "caflog")

    async def run_command(body: dict[str, Any]) -> None:
        user, channel = body["user_id"], body.get("channel_id")
        words = str(body.get("text") or "").split()
        wants_export = bool(words) and words[0].lower() == "export"
        no = await refused(user, channel, "export" if wants_export else "view")
        if no:
            await no()
            return
        try:
            f = caflog.parse_query(" ".join(words[1:] if wants_export else words))
        except caflog.FilterError as exc:
            await tell(sv, user, channel, "; ".join(exc.problems)[:1500] + "\n" + USAGE)
            return
        if wants_export:
            await send_export(user, channel, f)
        else:
            await show(user, channel, f)

    async def refused(user: str, channel: str | None, what: str) -> After | None:
        """None for advisors and managers; anyone else is audited now, told after the ack."""
        if await sv.roles.is_advisor(user):
            return None
        await off_loop(denied, user, what)
        return told(sv, user, channel, blocks.REFUSED)

    async def filter_clicked(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, _ = who(body)
        no = await refused(user, channel, "filter")
        if no:
            return no
        f = parse(str(action.get("value") or ""))
        return later(sv.client.views_open, trigger_id=body["trigger_id"],
                     view=blocks.filter_modal(f, channel or ""))

    async def export_clicked(body: dict[str, Any], action: dict[str, Any]) -> Outcome:
        user, channel, _ = who(body)
        return await refused(user, channel, "export") or later(
            send_export, user, channel, parse(str(action.get("value") or "")))

    async def filter_submitted(body: dict[str, Any], view: dict[str, Any]) -> Outcome:
        user = body["user"]["id"]
        channel = str(view.get("private_metadata") or "") or None
        # The role first: someone else's filter is not even checked.
        no = await refused(user, channel, "filter")
        if no:
            return no
        values = {key: state_value(view, pair) for key, pair in (
            ("since", blocks.IN_SINCE), ("until", blocks.IN_UNTIL),
            ("outcome", blocks.IN_OUTCOME), ("category", blocks.IN_CATEGORY),
            ("agency", blocks.IN_AGENCY), ("advisor", blocks.IN_ADVISOR))}
        try:
            f = caflog.make_filter(blocks.FILTER_LABELS, **values)
        except caflog.FilterError as exc:  # e.g. the dates the wrong way round
            return Refuse({blocks.IN_UNTIL[0]: "; ".join(exc.problems)[:2000]})
        return later(show, user, channel, f)

    on_action(app, sv, blocks.FILTER, filter_clicked)
    on_action(app, sv, blocks.EXPORT, export_clicked)
    on_submit(app, sv, blocks.MODAL, filter_submitted)
