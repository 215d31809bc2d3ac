"""The audit trail as CSV (``frontdoor audit export``): who did what, when, old and new
values; local-day windows; escaping and the formula guard; the export is itself audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import auditlog
from bot.cli import main
from store import repo
from store.db import session_scope
from store.models import AuditEntry
from tests.helpers import LONDON, at


def seed(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        repo.audit(s, actor="U0TEACHER", action="consultation.created",
                   subject_type="consultation", subject_id=1,
                   new={"reference": "FD-2026-000001", "outcome": "early_help"},
                   at=at(2026, 10, 31, 23, 59))  # the day before
        repo.audit(s, actor="U0MANAGER", action="rating.change", subject_type="card",
                   subject_id=7, old="green", new="amber_sh",
                   reason='Police information, "new", shows risk,\nso stepping up.',
                   at=at(2026, 11, 1, 0, 0))  # first moment of 1 November (GMT)
        repo.audit(s, actor="U0ADVISOR", action="advice.given", subject_type="consultation",
                   subject_id=1, old=None, new="=1+2", reason="@ duty desk",
                   at=at(2026, 11, 15, 12, 30))
        repo.audit(s, actor="U0MANAGER", action="card.close", subject_type="card",
                   subject_id=7, new="closed", reason="Signposted — Zoë's team",
                   at=at(2026, 12, 1, 0, 0))  # the day after


def test_export_window_columns_and_escaping(engine: Engine) -> None:
    seed(engine)
    with session_scope(engine) as s:
        text, count = auditlog.export_csv(s, dt.date(2026, 11, 1), dt.date(2026, 11, 30),
                                          LONDON)
    assert count == 2
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "at", "at_utc", "actor", "action", "subject_type", "subject_id",
                       "old_value", "new_value", "reason"]
    change = dict(zip(rows[0], rows[1], strict=True))
    assert change["at"] == "2026-11-01 00:00:00+00:00"
    assert change["at_utc"] == "2026-11-01T00:00:00+00:00"
    assert (change["actor"], change["action"]) == ("U0MANAGER", "rating.change")
    assert (change["old_value"], change["new_value"]) == ("green", "amber_sh")
    assert change["reason"] == 'Police information, "new", shows risk,\nso stepping up.'
    assert '"Police information, ""new"", shows risk,\nso stepping up."' in text
    advice = dict(zip(rows[0], rows[2], strict=True))
    assert advice["new_value"] == "'=1+2" and advice["reason"] == "'@ duty desk"
    assert advice["old_value"] == ""
    with session_scope(engine) as s:
        everything, n = auditlog.export_csv(s, None, None, LONDON)
    assert n == 4 and "Zoë's team" in everything  # UTF-8
    assert json.loads(next(csv.DictReader(io.StringIO(everything)))["new_value"]) == {
        "outcome": "early_help", "reference": "FD-2026-000001"}


def test_summer_days_are_local_days(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        # 00:30 BST on 1 July is 23:30 UTC on 30 June: it belongs to 1 July locally.
        repo.audit(s, actor="U0X", action="a", subject_type="t", subject_id=1,
                   at=at(2026, 7, 1, 0, 30))
    with session_scope(engine) as s:
        _, june = auditlog.export_csv(s, dt.date(2026, 6, 1), dt.date(2026, 6, 30), LONDON)
        text, july = auditlog.export_csv(s, dt.date(2026, 7, 1), None, LONDON)
    assert (june, july) == (0, 1)
    assert "2026-07-01 00:30:00+01:00" in text and "2026-06-30T23:30:00+00:00" in text


def test_audit_export_command(sqlite_url: str, sqlite_engine: Engine, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    seed(sqlite_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "export", "--since", "2026-11-01", "--until", "2026-11-30"]) == 0
    out = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(out.out)))
    assert [r[4] for r in rows[1:]] == ["rating.change", "advice.given"]
    assert "2 audit entries exported" in out.err
    with session_scope(sqlite_engine) as s:
        entry = s.exec(select(AuditEntry).where(
            AuditEntry.action == "audit.exported")).scalar_one()
    assert entry.actor.startswith("cli")
    assert json.loads(entry.new_value or "{}") == {
        "since": "2026-11-01", "until": "2026-11-30", "entries": 2}
    # The export of everything now includes the first export, recorded after reading.
    assert main(["audit", "export"]) == 0
    assert "5 audit entries exported" in capsys.readouterr().err  # four, and the first export
    assert main(["audit", "export", "--until", "1 Dec"]) == 2
    assert "not a date" in capsys.readouterr().err
