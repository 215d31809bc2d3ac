"""The CAF consultation log's CSV says things in the words people use: outcomes,
categories, agencies and age bands by their labels (the same ones the bot shows),
the advisor by name, and the user ids in their own columns at the end with the
platform they are on, so that the earlier columns keep their places. Through
``frontdoor log export``.

Every name here is made up.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.cli import main
from bot.flows.consultation import log as caflog
from bot.flows.guided.rules import CATEGORIES
from bot.handlers.slack.blocks.cards import OUTCOME_LABELS
from store import repo
from store.db import session_scope
from tests.slackenv import ADVISOR
from tests.test_caflog import add, at

TEAMS_PRO = "5b9d3c1e-2f4a-4e6b-8c0d-7a1e3f5b9c2d"  # a made-up Entra object id


def test_the_csv_uses_labels_and_keeps_ids_apart(
        sqlite_url: str, sqlite_engine: Engine, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with session_scope(sqlite_engine, write=True) as s:
        repo.professional(s, ADVISOR, name="Dee Advisor", role="Duty advisor")  # recorded
        ref = add(s, "U0ADA", at(2026, 11, 2, 9, 0), name="Ada Teacher", agency="education",
                  cats=("neglect", "parental_mental_health"), suggested="early_help",
                  advice="signpost", advisor=ADVISOR, followed=True)
        unknown = add(s, "U0BEN", at(2026, 11, 3, 9, 0), name="Ben Nurse", agency="Health",
                      suggested="advice_only", advice="lado", advisor="U0STRANGER")
        on_teams = add(s, TEAMS_PRO, at(2026, 11, 4, 9, 0), name="Cy Nurse", agency="Health",
                       suggested="advice_only", platform="teams")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("FRONTDOOR_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["log", "export"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["Reference", "Received", "Professional"]
    assert rows[0][-3:] == ["Advisor id", "Professional id", "Platform"]
    byref = {row[0]: dict(zip(caflog.HEADER, row, strict=True)) for row in rows[1:]}

    ada = byref[ref]
    assert ada["Suggested outcome"] == "Start an Early Help Assessment (with consent)"
    assert ada["Given outcome"] == "Signpost to universal or community services"
    assert ada["Categories"] == "Neglect; Parental mental health"
    assert ada["Agency"] == "Education"
    assert ada["Age band"] == "5–10"  # the label's en dash: not read as a date
    assert ada["Advisor"] == "Dee Advisor" and ada["Advisor id"] == ADVISOR
    assert ada["Professional"] == "Ada Teacher" and ada["Professional id"] == "U0ADA"
    assert ada["Platform"] == "slack"

    ben = byref[unknown]
    assert ben["Given outcome"] == "Refer to the LADO"
    # An advisor the bot has no name for: the id is still there, in its own column.
    assert ben["Advisor"] == "" and ben["Advisor id"] == "U0STRANGER"
    # An entry from Teams: its id, and the platform it is on.
    cy = byref[on_teams]
    assert (cy["Professional id"], cy["Platform"]) == (TEAMS_PRO, "teams")

    # No stored key where people read words: only the id columns hold codes.
    codes = set(OUTCOME_LABELS) | set(CATEGORIES) | {"education", "5-10"}
    for row in rows[1:]:
        words = dict(zip(caflog.HEADER, row, strict=True))
        for column, value in words.items():
            if not column.endswith(" id") and column != "Platform":
                assert value not in codes and "_" not in value, (column, value)
                assert not any(part in codes for part in value.split("; ")), (column, value)
