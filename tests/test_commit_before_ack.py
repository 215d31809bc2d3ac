"""A decision is committed before Slack is answered (issue 15, defect 9).

Slack does not send an acknowledged click again. If the bot acked first and died
before its commit, a manager's rating decision would be lost while Slack showed it
as done. So the listener commits, then acks: a crash before the commit leaves Slack
without an answer (the person sees an error and clicks again), never a lost decision.

The test holds the bot's transaction open at the moment the decision is flushed and
not yet committed, until Slack's answer arrives (or ``HOLD`` passes: answering is
what must *not* happen while the decision is uncommitted, so the hold running out is
the expected path; it is the only timed wait, and it proves an absence). When the
answer arrives, the decision must already be committed. Acked-first code answers
during the hold, so the check fails there every time, not by chance.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.handlers.slack.blocks import ids
from store.models import CafEpisode, Decision
from tests.slackenv import MANAGER, slack_env
from tests.test_caf_slack import COORD, LEAD, TUESDAY, episodes
from tests.test_slack_app import _refer

HOLD = 0.5  # seconds; acked-first code answers Slack within ~20 ms of the click


@dataclass
class Held:
    """What the hook saw of the transaction that writes the watched row."""

    responded: threading.Event = field(default_factory=threading.Event)
    flushed: threading.Event = field(default_factory=threading.Event)
    committed: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def hold_commit(engine: Engine, watched: type) -> Iterator[Held]:
    """Hold the bot's transaction that first flushes a new ``watched`` row, before its
    commit, until the test says Slack answered (at most ``HOLD``)."""
    held = Held()
    url = str(engine.url)

    def ours(session: Session) -> bool:
        return session.bind is not None and str(session.bind.url) == url

    def after_flush(session: Session, _ctx: Any) -> None:
        if held.flushed.is_set() or not ours(session):
            return
        if any(isinstance(o, watched) for o in session.new):
            session.info["watched"] = True
            held.flushed.set()
            held.responded.wait(HOLD)

    def after_commit(session: Session) -> None:
        if session.info.pop("watched", False):
            held.committed.set()

    event.listen(Session, "after_flush", after_flush)
    event.listen(Session, "after_commit", after_commit)
    try:
        yield held
    finally:
        event.remove(Session, "after_flush", after_flush)
        event.remove(Session, "after_commit", after_commit)


async def answered(held: Held) -> bool:
    """Slack's answer has arrived: was the decision committed by then? (Read before the
    hold is released: acked-first code is still held, so it cannot have committed.)"""
    committed = held.committed.is_set()
    held.responded.set()
    # Let the held transaction finish before the hook is removed.
    assert await asyncio.to_thread(held.committed.wait, 10.0), "the decision never committed"
    assert held.flushed.is_set()
    return committed


async def test_approve_is_committed_before_the_ack(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        with hold_commit(env.bot.sv.engine, Decision) as held:
            d = await env.click_card(MANAGER, *env.posted(card),
                                     ids.CARD_APPROVE)
            committed_when_answered = await answered(held)
        assert d.status == 200
        assert committed_when_answered, "approve: Slack was answered before the commit"


async def test_change_rating_submission_is_committed_before_the_ack(
        db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_CHANGE)
        view = (await env.fake.wait_for("views.open"))[-1].args["view"]
        with hold_commit(env.bot.sv.engine, Decision) as held:
            d = await env.sender.view_submission(MANAGER, view, {
                ids.IN_RATING[1]: "amber_sh",
                ids.IN_REASON[1]: "Police information shows a risk of significant harm."})
            committed_when_answered = await answered(held)
        assert d.status == 200 and not d.body, d.body
        assert committed_when_answered, "change rating: Slack was answered before the commit"


async def test_caf_registration_is_committed_before_the_modal_closes(
        db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        await env.sender.slash_command(COORD, "/caf", channel_id=env.dm_id(COORD))
        view = (await env.fake.wait_for("views.open"))[-1].args["view"]
        with hold_commit(env.bot.sv.engine, CafEpisode) as held:
            d = await env.sender.view_submission(COORD, view, {
                ids.IN_CAF_REFERENCE[1]: "EHM-20417", ids.IN_CAF_LEAD[1]: LEAD,
                ids.IN_CAF_COORDINATOR[1]: COORD, ids.IN_CAF_COMPLETED[1]: "2026-11-24",
                ids.IN_CAF_CONSENT[1]: "yes"})
            committed_when_answered = await answered(held)
        assert d.status == 200 and not d.body, d.body
        assert committed_when_answered, "CAF registration: Slack was answered before the commit"
        assert [e.ehm_reference for e in episodes(db_file)] == ["EHM-20417"]
