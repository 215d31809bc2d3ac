"""Plain words shared by the domain and every platform's renderer: what outcomes and
ratings are called, stored keys read as words, durations and instants.

Unescaped: a renderer escapes them for its own markup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.policy import Policy

# The one place outcomes are worded (consultation advice, suggestions, App Home).
OUTCOME_LABELS: dict[str, str] = {
    "urgent_referral": "Make an urgent referral now",
    "referral": "Make a referral",
    "early_help": "Start an Early Help Assessment (with consent)",
    # Scenario 11: the child already has an open CAF, so no new assessment is started.
    "continue_caf": "Continue the open CAF and strengthen the family plan",
    "signpost": "Signpost to universal or community services",
    "lado": "Refer to the LADO",
    "advice_only": "Advice only / no further action",
    "redirect": "Not for the front door: redirected",
    "returned": "Returned to the referrer (no consent, no safeguarding concern)",
}

# Outcomes an advisor may choose (redirect/returned are the bot's, not advice).
ADVICE_OUTCOMES: tuple[str, ...] = (
    "urgent_referral",
    "referral",
    "early_help",
    "continue_caf",
    "signpost",
    "lado",
    "advice_only",
)


def humanize(key: str) -> str:
    """``"domestic_abuse"`` -> ``"domestic abuse"`` (stored keys read as words)."""
    return str(key).replace("_", " ").strip()


def outcome_label(key: str | None) -> str:
    """The plain-words label of an outcome key (unknown keys humanised, unescaped)."""
    if not key:
        return "No outcome yet"
    return OUTCOME_LABELS.get(key, humanize(key))


def rating_name(policy: Policy, key: str | None) -> str:
    """A rating's label from the policy ("Amber (child in need)"), unescaped."""
    if not key:
        return "Not rated"
    rating = policy.ratings.get(key)
    return rating.label if rating is not None else humanize(key)


def to_utc(dt: datetime) -> datetime:
    """An aware UTC instant (a naive value is taken to be UTC, as the store writes them)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def duration_words(td: timedelta) -> str:
    """A positive duration in words: "3 h 40 min", "2 days 4 h", "under a minute"."""
    minutes = int(abs(td).total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        # Past a day, minutes are noise.
        out = f"{days} day" + ("s" if days != 1 else "")
        return f"{out} {hours} h" if hours else out
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"

# The consultation log's filter fields as both platforms' forms name them (a problem with
# a field names it so: "From: must not be after To").
CAFLOG_FILTER_LABELS = {"since": "From", "until": "To", "outcome": "Outcome",
                        "category": "Category", "agency": "Agency", "advisor": "Advisor",
                        "words": "Words"}
