"""``/caflog`` free-text search: a word that is not a ``key:value`` filter searches the
log's free text (the professional's answers, the advice, the reason not followed),
case-insensitively; several words must all appear; combined with the filters. On
SQLite and PostgreSQL, and through the real Bolt app. A word the no-names guard reads
as identifying is refused without being echoed; the audit holds how many words were
searched, never which.

Every name here is made up.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.flows.consultation import log as caflog
from store.db import session_scope
from store.models import AuditEntry, Consultation
from tests.slackenv import ADVISOR, MANAGER, slack_env
from tests.test_caflog import TUESDAY, add, at, refs

ANSWERS = {
    "school": {"worried": "Attendance has dropped since half term; the café job ended."},
    "rent": {"worried": "Rent arrears and a letter about eviction.", "tried": ["GP visit"]},
    "both": {"worried": "School ATTENDANCE is poor and rent is late."},
    "plain": {"worried": "A worry described in general terms only."},
}


def seed(engine: Engine) -> dict[str, str]:
    """Four consultations whose texts differ; returns their references by name."""
    r: dict[str, str] = {}
    with session_scope(engine, write=True) as s:
        r["school"] = add(s, "U0ZOE", at(2026, 11, 2, 9, 0), suggested="early_help")
        r["rent"] = add(s, "U0HANK", at(2026, 11, 10, 9, 0), agency="Health",
                        suggested="referral", advice="signpost", advisor=ADVISOR,
                        followed=False, reason="They chose the housing team instead.")
        r["both"] = add(s, "U0ZOE", at(2026, 11, 17, 9, 0), suggested="referral")
        r["plain"] = add(s, "U0PAT", at(2026, 11, 20, 9, 0), suggested="referral",
                         advice="referral", advisor=ADVISOR)
        for name, ref in r.items():
            c = s.exec(select(Consultation).where(Consultation.reference == ref)).scalar_one()
            c.summary = {"answers": ANSWERS[name], "suggestion": {"headline": "Attendance"}}
            if name == "plain":
                c.advice_text = "Ask the school nurse about attendance support."
            s.add(c)
    return r


def test_words_search_the_free_text_on_both_databases(engine: Engine) -> None:
    r = seed(engine)
    q = caflog.parse_query
    # The answers, the advice given and the reason not followed; any case.
    assert refs(engine, q("attendance")) == [r["school"], r["both"], r["plain"]]
    assert refs(engine, q("Eviction")) == [r["rent"]]
    assert refs(engine, q("housing")) == [r["rent"]]  # the reason advice was not followed
    assert refs(engine, q("gp")) == [r["rent"]]  # inside a list of answers
    assert refs(engine, q("café")) == [r["school"]]  # non-ASCII, stored escaped or not
    # Several words: all must appear (in any of the texts).
    assert refs(engine, q("attendance rent")) == [r["both"]]
    assert refs(engine, q("attendance eviction")) == []
    # Combined with the filters.
    assert refs(engine, q("attendance outcome:referral")) == [r["both"], r["plain"]]
    assert refs(engine, q(f"since:2026-11-03 attendance advisor:{ADVISOR}")) == [r["plain"]]
    # The suggestion is the bot's own words, not the log's free text.
    assert refs(engine, q("headline")) == []


def test_the_query_round_trips_and_a_name_is_refused_unechoed() -> None:
    f = caflog.parse_query("Attendance since:2026-11-01 RENT attendance")
    assert f.words == ("attendance", "rent") and not f.is_empty()
    assert f.to_query() == "since:2026-11-01 attendance rent"
    assert caflog.parse_query(f.to_query()) == f  # the buttons carry it
    assert f.to_query(words=False) == "since:2026-11-01"
    assert f.describe() == 'from 1 Nov 2026 · containing "attendance" and "rent"'
    with pytest.raises(caflog.FilterError) as err:
        caflog.parse_query("attendance Jayden colour:blue")
    shown = " ".join(err.value.problems)
    assert "Jayden" not in shown and "jayden" not in shown
    assert "word 3: filters are" in shown  # an unknown key is still a typo, not a search
    with pytest.raises(caflog.FilterError) as err:
        caflog.parse_query("Jayden")
    assert err.value.problems == ["search word 1 could identify someone, and the log holds no "
                                  "names: search for what the worry is about (e.g. attendance)"]


async def test_caflog_attendance_in_slack(tmp_path: Path) -> None:
    async with slack_env(f"sqlite:///{tmp_path / 'frontdoor.db'}", start=TUESDAY) as env:
        r = seed(env.bot.sv.engine)
        d = await env.sender.slash_command(ADVISOR, "/caflog", "attendance")
        assert d.status == 200
        await env.fake.wait_for("chat.postEphemeral",
                                predicate=lambda c: c.args.get("user") == ADVISOR)
        shown = env.fake.ephemerals_for(ADVISOR)[-1]
        body = json.dumps(shown["blocks"], ensure_ascii=False)
        assert [n for n, ref in r.items() if f"*{ref}*" in body] == ["school", "both", "plain"]
        assert "3 consultations" in shown["text"]
        assert 'containing \\"attendance\\"' in body  # said back privately, to the searcher
        export = next(e for b in shown["blocks"] if b["type"] == "actions"
                      for e in b["elements"] if e["value"] == "attendance")
        assert export  # the buttons keep the search

        await env.sender.slash_command(MANAGER, "/caflog", "export rent attendance")
        done = await env.fake.wait_for("files.completeUploadExternal",
                                       predicate=lambda c: c.ok)
        content = env.fake.files[done[-1].args["files"][0]["id"]].content or b""
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert [row[0] for row in rows[1:]] == [r["both"]]

        with session_scope(env.bot.sv.engine) as s:
            audits = list(s.exec(select(AuditEntry).where(
                AuditEntry.action.in_(("caflog.viewed", "caflog.exported")))).scalars())  # type: ignore[attr-defined]
        assert [json.loads(a.new_value or "{}") for a in audits] == [
            {"filter": "", "entries": 3, "search_words": 1},
            {"filter": "", "entries": 1, "search_words": 2}]
        assert not any("attendance" in (a.new_value or "") for a in audits)
