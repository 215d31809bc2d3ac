"""What Teams accepts of an Adaptive Card, checked the way Teams would check it.

``assert_valid_card(card)`` validates a card against Microsoft's Adaptive Card 1.5 schema
(vendored in tests/data/, see its README) and checks the size of the activity that
carries it against Teams' limit; ``assert_valid_activity(activity)`` does the same for
every card attached to a Bot Connector activity, measuring the activity itself. Every
card the bot sends goes through one of them in its tests.

Teams extends a card with a top-level ``msteams`` property (mention entities, full
width) that the schema does not know (it forbids properties it does not list): it is
checked here on its own, against what Teams documents, and left out of the schema check.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from functools import cache
from typing import Any

import jsonschema

from tests.conftest import DATA

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams refuses a bot message that is too big (413, MessageSizeTooBig), the whole activity
# as sent, attachments included. Microsoft's figures differ by page and date: about 28 KB
# (the Teams connector's documented limit), 40 KB counted in UTF-16 (most editions of
# "Format your bot messages"), 100 KB (its latest English edition). Both of the stricter
# two are checked, on json.dumps' default output: the largest form a sender would put on
# the wire (non-ASCII escaped, spaces after separators).
MAX_ACTIVITY_BYTES = 28 * 1024
MAX_ACTIVITY_UTF16_BYTES = 40 * 1024
# Teams draws bot cards up to schema 1.5.
VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
# What Teams would show literally: another platform's mention and link markup.
FOREIGN_MARKUP = re.compile(r"<[@#!]")
MSTEAMS_KEYS = {"width", "entities"}
AT_TAG = re.compile(r"<at>(.*?)</at>")


@cache
def _validator() -> jsonschema.Draft6Validator:
    schema = json.loads((DATA / "adaptive-card-1.5.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft6Validator(schema)


def card_problems(card: dict[str, Any]) -> list[str]:
    """Every reason Teams would refuse or misdraw ``card``, in words; [] when none."""
    if not isinstance(card, dict):
        return [f"a card is a JSON object, not {type(card).__name__}"]
    problems: list[str] = []
    if card.get("version") not in VERSIONS:
        problems.append(f"version must be one of {', '.join(VERSIONS)} (Teams draws up to "
                        f"1.5), not {card.get('version')!r}")
    body = {k: v for k, v in card.items() if k != "msteams"}
    body, pickers = _without_pickers(body)
    problems += pickers
    for error in sorted(_validator().iter_errors(body), key=lambda e: list(e.absolute_path)):
        problems += _explain(error)
    problems += _msteams_problems(card)
    text = json.dumps(card, ensure_ascii=False)
    for m in FOREIGN_MARKUP.finditer(text):
        problems.append(f"markup Teams would show as typed: {text[m.start():m.start() + 12]!r}")
    return problems


def assert_valid_card(card: dict[str, Any], activity: dict[str, Any] | None = None) -> None:
    """Fail, saying why, unless Teams would take ``card`` as it is.

    The size is the activity's: ``activity`` when given (the card must be one of its
    attachments), else a bare message activity carrying only this card.
    """
    problems = card_problems(card)
    if activity is None:
        activity = {"type": "message", "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "content": card}]}
    elif not any(a.get("content") is card for a in activity.get("attachments") or []):
        problems.append("the activity given does not carry this card as an attachment")
    problems += _size_problems(activity)
    assert not problems, "Adaptive Card not valid for Teams:\n  " + "\n  ".join(problems)


def assert_valid_activity(activity: dict[str, Any]) -> None:
    """Every Adaptive Card attached to ``activity`` is valid, and the activity fits."""
    problems = []
    for i, a in enumerate(activity.get("attachments") or []):
        if a.get("contentType") == CARD_CONTENT_TYPE:
            problems += [f"attachment {i}: {p}" for p in card_problems(a.get("content"))]
    problems += _size_problems(activity)
    problems += _mention_problems(activity.get("text") or "", activity.get("entities") or [],
                                  "the activity's text")
    assert not problems, "activity not valid for Teams:\n  " + "\n  ".join(problems)


def _size_problems(activity: dict[str, Any]) -> list[str]:
    text = json.dumps(activity)
    problems = []
    size = len(text.encode("utf-8"))
    if size > MAX_ACTIVITY_BYTES:
        problems.append(f"the activity is {size} bytes; Teams refuses more than about "
                        f"{MAX_ACTIVITY_BYTES}")
    wide = len(text.encode("utf-16-le"))
    if wide > MAX_ACTIVITY_UTF16_BYTES:
        problems.append(f"the activity is {wide} bytes in UTF-16; Teams refuses more than "
                        f"{MAX_ACTIVITY_UTF16_BYTES}")
    return problems


# Teams' people picker: an Input.ChoiceSet's ``choices.data`` (a Data.Query of the tenant's
# people), which the 1.5 schema does not list; checked here on its own, as documented
# ("People Picker in Adaptive Cards", learn.microsoft.com), and left out of the schema check.
PICKER_DATASETS = {"graph.microsoft.com/users", "graph.microsoft.com/users?scope=currentContext"}


def _without_pickers(obj: Any) -> tuple[Any, list[str]]:
    """``obj`` with each people picker's ``choices.data`` taken out; what is wrong with them."""
    problems: list[str] = []
    if isinstance(obj, list):
        out = []
        for item in obj:
            item, found = _without_pickers(item)
            out.append(item)
            problems += found
        return out, problems
    if not isinstance(obj, dict):
        return obj, problems
    out_d: dict[str, Any] = {}
    for k, v in obj.items():
        if k == "choices.data":
            if obj.get("type") != "Input.ChoiceSet":
                problems.append("choices.data belongs on an Input.ChoiceSet")
            if not isinstance(v, dict) or v.get("type") != "Data.Query" or (
                    v.get("dataset") not in PICKER_DATASETS) or set(v) - {"type", "dataset"}:
                problems.append(f"choices.data is not a people picker Teams reads: {v!r}")
            continue
        out_d[k], found = _without_pickers(v)
        problems += found
    return out_d, problems


def _msteams_problems(card: dict[str, Any]) -> list[str]:
    ext = card.get("msteams")
    if ext is None:
        return _mention_problems(json.dumps(card, ensure_ascii=False), [], "the card")
    if not isinstance(ext, dict):
        return ["msteams must be an object"]
    problems = [f"msteams.{k} is not a property Teams reads" for k in sorted(set(ext) -
                                                                             MSTEAMS_KEYS)]
    if "width" in ext and ext["width"] != "Full":
        problems.append(f"msteams.width can only be 'Full', not {ext['width']!r}")
    entities = ext.get("entities", [])
    if not isinstance(entities, list):
        return [*problems, "msteams.entities must be a list"]
    shown = {k: v for k, v in card.items() if k != "msteams"}
    return problems + _mention_problems(json.dumps(shown, ensure_ascii=False), entities,
                                        "the card")


def _mention_problems(text: str, entities: list[Any], where: str) -> list[str]:
    """Each ``<at>Name</at>`` needs a mention entity with that text, and vice versa:
    without one Teams shows the tag's words and notifies no one."""
    problems = []
    mentions = {}
    for e in entities:
        if isinstance(e, dict) and e.get("type") == "mention":
            who = e.get("mentioned") or {}
            if not (isinstance(who, dict) and who.get("id") and who.get("name")):
                problems.append(f"a mention entity in {where} lacks mentioned.id or .name")
            mentions[e.get("text")] = e
    tags = {f"<at>{name}</at>" for name in AT_TAG.findall(text)}
    problems += [f"{tag} in {where} has no mention entity" for tag in sorted(tags - set(mentions))]
    problems += [f"mention entity {t!r} has no {t} in {where}"
                 for t in sorted(set(mentions) - tags, key=str)]
    return problems


def _explain(error: jsonschema.ValidationError) -> list[str]:
    """The schema's complaint in words, at the element it is about.

    The schema lists every element and action type as an ``anyOf`` branch, so a wrong
    property of one TextBlock fails all twenty branches at once; the branch whose
    ``type`` matched is the one the card meant, and its errors are the ones to show.
    """
    where = "/".join(str(p) for p in error.absolute_path) or "(the card)"
    if not error.context:
        return [f"{where}: {error.message}"]
    branches: dict[Any, list[jsonschema.ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.relative_schema_path[0]].append(sub)
    type_path = [*error.absolute_path, "type"]
    meant = [errs for errs in branches.values()
             if not any(e.validator == "enum" and list(e.absolute_path) == type_path
                        for e in errs)]
    if not meant:
        kind = error.instance.get("type") if isinstance(error.instance, dict) else None
        return [f"{where}: {kind!r} is not an element or action type of Adaptive Cards 1.5"]
    out: list[str] = []
    for errs in meant:
        for sub in errs:
            out += _explain(sub)
    return out
