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

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.flows.consultation import log as caflog
from bot.handlers.slack.blocks import caflog as blocks
from bot.handlers.slack.common import (
    After,
    Outcome,
    Refuse,
    later,
    on_action,
    on_submit,
    services,
    shielded,
    state_value,
    tell,
    told,
    who,
)
from bot.services import Services

# A user as Slack writes one in a command's text (``<@U0123ABCD|dee>``), or a user id
# typed with or without its ``@`` (with a digit, as Slack's have: ``@WILL`` is a name).
_MENTION = re.compile(r"^(?:<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>"
                      r"|@?((?=[A-Z0-9]*\d)[UW][A-Z0-9]{2,}))$")
PLATFORM = "slack"

USAGE = (
    "Filters are words like `since:2026-11-01 until:2026-11-30 outcome:early_help "
    "category:neglect agency:education advisor:U0123ABCD` (or use the Filter… button); "
    "`/caflog export` sends the log as a "
    "CSV file to your direct messages."
)


def register(app: AsyncApp) -> None:
    """Register /caflog, its buttons and its filter modal on ``app``."""
    app.command("/caflog")(command)
    on_action(app, blocks.FILTER, filter_clicked)
    on_action(app, blocks.EXPORT, export_clicked)
    on_submit(app, blocks.MODAL, filter_submitted)


async def command(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """``/caflog [export] [filters]``."""
    await ack()
    sv = services(context)
    await shielded(sv, body, run_command(sv, body), "caflog")


def mentioned(word: str) -> str | None:
    """The Slack user id a command's word names (a mention or a typed id), else None."""
    m = _MENTION.match(word)
    return (m.group(1) or m.group(2)) if m else None


def plain_ids(text: str) -> str:
    """The command's words with a mentioned advisor as the plain user id the log filters
    by (``advisor:<@U0123ABCD|dee>`` -> ``advisor:U0123ABCD``); other words unchanged."""
    out = []
    for word in text.split():
        key, sep, value = word.partition(":")
        user = mentioned(value) if sep and key.lower() == "advisor" else None
        out.append(f"{key}:{user}" if user else word)
    return " ".join(out)


def parse(text: str) -> caflog.LogFilter:
    """``/caflog``'s words as a filter, mentions read as Slack user ids."""
    return caflog.parse_query(plain_ids(text), platform=PLATFORM)


async def run_command(sv: Services, body: dict[str, Any]) -> None:
    """Show or export the log as the command asks (advisors and managers only)."""
    user, channel = body["user_id"], body.get("channel_id")
    words = str(body.get("text") or "").split()
    wants_export = bool(words) and words[0].lower() == "export"
    no = await refused(sv, user, channel, "export" if wants_export else "view")
    if no:
        await no()
        return
    try:
        f = parse(" ".join(words[1:] if wants_export else words))
    except caflog.FilterError as exc:
        await tell(sv, user, channel, "; ".join(exc.problems)[:1500] + "\n" + USAGE)
        return
    if wants_export:
        await send_export(sv, user, channel, f)
    else:
        await show(sv, user, channel, f)


async def show(sv: Services, user: str, channel: str | None, f: caflog.LogFilter) -> None:
    """The newest entries, privately (the read is audited)."""
    entries, total = await sv.caflog.aread(user, f, blocks.SHOWN)
    msg = blocks.log_message(entries, total, f, sv.policy.tz, sv.clock())
    await tell(sv, user, channel, msg["text"], msg["blocks"])


async def send_export(sv: Services, user: str, channel: str | None, f: caflog.LogFilter,
                      ) -> None:
    """The log as a CSV file in the person's DM (the export is audited)."""
    text, count = await sv.caflog.aexport(user, f)
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


def _parse(value: str) -> caflog.LogFilter:
    try:
        return parse(value)
    except caflog.FilterError:
        return caflog.LogFilter()  # a button's own value: never a person's typing


async def refused(sv: Services, user: str, channel: str | None, what: str) -> After | None:
    """None for advisors and managers; anyone else is audited now, told after the ack."""
    if await sv.roles.is_advisor(user):
        return None
    await sv.caflog.adenied(user, what)
    return told(sv, user, channel, blocks.REFUSED)


async def filter_clicked(sv: Services, body: dict[str, Any], action: dict[str, Any]
                         ) -> Outcome:
    """*Filter…*: the filter modal."""
    user, channel, _ = who(body)
    no = await refused(sv, user, channel, "filter")
    if no:
        return no
    f = _parse(str(action.get("value") or ""))
    return later(sv.client.views_open, trigger_id=body["trigger_id"],
                 view=blocks.filter_modal(f, channel or ""))


async def export_clicked(sv: Services, body: dict[str, Any], action: dict[str, Any]
                         ) -> Outcome:
    """*Export CSV*."""
    user, channel, _ = who(body)
    return await refused(sv, user, channel, "export") or later(
        send_export, sv, user, channel, _parse(str(action.get("value") or "")))


async def filter_submitted(sv: Services, body: dict[str, Any], view: dict[str, Any]
                           ) -> Outcome:
    """The filter modal submitted: the log as filtered."""
    user = body["user"]["id"]
    channel = str(view.get("private_metadata") or "") or None
    # The role first: someone else's filter is not even checked.
    no = await refused(sv, user, channel, "filter")
    if no:
        return no
    values = {key: state_value(view, pair) for key, pair in (
        ("since", blocks.IN_SINCE), ("until", blocks.IN_UNTIL),
        ("outcome", blocks.IN_OUTCOME), ("category", blocks.IN_CATEGORY),
        ("agency", blocks.IN_AGENCY), ("advisor", blocks.IN_ADVISOR))}
    try:
        f = caflog.make_filter(blocks.FILTER_LABELS, platform=PLATFORM, **values)
    except caflog.FilterError as exc:  # e.g. the dates the wrong way round
        return Refuse({blocks.IN_UNTIL[0]: "; ".join(exc.problems)[:2000]})
    return later(show, sv, user, channel, f)
