"""Modal views: change a rating, close a card, ask for information, give advice.

Each view's ``callback_id`` is an ``ids.MODAL_*`` constant and its
``private_metadata`` is the subject's id as a string, so a submission can be
routed and loaded again without trusting anything else in the payload. Input
blocks use the ``ids.IN_*`` ``(block_id, action_id)`` pairs: a submission's
value is ``view["state"]["values"][block_id][action_id]``.

Free text typed here must still go through the no-names guard in the handler.
"""

from __future__ import annotations

from typing import Any

from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.cards import ADVICE_OUTCOMES, OUTCOME_LABELS, rating_name
from bot.handlers.slack.blocks.text import (
    INPUT_LIMIT,
    MAX_VIEW_BLOCKS,
    MODAL_BUTTON_LIMIT,
    MODAL_TITLE_LIMIT,
    PLACEHOLDER_LIMIT,
    Block,
    cap_blocks,
    context,
    esc,
    escape,
    option,
    plain,
    sections,
)
from bot.policy import RATINGS, Policy
from store.models import Consultation, TriageCard

# Common reasons to close a card; the option value is the label itself, so a
# handler that stores ``selected_option.value`` stores readable words.
CLOSE_REASONS: tuple[str, ...] = (
    "Signposted",
    "No further action",
    "Duplicate",
    "Passed to another authority",
    "Other",
)

_NO_NAMES_HINT = "No names or other details that could identify a child."


def _view(
    title: str,
    callback_id: str | None,
    private_metadata: str,
    blocks: list[Block],
    *,
    submit: str | None = None,
    close: str = "Cancel",
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "title": plain(title, MODAL_TITLE_LIMIT),
        "close": plain(close, MODAL_BUTTON_LIMIT),
        "private_metadata": private_metadata[:3000],
        "blocks": cap_blocks(blocks, MAX_VIEW_BLOCKS),
    }
    if callback_id:
        view["callback_id"] = callback_id
    if submit:
        view["submit"] = plain(submit, MODAL_BUTTON_LIMIT)
    return view


def _text_input(
    pair: tuple[str, str],
    label: str,
    *,
    hint: str | None = None,
    placeholder: str | None = None,
    optional: bool = False,
    initial: str | None = None,
) -> Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": pair[1],
        "multiline": True,
        "max_length": INPUT_LIMIT,
    }
    if placeholder:
        element["placeholder"] = plain(placeholder, PLACEHOLDER_LIMIT)
    if initial:
        element["initial_value"] = initial[:INPUT_LIMIT]
    block: Block = {
        "type": "input",
        "block_id": pair[0],
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _select_input(
    pair: tuple[str, str],
    label: str,
    options: list[dict[str, Any]],
    *,
    initial: dict[str, Any] | None = None,
    placeholder: str = "Choose one",
) -> Block:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": pair[1],
        "placeholder": plain(placeholder, PLACEHOLDER_LIMIT),
        "options": options,
    }
    if initial is not None:
        element["initial_option"] = initial
    return {"type": "input", "block_id": pair[0], "label": plain(label, 2000), "element": element}


def change_rating_modal(card: TriageCard, policy: Policy) -> dict:
    """Change a card's rating: the five ratings (current one selected) and a required reason."""
    current = card.rating or card.suggested_rating
    options: list[dict[str, Any]] = []
    initial: dict[str, Any] | None = None
    for key in RATINGS:
        rating = policy.ratings.get(key)
        text = f"{rating.emoji} {rating.label}".strip() if rating else rating_name(policy, key)
        opt = option(text, key, rating.meaning if rating else None)
        options.append(opt)
        if key == current:
            initial = opt
    status = "Rating" if card.rating else "Suggested"
    blocks: list[Block] = [
        context(f"*{escape(card.reference)}* · {status}: {escape(rating_name(policy, current))}"),
        _select_input(ids.IN_RATING, "Rating", options, initial=initial),
        _text_input(
            ids.IN_REASON,
            "Why",
            hint=f"Recorded in the audit trail. {_NO_NAMES_HINT}",
        ),
    ]
    return _view("Change rating", ids.MODAL_CHANGE_RATING, str(card.id), blocks, submit="Save")


def close_modal(card: TriageCard) -> dict:
    """Close a card: a common reason (``IN_OUTCOME`` select) plus free text (``IN_REASON``).

    The free text is the field the handler runs through the no-names guard; it is
    optional here and should be required by the handler when "Other" is chosen.
    """
    options = [option(r, r) for r in CLOSE_REASONS]
    blocks: list[Block] = [
        context(f"*{escape(card.reference)}*: closing stops its clocks."),
        _select_input(ids.IN_OUTCOME, "Reason", options),
        _text_input(
            ids.IN_REASON,
            "Details",
            hint=f"Needed for \"Other\". {_NO_NAMES_HINT}",
            optional=True,
        ),
    ]
    return _view("Close card", ids.MODAL_CLOSE, str(card.id), blocks, submit="Close card")


def request_info_modal(card: TriageCard) -> dict:
    """Ask the referrer for more information: the question, sent to them by DM."""
    blocks: list[Block] = [
        context(f"*{escape(card.reference)}*: the referrer gets your question by direct message."),
        _text_input(
            ids.IN_QUESTION,
            "Your question for the referrer",
            hint=_NO_NAMES_HINT,
            placeholder="e.g. Has an Early Help Assessment been offered?",
        ),
    ]
    return _view("Request information", ids.MODAL_REQUEST_INFO, str(card.id), blocks, submit="Send")


def advice_modal(c: Consultation, policy: Policy) -> dict:
    """Give advice on a consultation: an outcome (the suggestion preselected) and the advice."""
    options: list[dict[str, Any]] = []
    initial: dict[str, Any] | None = None
    preselect = c.advice_outcome or c.suggested_outcome
    for key in ADVICE_OUTCOMES:
        opt = option(OUTCOME_LABELS[key], key)
        options.append(opt)
        if key == preselect:
            initial = opt
    suggested = OUTCOME_LABELS.get(c.suggested_outcome, c.suggested_outcome or "none")
    lines = [f"*{escape(c.reference)}* · Suggested: {escape(suggested)}"]
    if (c.repeat_count or 1) >= 2:
        lines.append(f":warning: Consultation number {int(c.repeat_count)} about this situation")
    blocks: list[Block] = [
        context(*lines),
        _select_input(ids.IN_OUTCOME, "Outcome", options, initial=initial),
        _text_input(
            ids.IN_ADVICE,
            "Your advice",
            hint=f"Sent to the professional and kept in the consultation log. {_NO_NAMES_HINT}",
            initial=c.advice_text or None,
        ),
    ]
    return _view("Give advice", ids.MODAL_ADVICE, str(c.id), blocks, submit="Send advice")


def not_followed_modal(c: Consultation, *, change: bool = False) -> dict:
    """The professional is not following the advice: why not (recorded in the log).
    ``change``: this replaces an answer they gave before, on purpose."""
    blocks: list[Block] = [
        context(f"*{escape(c.reference)}*: your reason is kept in the consultation log."),
        _text_input(ids.IN_REASON, "What are you doing instead, and why?", hint=_NO_NAMES_HINT),
    ]
    meta = f"{c.id}:change" if change else str(c.id)
    return _view("Not following advice", ids.MODAL_NOT_FOLLOWED, meta, blocks, submit="Send")


def info_reply_modal(card: TriageCard) -> dict:
    """The referrer's reply to a request for more information."""
    blocks: list[Block] = [
        context(f"*{escape(card.reference)}*: your reply goes to the front door manager."),
        _text_input(ids.IN_REPLY, "Your reply", hint=_NO_NAMES_HINT),
    ]
    return _view("Reply", ids.MODAL_INFO_REPLY, str(card.id), blocks, submit="Send")


def error_modal(text: str) -> dict:
    """A plain "Something went wrong: …" view (no inputs, just Close)."""
    blocks = sections(f"Something went wrong: {esc(text, 9000)}", max_sections=3)
    return _view("Front Door", None, "", blocks, close="Close")
