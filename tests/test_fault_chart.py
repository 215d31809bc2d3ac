"""kill -9 between the steps of the weekly chart's upload, then a restart: the chart is
shared in the managers' channel exactly once.

The upload is three calls: make the file (its id is written down on the outbox row
before anything is shared), store its bytes, share it. A real ``frontdoor worker`` is
killed inside one of the fake's upload calls: while the file is being made (its id
never reached the bot), just before it is shared (made, stored, written down, not
shared), or once it is shared (Slack has it, the bot never hears). The restarted
sender (in this process, on a clock the test moves) looks for the written-down file in
the channel before it uploads again.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from bot import jobs
from bot.policy import load_policy
from store.db import session_scope
from store.models import OutboxMessage
from store.types import utcnow
from tests.slackenv import Clock
from tests.test_fault_recover import TOKEN, Rig, _recover, kill_inside
from tests.test_fault_recover import rig as rig  # the fixture

POLICY = load_policy("cambridgeshire")
MANAGERS = POLICY.channel("mash_managers")
KEY = "job:weekly_report:2026-11-30"
MAKE, SHARE = "files.getUploadURLExternal", "files.completeUploadExternal"


async def _kill_inside(on: Rig, method: str, *, act: bool) -> None:
    """Queue the week's report; run a worker and kill it inside ``method`` (after the
    fake has acted on the call when ``act``, else before)."""
    with session_scope(on.engine, write=True) as s:
        jobs.queue_weekly_report(s, POLICY, date(2026, 11, 23), utcnow(), key=KEY)
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": on.fake.base_url,
           "DATABASE_URL": on.url, "FRONTDOOR_POLICY": "", "FRONTDOOR_OUTBOX_PACE": "0",
           "FRONTDOOR_OUTBOX_LEASE": "60"}
    real = on.fake._methods[method]  # the fake's own handler

    def inside(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        return (real(args) if act else {"ok": False, "error": "fatal_error"}), True

    await kill_inside(on.fake, method, env, inside)


def _chart_row(on: Rig) -> OutboxMessage:
    with session_scope(on.engine) as s:
        return s.exec(select(OutboxMessage).where(  # type: ignore[call-overload]
            OutboxMessage.idempotency_key == f"{KEY}:chart")).scalar_one()


@pytest.mark.fault
@pytest.mark.parametrize(("method", "act"), [
    (MAKE, True),  # the file is made; its id never reaches the bot
    (SHARE, False),  # made, stored and written down; not shared
    (SHARE, True),  # shared: Slack has it, the bot never heard
])
async def test_killed_inside_the_chart_upload_shares_it_once(
        rig: Rig, method: str, act: bool) -> None:  # noqa: F811
    fake = rig.fake
    await _kill_inside(rig, method, act=act)
    killed = _chart_row(rig)
    assert killed.status == "sending"
    made = [c.response["file_id"] for c in fake.calls_to(MAKE) if c.ok]  # type: ignore[index]
    assert len(made) == 1
    # The file's id is on the row once it was made and the bot heard of it.
    assert killed.message_id == (None if method == MAKE else made[0])

    await _recover(rig, Clock(utcnow()))

    shared = [f for f in fake.files.values() if f.completed]
    assert len(shared) == 1, [(f.id, f.channels) for f in shared]
    assert shared[0].channels == [MANAGERS]
    assert shared[0].name == "frontdoor-weekly-2026-11-23.png"
    assert shared[0].content and shared[0].content.startswith(b"\x89PNG")
    in_channel = [f["id"] for m in fake.history(MANAGERS) for f in m.get("files") or ()]
    assert in_channel == [shared[0].id]
    row = _chart_row(rig)
    assert row.status == "sent" and row.message_id == shared[0].id
    # Shared before the crash: found, not uploaded again. Else one new upload.
    assert len([c for c in fake.calls_to(MAKE) if c.ok]) == (1 if act and method == SHARE
                                                              else 2)
    summaries = [m for m in fake.history(MANAGERS) if not m.get("files")]
    assert len(summaries) == 1


@pytest.mark.fault
async def test_a_refused_upload_and_a_share_cut_off_share_the_chart_once(
        rig: Rig) -> None:  # noqa: F811
    fake = rig.fake
    with session_scope(rig.engine, write=True) as s:
        jobs.queue_weekly_report(s, POLICY, date(2026, 11, 23), utcnow(), key=KEY)
    fake.fail("upload", status=500)  # the bytes are refused: nothing made can be shared
    fake.fail(SHARE, exc="disconnect")  # the share is cut off before Slack acts on it
    await _recover(rig, Clock(utcnow()))
    shared = [f for f in fake.files.values() if f.completed]
    assert [f.channels for f in shared] == [[MANAGERS]]
    assert _chart_row(rig).message_id == shared[0].id
    assert [c.fault for c in fake.calls_to("upload") if c.fault] == ["500"]
    assert [c.fault for c in fake.calls_to(SHARE) if c.fault] == ["disconnect"]
    assert len([c for c in fake.calls_to(MAKE) if c.ok]) == 3  # once each try
