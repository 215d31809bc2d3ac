"""``frontdoor caf import``: the lead professional and the co-ordinator by e-mail address,
looked up in Slack (``users.lookupByEmail``, the fake Web API over HTTP) at import time.

An address nobody in the workspace has refuses its line, naming the line and the
column (the address is not echoed), and nothing is imported; Slack refusing the
lookup itself (e.g. a missing scope) refuses the file in plain words. Addresses are
never stored: the episode holds the user ID. Every name and address is made up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import cli
from bot.flows.caf.importer import import_text
from bot.handlers.slack.directory import directory
from bot.sandbox.webapi import DEFAULT_TOKEN, FakeSlack
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import AuditEntry, CafEpisode
from tests.test_caf_import import CAMBS, clock, count

NOW = "2026-11-24T10:00:00+00:00"
HEADER = "ehm_reference,lead_professional,coordinator,completed_on,consent\n"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user("U0LENA", "lena.lead", "Lena Lead", email="Lena.Lead@council.example")
        fake.add_user("U0CORA", "cora.coord", "Cora Coord", email="cora.coord@council.example")
        yield fake


@pytest.fixture
def cli_env(fake: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", fake.base_url)
    monkeypatch.delenv("FRONTDOOR_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)
    return url


async def run_cli(tmp_path: Path, text: str) -> int:
    """``frontdoor caf import`` in a thread (it runs its own event loop, as from a shell),
    while the fake Web API answers on this one."""
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    return await asyncio.to_thread(cli.main, ["caf", "import", str(path), "--now", NOW])


def episodes(url: str) -> dict[str, CafEpisode]:
    engine = make_engine(url)
    upgrade(engine)
    try:
        with session_scope(engine) as s:
            return {e.ehm_reference: e for e in s.exec(select(CafEpisode)).scalars()}  # type: ignore[call-overload]
    finally:
        engine.dispose()


async def test_addresses_become_user_ids(fake: FakeSlack, cli_env: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    text = HEADER + ("EHM-7001,lena.lead@council.example,Cora.Coord@Council.Example,"
                     "2026-10-01,yes\n"
                     "EHM-7002,,cora.coord@council.example,2026-10-02,yes\n"
                     "EHM-7003,U0LENA,U0CORA,2026-10-03,no\n")
    assert await run_cli(tmp_path, text) == 0
    assert "imported 3 CAF episodes: EHM-7001, EHM-7002, EHM-7003" in capsys.readouterr().out
    eps = episodes(cli_env)
    assert (eps["EHM-7001"].lead_user_id, eps["EHM-7001"].coordinator_user_id) == (
        "U0LENA", "U0CORA")
    assert (eps["EHM-7002"].lead_user_id, eps["EHM-7002"].coordinator_user_id) == (
        None, "U0CORA")
    # Each address asked once (any case), user IDs not at all.
    asked = sorted(c.args["email"] for c in fake.calls_to("users.lookupByEmail"))
    assert asked == ["cora.coord@council.example", "lena.lead@council.example"]
    engine = make_engine(cli_env)
    with session_scope(engine) as s:
        stored = " ".join(str(v) for e in s.exec(select(AuditEntry)).scalars()  # type: ignore[call-overload]
                          for v in (e.old_value, e.new_value, e.reason, e.subject_id))
    engine.dispose()
    assert "@" not in stored  # the addresses are not kept, not even in the audit


async def test_an_unknown_address_refuses_its_line_and_imports_nothing(
        fake: FakeSlack, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    text = HEADER + ("EHM-7101,lena.lead@council.example,U0CORA,2026-10-01,yes\n"
                     "EHM-7102,U0LENA,nobody.here@council.example,2026-10-02,yes\n"
                     "EHM-7103,gone.away@council.example,U0CORA,2026-10-03,yes\n")
    assert await run_cli(tmp_path, text) == 1
    err = capsys.readouterr().err
    assert "nothing was imported" in err
    assert ("line 3: the co-ordinator (column coordinator): no one in this Slack workspace "
            "has that e-mail address; check it, or give their Slack user ID (U0123ABCD)") in err
    assert "line 4: the lead professional (column lead_professional): no one" in err
    assert "line 2" not in err and "is required" not in err  # said once, and only there
    assert "nobody.here" not in err and "gone.away" not in err
    assert episodes(cli_env) == {}


async def test_slack_refusing_the_lookup_refuses_the_file(
        fake: FakeSlack, cli_env: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake.fail("users.lookupByEmail", status=200, error="missing_scope")
    text = HEADER + "EHM-7201,lena.lead@council.example,U0CORA,2026-10-01,yes\n"
    assert await run_cli(tmp_path, text) == 1
    err = capsys.readouterr().err
    assert ("the e-mail addresses could not be looked up: Slack answered missing_scope: the "
            "Slack app needs the users:read.email scope") in err
    assert "Traceback" not in err
    assert episodes(cli_env) == {}


def test_without_slack_an_address_is_refused_in_plain_words(engine: object) -> None:
    text = HEADER + "EHM-7301,U0LENA,cora.coord@council.example,2026-10-01,yes\n"
    result = import_text(engine, CAMBS, text, clock=clock,  # type: ignore[arg-type]
                         directory=directory())  # Slack's, with no token set
    assert result.errors == [
        "line 2: the co-ordinator must be a Slack user ID such as U0123ABCD: an e-mail "
        "address needs Slack to look it up (set SLACK_BOT_TOKEN)"]
    assert count(engine, CafEpisode) == 0  # type: ignore[arg-type]


def test_help_says_addresses_are_taken(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["caf", "import", "--help"])
    shown = capsys.readouterr().out
    assert "a Slack user ID (U0123ABCD) or their e-mail address" in shown
    assert "users:read.email" in shown
