"""Adaptive Card 1.5 building blocks for Teams, and the activity that carries a card.

Two rules, as Slack's ``blocks/text.py`` has its own:

* **Text a person typed never goes through markdown**: it is a ``TextRun`` of a
  ``RichTextBlock`` (not parsed), so ``**``, ``[x](y)`` or ``<at>`` in an answer show as
  typed and can neither style, link nor mention. Our own words go in ``TextBlock`` (a
  markdown subset: ``**bold**``, ``_italic_``, ``[name](link)``).
* **Everything is clipped**: Teams refuses a message over about 28 KB, so each piece of
  typed text has a cap and a card keeps a bounded number of summary answers.

People and groups are mentioned as Teams does it: ``<at>Name</at>`` in a TextBlock and a
``mention`` entity with the Entra object id (``Mentions``); times are ``{{DATE()}}`` and
``{{TIME()}}`` of a UTC instant, which Teams shows in the reader's own time zone, so a
card stays true however long it stays on screen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.handlers.teams.cards import verbs
from bot.labels import to_utc

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
# Teams' documented limit on a bot message (the whole activity, as JSON).
MAX_ACTIVITY_BYTES = 28 * 1024
TYPED_LIMIT = 1500  # one piece of typed text on a card
ELLIPSIS = "…"

Element = dict[str, Any]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# An <at> tag in typed text is broken with a zero-width space: it is shown as typed and can
# never pair with a mention entity of the message.
_AT_TAG = re.compile(r"<(/?at\b)", re.IGNORECASE)
# What a Teams id looks like (an Entra object id, "29:…", "19:…@thread.tacv2", a tag id):
# anything else is never made a mention.
_ID = re.compile(r"^[\w:@.=+/-]{1,255}$")
# Characters a name could use to style, link or open a tag in a TextBlock.
_NAME_MARKUP = re.compile(r"[<>*_\[\]`#~|\\]")

# The shipped policies give each rating's emoji as itself (Unicode), which every platform
# shows as is. A council's own policy may still spell one as a short code (``:red_circle:``,
# the form before): Teams has no short codes, so those are translated here.
EMOJI: dict[str, str] = {
    ":red_circle:": "🔴",
    ":large_orange_circle:": "🟠",
    ":large_yellow_circle:": "🟡",
    ":large_green_circle:": "🟢",
    ":large_blue_circle:": "🔵",
    ":white_circle:": "⚪",
    ":black_circle:": "⚫",
    ":large_purple_circle:": "🟣",
    ":large_brown_circle:": "🟤",
}


def emoji(code: str | None) -> str:
    """A policy emoji as Unicode: itself, or a known short code translated; an unknown
    short code is left out (Teams would show its letters)."""
    code = code or ""
    if code.startswith(":") and code.endswith(":"):
        return EMOJI.get(code, "")
    return code


def clip(s: str, limit: int) -> str:
    """``s`` shortened to ``limit`` characters, ending in "…" when cut."""
    s = _CONTROL.sub("", str(s))
    return s if len(s) <= limit else s[: max(0, limit - 1)] + ELLIPSIS


def at(dt: datetime) -> str:
    """An instant as Teams formats it for the reader: "Tue, Oct 13, 2026 10:00"."""
    iso = to_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({iso}, SHORT)}}}} {{{{TIME({iso})}}}}"


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Directory:
    """Display names the renderer may show: people and groups (tags) by their Entra or
    Teams id, channels by their ``19:…@thread.tacv2`` id (and a deep link where known).
    Whatever is missing is said in general words, never as an id."""

    people: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)


def unmarked(s: str) -> str:
    """Words from data (a name, an agency) made safe for a TextBlock: markdown and tag
    characters dropped."""
    return _NAME_MARKUP.sub("", _CONTROL.sub("", str(s)))


def _name(raw: str | None) -> str:
    return clip(unmarked(raw or "").strip(), 80)


class Mentions:
    """The mentions one message makes: ``person``/``group`` give the text to put in a
    TextBlock, and ``entities`` what Teams needs beside it to make it a mention."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.entities: list[dict[str, Any]] = []

    def _add(self, entity_id: str, name: str, kind: str | None = None) -> str:
        text = f"<at>{name}</at>"
        mentioned: dict[str, str] = {"id": entity_id, "name": name}
        if kind:
            mentioned["type"] = kind
        entity = {"type": "mention", "text": text, "mentioned": mentioned}
        if entity not in self.entities:
            self.entities.append(entity)
        return text

    def person(self, user_id: str | None, *, nobody: str = "nobody") -> str:
        """A person by id, mentioned; ``nobody`` when there is no id."""
        if not user_id:
            return nobody
        if not _ID.match(user_id):
            return "someone"
        return self._add(user_id, _name(self.directory.people.get(user_id)) or "a colleague")

    def group(self, group_id: str) -> str:
        """A group (a Teams tag), mentioned."""
        if not _ID.match(group_id):
            return "the team"
        return self._add(group_id, _name(self.directory.groups.get(group_id)) or "the team",
                         "tag")

    def channel(self, channel_id: str | None) -> str:
        """A channel by its name, linked where a deep link is known (never its id)."""
        name = _name(self.directory.channels.get(channel_id or "")) or "its channel"
        link = self.directory.links.get(channel_id or "")
        return f"[{name}]({link})" if link and link.startswith("https://") else name


# --------------------------------------------------------------------------- elements


def text(s: str, *, weight: str | None = None, size: str | None = None,
         subtle: bool = False, color: str | None = None, separator: bool = False) -> Element:
    """A TextBlock of our own words (markdown subset), wrapping."""
    el: Element = {"type": "TextBlock", "text": s if s.strip() else "—", "wrap": True}
    if weight:
        el["weight"] = weight
    if size:
        el["size"] = size
    if subtle:
        el["isSubtle"] = True
    if color:
        el["color"] = color
    if separator:
        el["separator"] = True
    return el


def heading(s: str) -> Element:
    """The card's title."""
    return text(clip(s, 150), weight="Bolder", size="Medium")


def typed(s: str, limit: int = TYPED_LIMIT, *, italic: bool = False, prefix: str = "") -> Element:
    """Text a person typed: a RichTextBlock TextRun, which Teams does not parse."""
    runs: list[Element] = []
    if prefix:
        runs.append({"type": "TextRun", "text": prefix, "weight": "Bolder"})
    inert = _AT_TAG.sub("<\u200b\\1", clip(s, limit))
    runs.append({"type": "TextRun", "text": inert or "—", "italic": italic})
    return {"type": "RichTextBlock", "inlines": runs}


def quote(s: str, limit: int = TYPED_LIMIT) -> Element:
    """Typed text set apart, as Slack's block quote does."""
    return {"type": "Container", "style": "emphasis", "items": [typed(s, limit)]}


def facts(pairs: Iterable[tuple[str, str]]) -> Element:
    """A FactSet of our own labels and short values (values may come from data, and Teams
    reads them as markdown: its markup is dropped)."""
    return {"type": "FactSet",
            "facts": [{"title": clip(k, 100), "value": clip(unmarked(v), 500).strip() or "—"}
                      for k, v in pairs]}


def bullets(items: Iterable[str]) -> str:
    """Markdown bullets of our own words, one a line."""
    return "\n".join(f"- {i}" for i in items)


def attention(items: list[Element]) -> Element:
    """A container that stands out (a breach, a warning)."""
    return {"type": "Container", "style": "attention", "items": items}


# --------------------------------------------------------------------------- actions


def submit(title: str, data: dict[str, Any], *, style: str | None = None,
           inputs: bool = True) -> Element:
    """An Action.Submit: the card's inputs (unless ``inputs`` is False) plus ``data``."""
    el: Element = {"type": "Action.Submit", "title": clip(title, 75), "data": data}
    if style:
        el["style"] = style
    if not inputs:
        el["associatedInputs"] = "none"
    return el


def execute(title: str, verb: str, data: dict[str, Any], *, style: str | None = None,
            inputs: bool = False) -> Element:
    """An Action.Execute (Universal Actions): the bot answers with the card redrawn."""
    el: Element = {"type": "Action.Execute", "title": clip(title, 75), "verb": verb,
                   "data": {"verb": verb, **data}}
    if style:
        el["style"] = style
    if not inputs:
        el["associatedInputs"] = "none"
    return el


def dialog(title: str, action: str, data: dict[str, Any], *, style: str | None = None
           ) -> Element:
    """A button opening a dialog (a task module: ``task/fetch`` with ``action`` and
    ``data``), for a decision that needs typed input; the bot answers with the form (an
    Action.Execute cannot open one: its answer is a card or words)."""
    return submit(title, {"msteams": {"type": "task/fetch"}, verbs.ACTION: action, **data},
                  style=style, inputs=False)


def show(title: str, body: list[Element], actions: list[Element], *,
         style: str | None = None) -> Element:
    """An Action.ShowCard: a small card opened in place (a confirmation, a choice)."""
    el: Element = {"type": "Action.ShowCard", "title": clip(title, 75),
                   "card": {"type": "AdaptiveCard", "body": body, "actions": actions}}
    if style:
        el["style"] = style
    return el


def choices(input_id: str, options: Iterable[tuple[str, str]], *, multi: bool = False,
            value: str | None = None, placeholder: str = "", required: bool = False,
            label: str = "") -> Element:
    """An Input.ChoiceSet of (value, label); a short list is expanded (radio buttons)."""
    opts = [{"title": clip(lbl, 75), "value": v} for v, lbl in options][:100]
    el: Element = {"type": "Input.ChoiceSet", "id": input_id, "choices": opts, "wrap": True,
                   "style": "expanded" if len(opts) <= 5 or multi else "compact"}
    if multi:
        el["isMultiSelect"] = True
    if value:
        el["value"] = value
    if placeholder:
        el["placeholder"] = clip(placeholder, 150)
    if label:
        el["label"] = clip(label, 200)
    if required:
        el["isRequired"] = True
        el["errorMessage"] = "Please choose."
    return el


def person_picker(input_id: str, label: str, *, value: str = "", required: bool = False
                  ) -> Element:
    """Teams' people picker (an Input.ChoiceSet searching the tenant's people): it sends
    the chosen person's Entra object id."""
    el: Element = {"type": "Input.ChoiceSet", "id": input_id, "choices": [],
                   "choices.data": {"type": "Data.Query",
                                    "dataset": "graph.microsoft.com/users"},
                   "label": clip(label, 200)}
    if value:
        el["value"] = value
    if required:
        el["isRequired"] = True
        el["errorMessage"] = "Please choose someone."
    return el


# --------------------------------------------------------------------------- the message


def card(body: list[Element], actions: list[Element] | None = None, *, fallback: str = "",
         mentions: Mentions | None = None) -> dict[str, Any]:
    """An Adaptive Card 1.5 (full width, with its mention entities)."""
    c: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION,
                         "body": body}
    if actions:
        c["actions"] = actions
    if fallback:
        c["fallbackText"] = clip(fallback, 300)
    teams: dict[str, Any] = {"width": "Full"}
    if mentions is not None and mentions.entities:
        teams["entities"] = list(mentions.entities)
    c["msteams"] = teams  # Teams' own extension: mentions and width
    return c


def size(activity: dict[str, Any]) -> int:
    """An activity's size as sent (JSON with non-ASCII escaped: the larger measure)."""
    return len(json.dumps(activity))


def card_activity(content: dict[str, Any], summary: str) -> dict[str, Any]:
    """A message activity carrying one card; ``summary`` is the notification's words.

    Over Teams' limit, the longest typed texts are halved until it fits: a card with
    long answers degrades to "…" instead of being refused.
    """
    activity = {"type": "message", "summary": clip(summary, 300) or "Front Door",
                "attachments": [{"contentType": CONTENT_TYPE, "content": content}]}
    runs = [r for r in _walk(content) if r.get("type") == "TextRun"]
    while size(activity) > MAX_ACTIVITY_BYTES and runs:
        longest = max(runs, key=lambda r: len(r["text"]))
        if len(longest["text"]) <= 40:
            break  # nothing typed left to shorten: our own words are bounded
        longest["text"] = clip(longest["text"], len(longest["text"]) // 2)
    return activity


def _walk(obj: Any) -> Iterable[dict[str, Any]]:
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def text_activity(words: str, mentions: Mentions | None = None, *,
                  plain: bool = False) -> dict[str, Any]:
    """A plain message: markdown with its mentions, or ``plain`` text nothing parses."""
    act: dict[str, Any] = {"type": "message", "text": clip(words, 20000) or "—",
                           "textFormat": "plain" if plain else "markdown"}
    if mentions is not None and mentions.entities:
        act["entities"] = list(mentions.entities)
    return act

