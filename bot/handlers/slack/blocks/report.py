"""The managers' weekly figures as a Slack message (the chart is a file of its own)."""

from __future__ import annotations

from typing import Any

from bot.handlers.slack.blocks import text as tx
from bot.report import WeeklyFigures, period, summary_lines


def _bold(s: str) -> str:
    return f"*{s}*"


def summary_text(fig: WeeklyFigures) -> str:
    """The figures' lines in ``mrkdwn``."""
    return "\n".join(summary_lines(fig, bold=_bold, escape=tx.escape))


def summary_message(figures: WeeklyFigures | dict[str, Any]) -> dict[str, Any]:
    """``text`` + ``blocks`` for the managers' channel (``figures``: or their JSON)."""
    fig = figures if isinstance(figures, WeeklyFigures) else WeeklyFigures.from_json(figures)
    lines = summary_lines(fig, bold=_bold, escape=tx.escape)
    fallback = (f"Front Door weekly figures, {period(fig)}: {fig.consultations} consultations, "
                f"{fig.referrals} referrals.")
    blocks = [tx.header(f"Front Door weekly figures: {period(fig)}")]
    blocks += tx.sections("\n".join(lines[1:]))
    blocks.append(tx.context(f"{tx.escape(fig.authority)} · weeks run Monday to Sunday · "
                             "the chart follows"))
    return tx.message(fallback, blocks)
