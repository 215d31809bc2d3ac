"""Structural checks for Block Kit payloads, with Slack's limits and error wording.

The fake Web API (:mod:`bot.sandbox.webapi`) runs every message and view through
these checks so that a payload Slack would reject is rejected locally too, with
the same ``error`` code and a ``[json-pointer:...]`` message in the same style
as Slack's ``response_metadata.messages``.

This is deliberately a *basic* validator: it knows the block and element types
Front Door uses and the documented size limits, not every corner of Block Kit.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from store import jsontext

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_ID_LEN = 255

BLOCK_TYPES = frozenset(
    {
        "section",
        "header",
        "context",
        "divider",
        "actions",
        "input",
        "image",
        "rich_text",
        "markdown",
    }
)

# Elements that may appear in each container.  Slack rejects, say, a button in
# an input block or a plain_text_input in an actions block.
_SELECTS = frozenset(
    {
        "static_select",
        "multi_static_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
    }
)
_INTERACTIVE = frozenset(
    {"button", "overflow", "datepicker", "timepicker", "radio_buttons", "checkboxes"} | _SELECTS
)
_INPUTS = frozenset(
    {
        "plain_text_input",
        "email_text_input",
        "number_input",
        "datepicker",
        "timepicker",
        "radio_buttons",
        "checkboxes",
    }
    | _SELECTS
)
ACCESSORY_TYPES = _INTERACTIVE | {"image"}
ACTIONS_TYPES = _INTERACTIVE
INPUT_TYPES = _INPUTS
ELEMENT_TYPES = ACCESSORY_TYPES | INPUT_TYPES

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class BlockIssue:
    """One validation failure: Slack's wording plus the JSON pointer it refers to."""

    message: str
    pointer: str

    def __str__(self) -> str:
        return f"{self.message} [json-pointer:{self.pointer}]"


class _Checker:
    """Accumulates issues while walking a payload (one instance per check)."""

    def __init__(self) -> None:
        self.issues: list[BlockIssue] = []

    def add(self, message: str, pointer: str) -> None:
        self.issues.append(BlockIssue(message, pointer))

    # -- primitives -------------------------------------------------------

    def obj(self, value: Any, ptr: str) -> bool:
        if not isinstance(value, Mapping):
            self.add("must provide an object", ptr)
            return False
        return True

    def string(self, value: Any, ptr: str, *, max_len: int, min_len: int = 0) -> None:
        if not isinstance(value, str):
            self.add("must provide a string", ptr)
        elif len(value) > max_len:
            self.add(f"must be less than {max_len + 1} characters", ptr)
        elif len(value) < min_len:
            self.add(f"must be more than {min_len - 1} characters", ptr)

    def optional_string(self, parent: Mapping[str, Any], key: str, ptr: str, max_len: int) -> None:
        if key in parent and parent[key] is not None:
            self.string(parent[key], f"{ptr}/{key}", max_len=max_len)

    def array(self, value: Any, ptr: str, *, max_items: int, min_items: int = 1) -> bool:
        if not isinstance(value, list):
            self.add("must provide an array", ptr)
            return False
        if len(value) > max_items:
            self.add(f"must provide an array with no more than {max_items} items", ptr)
            return False
        if len(value) < min_items:
            self.add(f"must provide an array with at least {min_items} items", ptr)
            return False
        return True

    def text(
        self,
        value: Any,
        ptr: str,
        *,
        max_len: int,
        plain_only: bool = False,
    ) -> None:
        """A composition text object: {"type": "plain_text"|"mrkdwn", "text": ...}."""
        if not self.obj(value, ptr):
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if value.get("type") not in allowed:
            self.add("must be a valid enum value", f"{ptr}/type")
        if "text" not in value:
            self.add("missing required field: text", ptr)
            return
        self.string(value["text"], f"{ptr}/text", max_len=max_len, min_len=1)

    def ident(self, parent: Mapping[str, Any], key: str, ptr: str) -> None:
        if key in parent:
            self.string(parent[key], f"{ptr}/{key}", max_len=MAX_ID_LEN, min_len=1)

    # -- composition objects ------------------------------------------------

    def option(self, value: Any, ptr: str, *, mrkdwn_ok: bool, url_ok: bool = False) -> None:
        if not self.obj(value, ptr):
            return
        if "text" not in value:
            self.add("missing required field: text", ptr)
        else:
            self.text(value["text"], f"{ptr}/text", max_len=75, plain_only=not mrkdwn_ok)
        if "value" in value:
            self.string(value["value"], f"{ptr}/value", max_len=150, min_len=1)
        if "description" in value:
            self.text(value["description"], f"{ptr}/description", max_len=75, plain_only=True)
        if url_ok:
            self.optional_string(value, "url", ptr, 3000)

    def options(
        self,
        el: Mapping[str, Any],
        ptr: str,
        *,
        max_items: int,
        mrkdwn_ok: bool = False,
        url_ok: bool = False,
        groups_ok: bool = False,
    ) -> None:
        has_options, has_groups = "options" in el, groups_ok and "option_groups" in el
        if has_options == has_groups:
            self.add(
                "must provide exactly one of options or option_groups"
                if groups_ok
                else "missing required field: options",
                ptr,
            )
            return
        if has_groups:
            groups = el["option_groups"]
            if self.array(groups, f"{ptr}/option_groups", max_items=100):
                for i, group in enumerate(groups):
                    gptr = f"{ptr}/option_groups/{i}"
                    if self.obj(group, gptr):
                        self.text(group.get("label"), f"{gptr}/label", max_len=75, plain_only=True)
                        opts = group.get("options")
                        if self.array(opts, f"{gptr}/options", max_items=100):
                            for j, opt in enumerate(opts):
                                self.option(opt, f"{gptr}/options/{j}", mrkdwn_ok=False)
            return
        opts = el["options"]
        if self.array(opts, f"{ptr}/options", max_items=max_items):
            for i, opt in enumerate(opts):
                self.option(opt, f"{ptr}/options/{i}", mrkdwn_ok=mrkdwn_ok, url_ok=url_ok)

    def confirm(self, el: Mapping[str, Any], ptr: str) -> None:
        if "confirm" not in el:
            return
        cptr = f"{ptr}/confirm"
        conf = el["confirm"]
        if not self.obj(conf, cptr):
            return
        self.text(conf.get("title"), f"{cptr}/title", max_len=100, plain_only=True)
        self.text(conf.get("text"), f"{cptr}/text", max_len=300)
        self.text(conf.get("confirm"), f"{cptr}/confirm", max_len=30, plain_only=True)
        self.text(conf.get("deny"), f"{cptr}/deny", max_len=30, plain_only=True)

    # -- elements -----------------------------------------------------------

    def element(self, el: Any, ptr: str, allowed: frozenset[str]) -> None:
        if not self.obj(el, ptr):
            return
        etype = el.get("type")
        if etype not in ELEMENT_TYPES:
            self.add("must be a valid enum value", f"{ptr}/type")
            return
        if etype not in allowed:
            self.add(f"element type {etype!r} is not allowed here", f"{ptr}/type")
            return
        if etype == "image":
            self.image_fields(el, ptr)
            return
        self.ident(el, "action_id", ptr)
        if "placeholder" in el:
            self.text(el["placeholder"], f"{ptr}/placeholder", max_len=150, plain_only=True)
        self.confirm(el, ptr)
        check = _ELEMENT_CHECKS.get(etype)
        if check is not None:
            check(self, el, ptr)

    def image_fields(self, el: Mapping[str, Any], ptr: str) -> None:
        if "image_url" not in el and "slack_file" not in el:
            self.add("missing required field: image_url", ptr)
        self.optional_string(el, "image_url", ptr, 3000)
        if "alt_text" not in el:
            self.add("missing required field: alt_text", ptr)
        else:
            self.string(el["alt_text"], f"{ptr}/alt_text", max_len=2000, min_len=1)

    # -- blocks -------------------------------------------------------------

    def blocks(self, blocks: Any, ptr: str, *, max_blocks: int) -> None:
        if not self.array(blocks, ptr, max_items=max_blocks, min_items=0):
            return
        seen_block_ids: set[str] = set()
        for i, block in enumerate(blocks):
            bptr = f"{ptr}/{i}"
            if not self.obj(block, bptr):
                continue
            btype = block.get("type")
            if btype not in BLOCK_TYPES:
                self.add("must be a valid enum value", f"{bptr}/type")
                continue
            self.ident(block, "block_id", bptr)
            block_id = block.get("block_id")
            if isinstance(block_id, str):
                # Slack refuses two blocks with one block_id: actions would be ambiguous.
                if block_id in seen_block_ids:
                    self.add(f"duplicate block_id: {block_id}", f"{bptr}/block_id")
                seen_block_ids.add(block_id)
            _BLOCK_CHECKS[btype](self, block, bptr)
            self.unique_action_ids(block, bptr)

    def unique_action_ids(self, block: Mapping[str, Any], ptr: str) -> None:
        seen: set[str] = set()
        for el, eptr in _elements_of(block, ptr):
            action_id = el.get("action_id")
            if isinstance(action_id, str):
                if action_id in seen:
                    self.add(f"duplicate action_id: {action_id}", f"{eptr}/action_id")
                seen.add(action_id)


def _section(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    if "text" not in b and "fields" not in b:
        c.add("missing required field: text", p)
    if "text" in b:
        c.text(b["text"], f"{p}/text", max_len=3000)
    if "fields" in b and c.array(b["fields"], f"{p}/fields", max_items=10):
        for i, field in enumerate(b["fields"]):
            c.text(field, f"{p}/fields/{i}", max_len=2000)
    if "accessory" in b:
        c.element(b["accessory"], f"{p}/accessory", ACCESSORY_TYPES)


def _header(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    if "text" not in b:
        c.add("missing required field: text", p)
        return
    c.text(b["text"], f"{p}/text", max_len=150, plain_only=True)


def _context(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    els = b.get("elements")
    if not c.array(els, f"{p}/elements", max_items=10):
        return
    for i, el in enumerate(els):
        eptr = f"{p}/elements/{i}"
        if not c.obj(el, eptr):
            continue
        if el.get("type") == "image":
            c.image_fields(el, eptr)
        else:
            c.text(el, eptr, max_len=3000)


def _divider(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    """A divider carries nothing beyond its (already checked) block_id."""


def _actions(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    els = b.get("elements")
    if not c.array(els, f"{p}/elements", max_items=25):
        return
    for i, el in enumerate(els):
        c.element(el, f"{p}/elements/{i}", ACTIONS_TYPES)


def _input(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    if "label" not in b:
        c.add("missing required field: label", p)
    else:
        c.text(b["label"], f"{p}/label", max_len=2000, plain_only=True)
    if "hint" in b:
        c.text(b["hint"], f"{p}/hint", max_len=2000, plain_only=True)
    if "element" not in b:
        c.add("missing required field: element", p)
    else:
        c.element(b["element"], f"{p}/element", INPUT_TYPES)


def _image(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    c.image_fields(b, p)
    if "title" in b:
        c.text(b["title"], f"{p}/title", max_len=2000, plain_only=True)


def _rich_text(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    els = b.get("elements")
    if not isinstance(els, list):
        c.add("must provide an array", f"{p}/elements")
        return
    for i, el in enumerate(els):
        eptr = f"{p}/elements/{i}"
        if c.obj(el, eptr) and el.get("type") not in (
            "rich_text_section",
            "rich_text_list",
            "rich_text_preformatted",
            "rich_text_quote",
        ):
            c.add("must be a valid enum value", f"{eptr}/type")


def _markdown(c: _Checker, b: Mapping[str, Any], p: str) -> None:
    c.string(b.get("text"), f"{p}/text", max_len=12000, min_len=1)


_BLOCK_CHECKS: dict[str, Callable[[_Checker, Mapping[str, Any], str], None]] = {
    "section": _section,
    "header": _header,
    "context": _context,
    "divider": _divider,
    "actions": _actions,
    "input": _input,
    "image": _image,
    "rich_text": _rich_text,
    "markdown": _markdown,
}


def _button(c: _Checker, el: Mapping[str, Any], p: str) -> None:
    if "text" not in el:
        c.add("missing required field: text", p)
    else:
        c.text(el["text"], f"{p}/text", max_len=75, plain_only=True)
    c.optional_string(el, "value", p, 2000)
    c.optional_string(el, "url", p, 3000)
    if "style" in el and el["style"] not in ("primary", "danger"):
        c.add("must be a valid enum value", f"{p}/style")


def _static_select(c: _Checker, el: Mapping[str, Any], p: str) -> None:
    c.options(el, p, max_items=100, groups_ok=True)
    if "max_selected_items" in el:
        n = el["max_selected_items"]
        if not isinstance(n, int) or n < 1:
            c.add("must be greater than or equal to 1", f"{p}/max_selected_items")


def _overflow(c: _Checker, el: Mapping[str, Any], p: str) -> None:
    c.options(el, p, max_items=5, url_ok=True)


def _choices(c: _Checker, el: Mapping[str, Any], p: str) -> None:
    c.options(el, p, max_items=10, mrkdwn_ok=True)


def _datepicker(c: _Checker, el: Mapping[str, Any], p: str) -> None:
    initial = el.get("initial_date")
    if initial is not None and (not isinstance(initial, str) or not _DATE_RE.match(initial)):
        c.add("must match the format YYYY-MM-DD", f"{p}/initial_date")


def _plain_text_input(c: _Checker, el: Mapping[str, Any], p: str) -> None:
    c.optional_string(el, "initial_value", p, 3000)
    for key in ("min_length", "max_length"):
        if key in el:
            n = el[key]
            if not isinstance(n, int) or not 0 <= n <= 3000:
                c.add("must be an integer between 0 and 3000", f"{p}/{key}")


_ELEMENT_CHECKS: dict[str, Callable[[_Checker, Mapping[str, Any], str], None]] = {
    "button": _button,
    "static_select": _static_select,
    "multi_static_select": _static_select,
    "overflow": _overflow,
    "radio_buttons": _choices,
    "checkboxes": _choices,
    "datepicker": _datepicker,
    "plain_text_input": _plain_text_input,
}


def _elements_of(block: Mapping[str, Any], ptr: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Yield the interactive elements of one block with their JSON pointers."""
    btype = block.get("type")
    if btype == "section" and isinstance(block.get("accessory"), dict):
        yield block["accessory"], f"{ptr}/accessory"
    elif btype == "actions" and isinstance(block.get("elements"), list):
        for i, el in enumerate(block["elements"]):
            if isinstance(el, dict):
                yield el, f"{ptr}/elements/{i}"
    elif btype == "input" and isinstance(block.get("element"), dict):
        yield block["element"], f"{ptr}/element"


def check_blocks(
    blocks: Any, *, pointer: str = "/blocks", max_blocks: int = MAX_MESSAGE_BLOCKS
) -> list[BlockIssue]:
    """Check a ``blocks`` array; an empty list means Slack would accept it."""
    checker = _Checker()
    checker.blocks(blocks, pointer, max_blocks=max_blocks)
    return checker.issues


def check_view(view: Any, *, pointer: str = "/view") -> list[BlockIssue]:
    """Check a modal or App Home view object (``views.open/push/update/publish``)."""
    c = _Checker()
    if not c.obj(view, pointer):
        return c.issues
    vtype = view.get("type")
    if vtype not in ("modal", "home"):
        c.add("must be a valid enum value", f"{pointer}/type")
        return c.issues
    if vtype == "modal":
        if "title" not in view:
            c.add("missing required field: title", pointer)
        else:
            c.text(view["title"], f"{pointer}/title", max_len=24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                c.text(view[key], f"{pointer}/{key}", max_len=24, plain_only=True)
        blocks = view.get("blocks")
        # Slack insists on a submit button whenever the modal collects input.
        has_input = isinstance(blocks, list) and any(
            isinstance(b, Mapping) and b.get("type") == "input" for b in blocks
        )
        if has_input and "submit" not in view:
            c.add("must provide submit when the view contains input blocks", f"{pointer}/submit")
    c.optional_string(view, "callback_id", pointer, MAX_ID_LEN)
    c.optional_string(view, "external_id", pointer, MAX_ID_LEN)
    c.optional_string(view, "private_metadata", pointer, 3000)
    if "blocks" not in view:
        c.add("missing required field: blocks", pointer)
    else:
        c.blocks(view["blocks"], f"{pointer}/blocks", max_blocks=MAX_VIEW_BLOCKS)
    return c.issues


def auto_id(seed: str) -> str:
    """A short deterministic id in the style of Slack's generated block/action ids."""
    digest = hashlib.sha1(seed.encode("utf-8")).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:5])


def _copied(blocks: list[Any]) -> list[Any]:
    # Blocks are JSON: a round trip through orjson copies them several times faster
    # than deepcopy (most of the fake's work per message, measured under load).
    try:
        return jsontext.loads(jsontext.dumps(blocks))  # type: ignore[no-any-return]
    except TypeError:  # something JSON cannot hold: copy it as it is
        return copy.deepcopy(blocks)


def fill_ids(blocks: list[Any]) -> list[Any]:
    """Return a copy of ``blocks`` with ``block_id``/``action_id`` filled in where missing.

    Slack assigns generated ids to every block and interactive element it stores,
    and sends those ids back in interaction payloads; doing the same (but
    deterministically) lets the sandbox route a click on a block without ids.
    """
    out = _copied(blocks)
    for i, block in enumerate(out):
        if not isinstance(block, dict):
            continue
        if "block_id" not in block:
            block["block_id"] = auto_id(f"{i}:{jsontext.dumps_sorted(block)}")
        for el, eptr in _elements_of(block, f"/{i}"):
            if "action_id" not in el and el.get("type") != "image":
                el["action_id"] = auto_id(f"{block['block_id']}{eptr}")
    return out


def find_element(
    blocks: Any, action_id: str, block_id: str | None = None
) -> tuple[str | None, dict[str, Any] | None]:
    """Find the interactive element with ``action_id`` (optionally inside ``block_id``).

    Returns ``(block_id, element)``; ``(None, None)`` when nothing matches.
    """
    if not isinstance(blocks, list):
        return None, None
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        if block_id is not None and block.get("block_id") != block_id:
            continue
        for el, _ in _elements_of(block, f"/{i}"):
            if el.get("action_id") == action_id:
                return block.get("block_id"), el
    return None, None


def interactive_elements(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The interactive elements of one block (an input's element, a section's
    non-image accessory, an actions block's elements), in order."""
    return [el for el, _ in _elements_of(block, "") if el.get("type") != "image"]
