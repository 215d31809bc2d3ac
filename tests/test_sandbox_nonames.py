"""Identifiers typed in the local workspace are kept nowhere: not in the sandbox's
workspace file, not in its database (nor the write-ahead log). Typed through the page
(``/ui/send``), as a person would; names and numbers are invented."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import aiohttp

from bot.config import Settings
from bot.sandbox import demo
from tests.slackenv import Clock, SlackEnv, refused_identifiers
from tests.test_sandbox_ui import post
from tests.test_slack_app import _mark, _settle, to_first_text_question

REFUSED = "JAYDEN QUARTERMAINE, dob 14.03.2017, lives at 12 mill road, nan on 07700 900461"
ASKED = "destiny came in today in the same clothes as last week"


async def test_typed_identifiers_are_not_in_the_workspace_file_or_database(
    tmp_path: Path,
) -> None:
    from bot.sandbox.run import sandbox

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'frontdoor-sandbox.db'}", port=0)
    user = demo.TEACHER
    async with sandbox(settings, port=0) as sb, aiohttp.ClientSession() as http:
        env = SlackEnv(sb.fake, sb.bot, sb.sender, Clock(dt.datetime.now(dt.UTC)),
                       sb.bot.sv.policy, sb.database_url)
        await to_first_text_question(env, user)
        for text in (REFUSED, ASKED):
            before = _mark(env, user)
            sent = await post(http, f"{sb.url}ui/send",
                              {"user": user, "channel": sb.fake.dm_channel(user), "text": text})
            assert sent["ok"] is True, sent
            await _settle(env, user, before)
        told = json.dumps(sb.fake.ephemerals_for(user))
        assert "QUARTERMAINE" in told and "Could 'destiny' identify" in told
    assert sb.state_file is not None and sb.state_file.exists()
    raw = await asyncio.to_thread(lambda: b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.is_file()))
    # A fragment of the phone number long enough not to turn up by chance among the
    # file's timestamps and ids ("9004" did, once, in the database file's bytes).
    secrets = refused_identifiers([REFUSED]) | {"destiny", "900461"}
    assert {"JAYDEN QUARTERMAINE", "14.03.2017", "12 mill road"} <= secrets
    for secret in secrets:
        assert secret.encode() not in raw, secret
