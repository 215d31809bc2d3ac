"""The CAF consultation log records who asked and who advised, from their Slack profile
(``users.info``) at the time: name, title, agency and contact on the log entry and in the
CSV; a profile Slack does not give is "not available" and the consultation goes on.
Through the real Bolt app, signed requests and the fake Web API.

Every name and contact here is made up.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from bot.flows.consultation import log as caflog
from store.db import session_scope
from store.models import Consultation
from tests.helpers import until
from tests.slackenv import ADVISOR, TEACHER, SlackEnv, slack_env
from tests.test_caflog import _uploaded
from tests.test_slack_app import TUESDAY, advised, play


def _entry(env: SlackEnv) -> Consultation | None:
    with session_scope(env.bot.sv.engine) as s:
        return s.exec(select(Consultation)).scalars().first()  # type: ignore[call-overload,no-any-return]


async def _recorded(env: SlackEnv, *, advisor: bool = False) -> Consultation:
    """The one consultation, once the lookups after its commit have recorded the people."""

    def done() -> bool:
        c = _entry(env)
        return c is not None and c.asker_name is not None and (
            not advisor or c.advisor_name is not None)

    await until(done, "the consultation's people recorded")
    c = _entry(env)
    assert c is not None
    return c


async def test_the_log_records_who_asked_and_who_advised_from_their_profiles(
        db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        env.fake.users[TEACHER].phone = "01632 960123"
        await advised(env)
        c = await _recorded(env, advisor=True)
        assert (c.asker_name, c.asker_role, c.asker_agency, c.asker_contact) == (
            "Ada Teacher", "Teacher (designated safeguarding lead)", "Education",
            "ada.teacher@example.org; 01632 960123")
        assert (c.advisor_name, c.advisor_role) == (
            "Dee Advisor", "Duty advisor (CAF social worker)")

        await env.sender.slash_command(ADVISOR, "/caflog", "export")
        rows = list(csv.reader(io.StringIO(
            (await _uploaded(env, ADVISOR)).decode("utf-8-sig"))))
        row = dict(zip(caflog.HEADER, rows[1], strict=True))
        assert (row["Professional"], row["Role"], row["Agency"], row["Contact"]) == (
            "Ada Teacher", "Teacher (designated safeguarding lead)", "Education",
            "ada.teacher@example.org; 01632 960123")
        assert (row["Advisor"], row["Advisor id"], row["Professional id"], row["Platform"]) == (
            "Dee Advisor", ADVISOR, TEACHER, "slack")


async def test_a_profile_slack_does_not_give_is_not_available_and_the_consultation_stands(
        db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        await env.fake.wait_for("chat.postMessage")
        # The door has seen the teacher (remembered); the next users.info is the profile's.
        env.fake.fail("users.info", status=200, error="fatal_error")
        await play(env, TEACHER)
        c = await _recorded(env)
        failed = [x for x in env.fake.calls_to("users.info") if x.response and not x.ok]
        assert [x.args.get("user") for x in failed] == [TEACHER]
        # Name and contact are not available; role and agency are the flow's answers.
        assert (c.asker_name, c.asker_role, c.asker_agency, c.asker_contact) == (
            "not available", "Designated safeguarding lead", "Education", "not available")
        assert c.status == "open"  # it reached the duty advisor all the same
        duty = env.policy.channel("consultation_duty")
        assert any(c.reference in str(m.get("text")) for m in env.fake.history(duty))
