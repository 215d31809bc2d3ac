"""``frontdoor caf import FILE.csv``: all rows or none, every bad line named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import cli
from bot.flows.caf.importer import import_file, import_text, read_rows
from bot.policy import load_policy
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import CafEpisode, CafMeeting, Reminder
from tests.helpers import count

CAMBS = load_policy("cambridgeshire")
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/London"))

GOOD = """ehm_reference,lead_professional,coordinator,completed_on,consent,last_meeting_on
EHM-1001,U0LEAD,U0COORD,2026-10-01,yes,2026-10-20
EHM-1002,,U0COORD,2026-11-02,no,
EHM-1003,U0LEAD,U0COORD,15/09/2026,Yes,
"""

# Line 4 (the third data row) has a month 13.
BAD = """ehm_reference,lead_professional,coordinator,completed_on,consent
EHM-2001,U0LEAD,U0COORD,2026-10-01,yes
EHM-2002,U0LEAD,U0COORD,2026-10-02,no
EHM-2003,U0LEAD,U0COORD,2026-13-01,yes
EHM-2004,U0LEAD,U0COORD,2026-10-04,yes
"""


def clock() -> dt.datetime:
    return NOW


def test_good_file_imports_every_row(engine: Engine) -> None:
    result = import_text(engine, CAMBS, GOOD, clock=clock)
    assert result.ok, result.errors
    assert result.imported == ["EHM-1001", "EHM-1002", "EHM-1003"]
    with session_scope(engine) as s:
        eps = {e.ehm_reference: e for e in s.exec(select(CafEpisode)).scalars()}  # type: ignore[call-overload]
    assert eps["EHM-1001"].next_meeting_due == dt.date(2026, 12, 15)  # last held + 8 weeks
    assert eps["EHM-1002"].lead_user_id is None and eps["EHM-1002"].consent is False
    assert eps["EHM-1003"].completed_on == dt.date(2026, 9, 15)
    assert {e.source for e in eps.values()} == {"import"}
    assert count(engine, CafMeeting) == 1
    # Their reminders exist like any episode's (and the one without a lead starts its route).
    with session_scope(engine) as s:
        kinds = [r.kind for r in s.exec(select(Reminder)).scalars()]  # type: ignore[call-overload]
    assert kinds.count("tac_overdue") == 3 and kinds.count("caf_reassess") == 3
    assert kinds.count("caf_no_lead") == 3  # the three steps for EHM-1002


def test_one_bad_row_imports_nothing_and_names_the_line(engine: Engine) -> None:
    result = import_text(engine, CAMBS, BAD, clock=clock)
    assert not result.ok
    assert result.errors == [
        "line 4: completed_on is not a date (use YYYY-MM-DD or DD/MM/YYYY)"]
    assert count(engine, CafEpisode) == 0
    assert count(engine, Reminder) == 0


def test_every_bad_line_is_reported(engine: Engine) -> None:
    text = """ehm_reference,lead_professional,coordinator,completed_on,consent
EHM-3001,U0LEAD,U0COORD,2026-10-01,maybe
Jane Smith,U0LEAD,U0COORD,2026-10-01,yes
EHM-3001,U0LEAD,U0COORD,2026-10-01,yes
EHM-3004,lead@example.org,,2026-10-01,yes
EHM-3005,U0LEAD,U0COORD,2027-01-01,yes
"""
    errors = import_text(engine, CAMBS, text, clock=clock).errors
    assert errors[0] == "line 2: consent must be yes or no"
    assert errors[1].startswith(
        "line 3: the EHM reference must be the case system's number, like EHM-20417")
    assert "Jane" not in " ".join(errors)  # a name typed into the file is never echoed
    assert "line 4: the EHM reference EHM-3001 repeats line 2" in errors
    assert any(e.startswith("line 5: the lead professional must be a Slack user ID")
               for e in errors)
    assert "line 5: the co-ordinator is required" in errors
    assert any(e.startswith("line 6: the CAF completed date 2027-01-01 is in the future")
               for e in errors)
    assert count(engine, CafEpisode) == 0


def test_references_already_registered_are_errors(engine: Engine) -> None:
    assert import_text(engine, CAMBS, GOOD, clock=clock).ok
    again = GOOD.replace("EHM-1002", "EHM-9999").replace("EHM-1003", "EHM-9998")
    errors = import_text(engine, CAMBS, again, clock=clock).errors
    assert errors == ["line 2: the EHM reference EHM-1001 is registered already"]
    assert count(engine, CafEpisode) == 3


def test_columns_are_checked_before_any_row() -> None:
    rows, errors = read_rows("ehm_reference,child_name,coordinator,completed_on,consent\n"
                             "EHM-1,x,U0COORD,2026-10-01,yes\n", dt.date(2026, 11, 24), CAMBS.caf)
    assert rows == []
    assert errors[0] == "line 1: missing column lead_professional"
    assert errors[1].startswith("line 1: unknown column 'child_name'")
    assert read_rows("", dt.date(2026, 11, 24), CAMBS.caf)[1] == [
        "line 1: the file is empty (expected a header row)"]


def test_file_with_a_byte_order_mark(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert import_file(engine, CAMBS, path, clock=clock).ok
    latin = tmp_path / "latin.csv"
    latin.write_bytes(GOOD.replace("EHM-1001", "EHM-\xe9").encode("latin-1"))
    assert "not UTF-8" in import_file(engine, CAMBS, latin, clock=clock).errors[0]


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("FRONTDOOR_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return url


def test_cli_import_exit_codes(cli_db: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    assert cli.main(["caf", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "nothing was imported" in err and "line 4: completed_on is not a date" in err
    good = tmp_path / "good.csv"
    # The command line uses the real clock: dates safely in the past.
    good.write_text(GOOD.replace("2026-", "2024-").replace("/2026", "/2024"), encoding="utf-8")
    assert cli.main(["caf", "import", str(good)]) == 0
    assert "imported 3 CAF episodes: EHM-1001, EHM-1002, EHM-1003" in capsys.readouterr().out
    engine = make_engine(cli_db)
    upgrade(engine)
    assert count(engine, CafEpisode) == 3
    engine.dispose()


def test_name_like_references_are_refused_and_not_echoed(engine: Engine) -> None:
    """The issue-15 values, imported: every line refused by the shape expected, none
    echoed, nothing imported (all names fictional)."""
    refs = ("Zephyrine-Quartermaine", "QUARTERMAINE-2017", "JAYDEN-SMITH", "SMITH-14032017",
            "OLIVIA2017", "CB2-8QX", "Jayden-Smith")
    text = "ehm_reference,lead_professional,coordinator,completed_on,consent\n" + "".join(
        f"{r},U0LEAD,U0COORD,2026-10-01,yes\n" for r in refs)
    errors = import_text(engine, CAMBS, text, clock=clock).errors
    assert len(errors) == len(refs)
    assert all("like EHM-20417" in e for e in errors), errors
    shown = "\n".join(errors).upper()
    assert not any(r.upper() in shown for r in refs)
    assert count(engine, CafEpisode) == 0


def test_cli_import_as_of_now(cli_db: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """``--now`` is the import's clock: dates after its day are refused, before it taken."""
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert cli.main(["caf", "import", str(good), "--now", "2026-01-01T12:00:00+00:00"]) == 1
    assert "nothing was imported" in capsys.readouterr().err
    assert cli.main(["caf", "import", str(good), "--now", "2026-12-01T12:00:00+00:00"]) == 0
    assert "imported 3 CAF episodes: EHM-1001, EHM-1002, EHM-1003" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--now must be an ISO time"):
        cli.main(["caf", "import", str(good), "--now", "1 Dec"])


def test_cli_import_help_lists_the_columns(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["caf", "import", "--help"])
    shown = capsys.readouterr().out
    for column in ("ehm_reference", "lead_professional", "coordinator", "completed_on",
                   "consent", "last_meeting_on", "--now ISO-TIME"):
        assert column in shown
