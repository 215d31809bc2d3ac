"""Text and Block Kit building blocks shared by every renderer.

Two rules run through this module:

* **Everything a person typed is escaped** (:func:`escape`) before it goes into
  ``mrkdwn``, so ``<!channel>``, ``<@U123>`` or ``<http://x|y>`` in an answer
  show as literal text instead of pinging a channel or hiding a link.
* **Every string is clipped to Slack's limit** (:func:`clip`), and clipping
  happens on the escaped text without cutting an entity such as ``&amp;`` in
  half, so a 10,000-character answer degrades to "…" instead of a rejected
  message (Slack refuses the whole payload if one field is too long).

Nothing here reads the clock: times are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# Re-exported: the renderer's modules take every word helper from here.
from bot.labels import duration_words as duration_words
from bot.labels import humanize as humanize
from bot.labels import to_utc as to_utc

Block = dict[str, Any]

# Slack's documented limits (https://docs.slack.dev/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
OPTION_LIMIT = 75
MAX_OPTIONS = 100
MAX_ACTION_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
CONTEXT_LIMIT = 3000
PLACEHOLDER_LIMIT = 150
ID_LIMIT = 255
MODAL_TITLE_LIMIT = 24
MODAL_BUTTON_LIMIT = 24
CONFIRM_TITLE_LIMIT = 100
CONFIRM_TEXT_LIMIT = 300
CONFIRM_BUTTON_LIMIT = 30
INPUT_LIMIT = 3000
OPTION_VALUE_LIMIT = 150
FALLBACK_LIMIT = 300  # our own cap: notification text stays short and free of user text

ELLIPSIS = "…"

# C0 control characters (bar tab and newline) and DEL: invisible, and some clients choke.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_LONGEST_ENTITY = len("&amp;")
# Slack user IDs we are allowed to turn into mentions (U… or W… for Enterprise Grid).
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------- text


def escape(s: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so user text renders literally in ``mrkdwn``.

    Control characters (other than newline and tab) are dropped as well. ``&`` goes
    first, or the ``&`` of ``&lt;`` would be escaped again.
    """
    s = _CONTROL.sub("", str(s))
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(s: str, limit: int) -> str:
    """Shorten ``s`` to at most ``limit`` characters, ending in "…" when cut.

    Safe on escaped text: an entity (``&amp;``, ``&lt;``, ``&gt;``) that would be
    cut in half is dropped whole, so the result never shows a stray ``&am``.
    """
    if limit <= 0:
        return ""
    if len(s) <= limit:
        return s
    if limit == 1:
        return ELLIPSIS
    cut = limit - 1
    # Does an entity straddle the cut? Look back at most one entity's length.
    amp = s.rfind("&", max(0, cut - _LONGEST_ENTITY + 1), cut)
    if amp != -1:
        m = _ENTITY.match(s, amp)
        if m and m.end() > cut:
            cut = amp
    return s[:cut] + ELLIPSIS


def esc(s: object, limit: int = SECTION_LIMIT) -> str:
    """Escape then clip: the usual treatment for user text in ``mrkdwn``."""
    return clip(escape("" if s is None else str(s)), limit)


def nonempty(s: str, fallback: str = "—") -> str:
    """Slack refuses empty text objects: show a dash instead of nothing."""
    return s if s.strip() else fallback


def mention(user_id: str | None, *, nobody: str = "nobody") -> str:
    """``<@U…>`` for a real Slack user ID; anything else is shown escaped, never as a mention."""
    if not user_id:
        return nobody
    if _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id)


def bullets(items: Iterable[str], *, escaped: bool = False) -> str:
    """One "• item" line per item (items escaped unless already ``escaped``)."""
    return "\n".join(f"• {item if escaped else escape(item)}" for item in items)


# --------------------------------------------------------------------------- text objects


def plain(s: str, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """A ``plain_text`` object, clipped (plain text is not parsed, so it is not escaped)."""
    return {"type": "plain_text", "text": nonempty(clip(_CONTROL.sub("", s), limit)), "emoji": True}


def mrkdwn(s: str, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """A ``mrkdwn`` object from text the caller has already escaped."""
    return {"type": "mrkdwn", "text": nonempty(clip(s, limit))}


# --------------------------------------------------------------------------- blocks


def section_text(s: str, limit: int = SECTION_LIMIT) -> Block:
    """A section block of already-escaped ``mrkdwn``, clipped to ``limit``."""
    return {"type": "section", "text": mrkdwn(s, min(limit, SECTION_LIMIT))}


def split_text(s: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split already-escaped text into chunks of at most ``limit`` characters.

    Splits at line breaks where it can, else hard-splits a long line (never
    inside an entity).
    """
    chunks: list[str] = []
    current = ""
    for line in s.split("\n"):
        while len(line) > limit:
            cut = limit
            amp = line.rfind("&", max(0, cut - _LONGEST_ENTITY + 1), cut)
            if amp != -1:
                m = _ENTITY.match(line, amp)
                if m and m.end() > cut and amp > 0:
                    cut = amp
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return [c for c in chunks if c.strip()] or [""]


def sections(s: str, limit: int = SECTION_LIMIT, *, max_sections: int = 5) -> list[Block]:
    """Already-escaped text as one or more section blocks of at most ``limit`` characters.

    At most ``max_sections`` are produced (the last one clipped with "…"), so one
    long answer cannot use up a message's 50 blocks.
    """
    limit = min(limit, SECTION_LIMIT)
    chunks = split_text(s, limit)
    if len(chunks) > max_sections:
        chunks = chunks[: max_sections - 1] + [clip(chunks[max_sections - 1] + ELLIPSIS, limit)]
    return [section_text(c, limit) for c in chunks]


def header(s: str) -> Block:
    """A header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": plain(s, HEADER_LIMIT)}


def context(*parts: str) -> Block:
    """A context block of already-escaped ``mrkdwn`` parts (at most 10)."""
    elements = [mrkdwn(p, CONTEXT_LIMIT) for p in parts if p][:MAX_CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements or [mrkdwn("—")]}


def fields_section(pairs: Sequence[tuple[str, str]]) -> Block:
    """A section of up to 10 "*label*\\nvalue" fields (values already escaped)."""
    fields = [
        mrkdwn(f"*{label}*\n{nonempty(clip(value, FIELD_LIMIT - len(label) - 3))}", FIELD_LIMIT)
        for label, value in pairs[:MAX_FIELDS]
    ]
    return {"type": "section", "fields": fields}


def divider() -> Block:
    """A divider block."""
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, confirm: str, deny: str, *, danger: bool = False) -> dict:
    """A confirmation dialog for a button (text is ours, not user text)."""
    dialog: dict[str, Any] = {
        "title": plain(title, CONFIRM_TITLE_LIMIT),
        "text": plain(text, CONFIRM_TEXT_LIMIT),
        "confirm": plain(confirm, CONFIRM_BUTTON_LIMIT),
        "deny": plain(deny, CONFIRM_BUTTON_LIMIT),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A button element (text ≤ 75 characters; value ≤ 2000)."""
    el: dict[str, Any] = {
        "type": "button",
        "text": plain(text, BUTTON_LIMIT),
        "action_id": action_id[:ID_LIMIT],
        "value": value[:2000],
    }
    if style in ("primary", "danger"):
        el["style"] = style
    if confirm is not None:
        el["confirm"] = confirm
    return el


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    """An option for a select (text ≤ 75; value ≤ 150, so stored values must be short)."""
    opt: dict[str, Any] = {"text": plain(text, OPTION_LIMIT), "value": value[:OPTION_VALUE_LIMIT]}
    if description:
        opt["description"] = plain(description, OPTION_LIMIT)
    return opt


def actions(elements: Sequence[dict[str, Any]], block_id: str | None = None) -> Block:
    """An actions block (at most 25 elements)."""
    block: Block = {"type": "actions", "elements": list(elements[:MAX_ACTION_ELEMENTS])}
    if block_id:
        block["block_id"] = block_id[:ID_LIMIT]
    return block


def cap_blocks(blocks: list[Block], limit: int, *, keep_last: int = 0) -> list[Block]:
    """Trim ``blocks`` to ``limit`` (50 for a message, 100 for a view) instead of failing.

    The trimmed blocks are replaced by a context block "… N more not shown". The
    last ``keep_last`` blocks (typically the action buttons) are always kept.
    """
    if len(blocks) <= limit:
        return blocks
    keep_last = max(0, min(keep_last, limit - 2))
    head_n = limit - 1 - keep_last
    tail = blocks[len(blocks) - keep_last :] if keep_last else []
    dropped = len(blocks) - head_n - keep_last
    note = context(f"{ELLIPSIS} {dropped} more not shown")
    return blocks[:head_n] + [note] + tail


def message(fallback: str, blocks: list[Block]) -> dict[str, Any]:
    """A message payload: the fallback ``text`` (for notifications) plus ≤ 50 blocks."""
    return {
        "text": nonempty(clip(fallback, FALLBACK_LIMIT), "Front Door"),
        "blocks": cap_blocks(blocks, MAX_MESSAGE_BLOCKS),
    }


# --------------------------------------------------------------------------- time


def _day_words(local: date, today: date) -> str | None:
    if local == today:
        return "today"
    if local == today + timedelta(days=1):
        return "tomorrow"
    if local == today - timedelta(days=1):
        return "yesterday"
    return None


def when_words(dt: datetime, now: datetime, tz: ZoneInfo) -> str:
    """A local time relative to ``now``: "14:32 today", "tomorrow 09:15", "Mon 28 Dec 09:15"."""
    local = to_utc(dt).astimezone(tz)
    today = to_utc(now).astimezone(tz).date()
    hm = f"{local:%H:%M}"
    day = _day_words(local.date(), today)
    if day == "today":
        return f"{hm} today"
    if day is not None:
        return f"{day} {hm}"
    words = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"
    if local.year != today.year:
        words += f" {local.year}"
    return f"{words} {hm}"


def at_words(dt: datetime, tz: ZoneInfo) -> str:
    """An instant in ``tz`` that stays true whenever it is read: "Thu 3 Dec 14:32"."""
    local = to_utc(dt).astimezone(tz)
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local:%H:%M}"


def live_date(dt: datetime, tz: ZoneInfo) -> str:
    """An instant as Slack shows it in each reader's own time zone, "today" or "Dec 3"
    as of when it is read (``<!date^…>``); clients that cannot, show ``at_words`` in the
    authority's ``tz``. A posted card says this, never "today" or "in 3 h", which the
    passing of time makes false."""
    epoch = int(to_utc(dt).timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{at_words(dt, tz)}>"


def due_in_words(due: datetime, now: datetime, tz: ZoneInfo) -> str:
    """When something is due, for a view drawn when it is opened (App Home): the due time
    as the cards show it (``live_date``), then how long from ``now``.

    "Due Tue 9 Jun 14:32 · in 3 h 40 min"; "Due Tue 9 Jun 14:32 · overdue by 1 h 5 min".
    A posted card says its clock's state instead (``bot.flows.triage.scheduled.ClockState``).
    """
    # Subtract UTC instants: two datetimes sharing a tzinfo subtract by wall clock,
    # which is an hour out across a clock change.
    delta = to_utc(due) - to_utc(now)
    left = f"overdue by {duration_words(delta)}" if delta < timedelta(0) else (
        f"in {duration_words(delta)}")
    return f"Due {live_date(due, tz)} · {left}"


def is_overdue(due: datetime | None, now: datetime) -> bool:
    """True if ``due`` has passed (compared as UTC instants)."""
    return due is not None and to_utc(due) < to_utc(now)
