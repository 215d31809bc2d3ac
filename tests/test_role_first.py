"""Who is acting is checked before anything else (issue 15, defect 7).

Someone who may not act on a subject learns nothing about it: not whether it exists,
not whether it is closed, not whether their typing would have been accepted. Each
listener that takes a subject is tried by such a person on subjects that differ (one
that exists, one closed, one that does not exist, one with bad fields): the answer
must be the same words every time, told privately, with no modal errors and no modal
opened. The real Bolt app over signed HTTP, the fake Web API, a SQLite file.
"""

from __future__ import annotations

import json
from typing import Any

from bot.flows.caf.service import CafService
from bot.flows.consultation.log import LogFilter
from bot.handlers.slack.blocks import caf as caf_blocks
from bot.handlers.slack.blocks import caflog as caflog_blocks
from bot.handlers.slack.blocks import ids, modals
from store.db import session_scope
from store.models import CafEpisode, Consultation, TriageCard
from tests.slackenv import ADVISOR, OUTSIDER, TEACHER, SlackEnv, slack_env
from tests.test_caf_slack import (
    COORD,
    LEAD,
    TUESDAY,
    _green_card,
    _load_card,
    register_by_slash,
)
from tests.test_slack_app import play

REGISTER = {ids.IN_CAF_LEAD[1]: LEAD, ids.IN_CAF_COORDINATOR[1]: COORD,
            ids.IN_CAF_COMPLETED[1]: "2026-11-24", ids.IN_CAF_CONSENT[1]: "yes"}


async def refusals(env: SlackEnv, user: str, count: int) -> list[str]:
    """The private notes ``user`` has been shown, once there are ``count`` of them."""
    await env.fake.wait_for("chat.postEphemeral", count=count,
                            predicate=lambda c: c.args.get("user") == user)
    return [m["text"] for m in env.fake.ephemerals_for(user)]


async def submit_on(env: SlackEnv, view: dict[str, Any], values: dict[str, Any],
                    *subjects: int) -> None:
    """The outsider submits ``view`` once per subject id; no answer may carry errors."""
    for subject in subjects:
        d = await env.sender.view_submission(OUTSIDER, view, values,
                                             private_metadata=str(subject))
        assert d.status == 200 and not d.body, (subject, d.body)


def opened_for(env: SlackEnv, user: str) -> list[Any]:
    return [c for c in env.fake.calls_to("views.open")
            if json.dumps(c.args).find(user) >= 0]


async def closed_episode(env: SlackEnv, ref: str) -> CafEpisode:
    ep = await register_by_slash(env, ref)
    caf = CafService(env.bot.sv.tx, env.policy, env.clock)
    assert caf.close(ep.id or 0, COORD, "plan_complete").ok
    return ep


async def test_caf_register_view_tells_an_outsider_nothing_about_references(
        db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        await register_by_slash(env, "EHM-20417")
        view = caf_blocks.register_modal(env.policy)
        for ref in ("EHM-20417", "EHM-30991", "Jayden Smith"):
            d = await env.sender.view_submission(OUTSIDER, view, {
                **REGISTER, ids.IN_CAF_REFERENCE[1]: ref})
            assert d.status == 200 and not d.body, (ref, d.body)
        told = await refusals(env, OUTSIDER, 3)
        assert len(set(told)) == 1 and "Only the CAF team" in told[0], told


async def test_caf_route_view_tells_a_non_manager_nothing(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        await register_by_slash(env, "EHM-20417")
        await closed_episode(env, "EHM-30991")
        card_id = _green_card(env)
        await env.drain()
        view = caf_blocks.route_modal(_load_card(db_file, card_id), True, True)
        for ref in ("EHM-20417", "EHM-30991", "EHM-41123", "Jayden Smith"):
            d = await env.sender.view_submission(
                TEACHER, view, {ids.IN_CAF_REFERENCE[1]: ref})
            assert d.status == 200 and not d.body, (ref, d.body)
        told = await refusals(env, TEACHER, 4)
        assert len(set(told)) == 1 and "Only the front door's managers" in told[0], told


async def test_caf_buttons_and_modals_tell_an_outsider_nothing(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        ep = await register_by_slash(env, "EHM-20417")
        gone = (ep.id or 0) + 100
        for value in (f"{ep.id}", f"{gone}", f"{ep.id}:2026-12-22"):
            d = await env.sender.block_action(OUTSIDER, ids.CAF_HELD, value,
                                              channel_id=env.dm_id(OUTSIDER))
            assert d.status == 200
        # The held modal with a date in the future (a field error for the lead), on the
        # episode and on one that does not exist.
        view = caf_blocks.held_modal(ep, None, TUESDAY.date())
        await submit_on(env, view, {ids.IN_CAF_DATE[1]: "2027-01-05"}, ep.id or 0, gone)
        told = await refusals(env, OUTSIDER, 5)
        assert len(set(told)) == 1 and "Only this CAF's lead professional" in told[0], told
        assert not opened_for(env, OUTSIDER)


async def _advised_consultation(env: SlackEnv) -> int:
    """A teacher's consultation, answered by the duty advisor (as a person would)."""
    await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
    await env.fake.wait_for("chat.postMessage")
    await play(env, TEACHER)
    duty = env.policy.channel("consultation_duty")
    card = env.fake.history(duty)[-1]
    await env.click_card(ADVISOR, duty, card["ts"], ids.CONSULT_ADVISE)
    view = (await env.fake.wait_for("views.open"))[-1].args["view"]
    await env.sender.view_submission(ADVISOR, view, {
        ids.IN_OUTCOME[1]: "signpost", ids.IN_ADVICE[1]: "Signpost to the food bank."})
    await env.fake.wait_for("chat.postMessage", predicate=lambda c: (
        "food bank" in json.dumps(c.args) and c.args.get("channel") == env.dm_id(TEACHER)))
    await env.drain()
    return int(view["private_metadata"])


async def test_advice_buttons_tell_anyone_but_the_professional_nothing(
        db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        cid = await _advised_consultation(env)
        for action in (ids.ADVICE_NOT_FOLLOWED, ids.ADVICE_FOLLOWED):
            for value in (str(cid), str(cid + 100)):
                d = await env.sender.block_action(OUTSIDER, action, value,
                                                  channel_id=env.dm_id(OUTSIDER))
                assert d.status == 200
        with session_scope(env.bot.sv.engine) as s:
            c = s.get(Consultation, cid)
            assert c is not None
            view = modals.not_followed_modal(c)
        await submit_on(env, view, {ids.IN_REASON[1]: "Referred to the school nurse."},
                        cid, cid + 100)
        told = await refusals(env, OUTSIDER, 6)
        assert len(set(told)) == 1 and "Only the professional who asked" in told[0], told
        assert not opened_for(env, OUTSIDER)  # the modal (with the reference) never opens


async def test_info_reply_tells_anyone_but_the_referrer_nothing(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        card_id = _green_card(env)
        await env.drain()
        card: TriageCard = _load_card(db_file, card_id)
        view = modals.info_reply_modal(card)
        await submit_on(env, view, {ids.IN_REPLY[1]: "Seen by the nurse on Monday."},
                        card_id, card_id + 100)
        told = await refusals(env, OUTSIDER, 2)
        assert len(set(told)) == 1 and "Only the referrer" in told[0], told


async def test_caflog_filter_view_is_refused_before_its_fields(db_file: str) -> None:  # noqa: F811
    async with slack_env(db_file, start=TUESDAY) as env:
        view = caflog_blocks.filter_modal(LogFilter(), env.dm_id(OUTSIDER))
        d = await env.sender.view_submission(OUTSIDER, view, {
            caflog_blocks.IN_SINCE[1]: "2026-12-01", caflog_blocks.IN_UNTIL[1]: "2026-11-01"})
        assert d.status == 200 and not d.body, d.body
        told = await refusals(env, OUTSIDER, 1)
        assert told == [caflog_blocks.REFUSED]
