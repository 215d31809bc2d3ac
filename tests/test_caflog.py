"""The CAF consultation log: filters, the CSV (columns, escaping, UTF-8, formula guard),
``frontdoor log export``, and ``/caflog`` end to end through the real Bolt app and the
fake Web API (refusal, the list, the filter modal, the export as a file in the DM).

Every name and contact here is made up.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.cli import main
from bot.flows.consultation import log as caflog
from bot.handlers.slack import caflog as slack_caflog
from bot.handlers.slack.blocks import caflog as caflog_blocks
from store import repo
from store.db import session_scope
from store.models import AuditEntry, Consultation
from tests.helpers import LONDON, at
from tests.slackenv import ADVISOR, MANAGER, OUTSIDER, SlackEnv, slack_env

TUESDAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)
REASON = 'We spoke to the family first, then the GP.\nThey said "wait a week".'
FORMULA = "=HYPERLINK(\"http://example.invalid\",\"click\")"


def add(s: Any, user: str, when: dt.datetime, *, name: str = "Ada Teacher",
        agency: str = "Education", contact: str = "", role: str = "Teacher",
        cats: tuple[str, ...] = ("neglect",), suggested: str = "early_help",
        advice: str | None = None, advisor: str | None = None, followed: bool | None = None,
        reason: str | None = None, linked: str | None = None, repeat: int = 1,
        platform: str = "slack") -> str:
    prof = repo.professional(s, user, name=name, agency=agency, contact=contact, role=role,
                             platform=platform)
    s.flush()
    ref = repo.next_reference(s, when)
    s.add(Consultation(
        reference=ref, professional_id=prof.id or 0, age_band="5-10", categories=list(cats),
        summary={"answers": {"worried": "A worry described in general terms only."}},
        suggested_outcome=suggested, advice_outcome=advice, advisor_user_id=advisor,
        advised_at=when + dt.timedelta(hours=1) if advice else None,
        status="advised" if advice else "open", followed_advice=followed,
        not_followed_reason=reason, linked_reference=linked, repeat_count=repeat,
        created_at=when, last_contact_at=when, platform=platform))
    s.flush()
    return ref


def seed(engine: Engine) -> dict[str, str]:
    """Five consultations over November 2026; returns their references by name."""
    with session_scope(engine, write=True) as s:
        r: dict[str, str] = {}
        r["first"] = add(s, "U0ZOE", at(2026, 11, 2, 9, 15), name="Zoë Ó Briain",
                         role="Designated safeguarding lead",
                         contact="zoe.obriain@school.example, ext 12",
                         advice="early_help", advisor=ADVISOR, followed=True)
        r["second"] = add(s, "U0HANK", at(2026, 11, 10, 14, 0), name='Hal "Hank" Visitor',
                          agency="Health", role="Health visitor", cats=("domestic_abuse",),
                          suggested="referral", advice="signpost", advisor="U0COORD",
                          followed=False, reason=REASON, linked=None)
        r["third"] = add(s, "U0ZOE", at(2026, 11, 17, 16, 30), name="Zoë Ó Briain",
                         cats=("neglect", "domestic_abuse"), suggested="referral",
                         linked=r["first"], repeat=2)
        r["fourth"] = add(s, "U0PAT", at(2026, 11, 24, 0, 0), name=FORMULA, agency="Police",
                          role="Police officer", cats=("missing",), suggested="referral",
                          advice="referral", advisor=ADVISOR, linked=r["third"], repeat=3,
                          followed=False, reason="-1 day late, @ the GP's request")
        r["after"] = add(s, "U0ZOE", at(2026, 12, 1, 0, 0), name="Zoë Ó Briain",
                         advice="advice_only", advisor=ADVISOR)
    return r


def refs(engine: Engine, f: caflog.LogFilter) -> list[str]:
    with session_scope(engine) as s:
        return [e.reference for e in caflog.iter_entries(s, f, LONDON)]


def test_filters(engine: Engine) -> None:
    r = seed(engine)
    every = [r["first"], r["second"], r["third"], r["fourth"], r["after"]]
    assert refs(engine, caflog.LogFilter()) == every
    # Whole local days, both ends included: 24 Nov 00:00 is in, 1 Dec 00:00 is not.
    nov = caflog.make_filter(since="2026-11-10", until="2026-11-30")
    assert refs(engine, nov) == [r["second"], r["third"], r["fourth"]]
    assert refs(engine, caflog.make_filter(until="2026-11-23")) == every[:3]
    assert refs(engine, caflog.make_filter(since="2026-11-24", until="2026-11-24")) == [
        r["fourth"]]
    # Outcome: the advisor's, or the suggestion until advised.
    assert refs(engine, caflog.make_filter(outcome="referral")) == [r["third"], r["fourth"]]
    assert refs(engine, caflog.make_filter(outcome="early_help")) == [r["first"]]
    assert refs(engine, caflog.make_filter(category="domestic_abuse")) == [
        r["second"], r["third"]]
    assert refs(engine, caflog.make_filter(agency="health")) == [r["second"]]
    assert refs(engine, caflog.make_filter(agency="Police")) == [r["fourth"]]  # a label too
    assert refs(engine, caflog.make_filter(advisor=ADVISOR)) == [
        r["first"], r["fourth"], r["after"]]
    # A mention is read by the Slack listener, which hands the log the plain user id.
    both = slack_caflog.parse(f"advisor:<@{ADVISOR}|dee.advisor> since:2026-11-03 "
                              "until:2026-11-30")
    assert refs(engine, both) == [r["fourth"]]
    with session_scope(engine) as s:
        shown, total = caflog.latest(s, caflog.LogFilter(), LONDON, limit=2)
    assert [e.reference for e in shown] == [r["after"], r["fourth"]] and total == 5


def test_filter_text_round_trips_and_refuses_nonsense() -> None:
    f = slack_caflog.parse(f"since:2026-11-01 until:2026-11-30 outcome:early_help "
                           f"category:neglect agency:education advisor:<@{ADVISOR}>")
    assert f == caflog.LogFilter(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "early_help",
                                 "neglect", "education", ADVISOR)
    assert caflog.parse_query(f.to_query()) == f
    assert caflog.parse_query("").is_empty()
    with pytest.raises(caflog.FilterError) as err:
        caflog.parse_query("since:30/11/2026 outcome:maybe colour:blue")
    assert len(err.value.problems) == 1  # the unknown key is reported first
    with pytest.raises(caflog.FilterError) as err:
        caflog.parse_query("since:30/11/2026 outcome:maybe category:nope agency:x advisor:bob")
    assert len(err.value.problems) == 5
    with pytest.raises(caflog.FilterError):
        caflog.make_filter(since="2026-12-01", until="2026-11-01")


def test_csv_columns_escaping_utf8_and_formula_guard(sqlite_engine: Engine) -> None:
    r = seed(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        text, count = caflog.export_csv(s, caflog.LogFilter(), LONDON)
    assert count == 5
    lines = text.split("\r\n")
    assert lines[0] == ",".join(caflog.HEADER)
    assert lines[0] == (
        "Reference,Received,Professional,Role,Agency,Contact,Age band,Categories,"
        "Suggested outcome,Given outcome,Advisor,Advised,Followed advice,Not followed reason,"
        "Linked references,Repeat count,Status,Advisor id,Professional id,Platform")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 6 and all(len(row) == len(caflog.HEADER) for row in rows)
    byref = {row[0]: dict(zip(caflog.HEADER, row, strict=True)) for row in rows[1:]}

    first = byref[r["first"]]
    assert first["Professional"] == "Zoë Ó Briain"  # UTF-8 kept
    assert first["Contact"] == "zoe.obriain@school.example, ext 12"
    assert first["Received"] == "2026-11-02 09:15:00+00:00"
    assert first["Followed advice"] == "yes" and first["Advisor id"] == ADVISOR
    assert '"zoe.obriain@school.example, ext 12"' in text  # a comma is quoted

    second = byref[r["second"]]
    assert second["Professional"] == 'Hal "Hank" Visitor'
    assert '"Hal ""Hank"" Visitor"' in text  # a quote is doubled inside quotes
    assert second["Not followed reason"] == REASON  # the line break survives, quoted
    assert second["Followed advice"] == "no"
    assert second["Suggested outcome"] == "Make a referral"
    assert second["Given outcome"] == "Signpost to universal or community services"

    third = byref[r["third"]]
    assert third["Categories"] == "Neglect; Domestic abuse"
    assert third["Given outcome"] == "" and third["Advised"] == "" and third["Status"] == "open"
    assert third["Linked references"] == r["first"] and third["Repeat count"] == "2"

    fourth = byref[r["fourth"]]
    assert fourth["Linked references"] == f"{r['third']}; {r['first']}"  # the whole chain
    assert fourth["Professional"] == "'" + FORMULA  # never run as a formula
    assert fourth["Not followed reason"] == "'-1 day late, @ the GP's request"
    assert fourth["Received"] == "2026-11-24 00:00:00+00:00"

    # Never a child's details: the consultation's own answers are not exported.
    assert "general terms" not in text
    data = caflog.excel_bytes(text)
    assert data.startswith(b"\xef\xbb\xbf") and data.decode("utf-8-sig") == text


def test_safe_cell() -> None:
    for bad in ("=1+1", "+44 1234", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert caflog.safe_cell(bad).startswith("'")
    assert caflog.safe_cell("Early help") == "Early help"
    assert caflog.safe_cell("a\x00b\x07c") == "abc"
    assert caflog.safe_cell(None) == "" and caflog.safe_cell(3) == "3"


def test_log_export_command(sqlite_url: str, sqlite_engine: Engine, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    r = seed(sqlite_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    assert main(["log", "export", "--since", "2026-11-10", "--until", "2026-11-30"]) == 0
    out = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(out.out)))
    assert rows[0] == list(caflog.HEADER)
    assert [row[0] for row in rows[1:]] == [r["second"], r["third"], r["fourth"]]
    assert "3 consultations exported" in out.err
    with session_scope(sqlite_engine) as s:
        entry = s.exec(select(AuditEntry).where(
            AuditEntry.action == "caflog.exported")).scalar_one()
    assert entry.actor.startswith("cli")
    assert json.loads(entry.new_value or "{}") == {
        "entries": 3, "filter": "since:2026-11-10 until:2026-11-30"}
    assert main(["log", "export", "--since", "10/11/2026"]) == 2
    assert "not a date" in capsys.readouterr().err


def test_log_message_escapes_what_people_typed() -> None:
    entry = caflog.LogEntry(
        id=1, reference="FD-2026-000001", received_at=TUESDAY, professional="<!channel> Ada",
        role="Teacher", agency="Education", contact="", professional_user_id="U0ADA",
        age_band="5-10", categories=("neglect",), suggested_outcome="early_help",
        given_outcome="signpost", advisor=ADVISOR, advised_at=TUESDAY, followed_advice=False,
        not_followed_reason="<@U0BOSS> said & so", linked_references=("FD-2026-000000",),
        repeat_count=2, status="advised")
    msg = caflog_blocks.log_message([entry], 12, caflog.LogFilter(), LONDON, TUESDAY)
    body = json.dumps(msg["blocks"])
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "&lt;@U0BOSS&gt; said &amp; so" in body
    assert f"<@{ADVISOR}>" in body  # the advisor is a real mention
    assert "newest 1 shown" in body and "12 consultations" in body
    buttons = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [caflog_blocks.FILTER, caflog_blocks.EXPORT]


# --------------------------------------------------------------------------- /caflog in Slack


def _audits(env: SlackEnv, action: str) -> list[AuditEntry]:
    with session_scope(env.bot.sv.engine) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action)).scalars())


async def _uploaded(env: SlackEnv, user: str) -> bytes:
    done = await env.fake.wait_for("files.completeUploadExternal",
                                   predicate=lambda c: c.ok and c.args.get("channel_id")
                                   == env.dm_id(user))
    file_id = done[-1].args["files"][0]["id"]
    content = env.fake.files[file_id].content
    assert content is not None
    return content


async def test_a_non_advisor_is_refused(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        seed(env.bot.sv.engine)
        for text in ("", "export"):
            d = await env.sender.slash_command(OUTSIDER, "/caflog", text)
            assert d.status == 200
        await env.fake.wait_for("chat.postEphemeral", count=2,
                                predicate=lambda c: c.args.get("user") == OUTSIDER)
        told = [m["text"] for m in env.fake.ephemerals_for(OUTSIDER)]
        assert told == [caflog_blocks.REFUSED] * 2
        assert "FD-2026" not in json.dumps(env.fake.ephemerals_for(OUTSIDER))
        denied = _audits(env, "denied.caflog")
        assert [(a.actor, a.subject_id) for a in denied] == [(OUTSIDER, "view"),
                                                             (OUTSIDER, "export")]
        assert not env.fake.calls_to("files.getUploadURLExternal")


async def test_an_advisor_reads_filters_and_exports_the_log(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        r = seed(env.bot.sv.engine)
        dm = env.dm_id(ADVISOR)
        await env.sender.slash_command(ADVISOR, "/caflog")
        await env.fake.wait_for("chat.postEphemeral",
                                predicate=lambda c: c.args.get("user") == ADVISOR)
        shown = env.fake.ephemerals_for(ADVISOR)[-1]
        body = json.dumps(shown["blocks"], ensure_ascii=False)
        assert all(ref in body for ref in r.values())
        assert "Zoë Ó Briain" in body and "5 consultations" in shown["text"]
        assert _audits(env, "caflog.viewed")[0].actor == ADVISOR

        # Filter… opens the modal; submitting it shows the filtered list.
        d = await env.sender.block_action(ADVISOR, caflog_blocks.FILTER, "", channel_id=dm,
                                          message=shown)
        assert d.status == 200
        view = (await env.fake.wait_for("views.open"))[-1].args["view"]
        assert view["callback_id"] == caflog_blocks.MODAL
        d = await env.sender.view_submission(ADVISOR, view, {
            caflog_blocks.IN_SINCE[1]: "2026-11-10", caflog_blocks.IN_UNTIL[1]: "2026-11-30",
            caflog_blocks.IN_OUTCOME[1]: "referral"})
        assert d.status == 200
        await env.fake.wait_for("chat.postEphemeral", count=2,
                                predicate=lambda c: c.args.get("user") == ADVISOR)
        filtered = env.fake.ephemerals_for(ADVISOR)[-1]
        text = json.dumps(filtered["blocks"], ensure_ascii=False)
        headings = [ref for ref in r.values() if f"*{ref}*" in text]
        assert headings == [r["third"], r["fourth"]]
        export = next(e for b in filtered["blocks"] if b["type"] == "actions"
                      for e in b["elements"] if e["action_id"] == caflog_blocks.EXPORT)
        assert export["value"] == "since:2026-11-10 until:2026-11-30 outcome:referral"

        # A modal with the dates the wrong way round is refused in the modal.
        d = await env.sender.view_submission(ADVISOR, view, {
            caflog_blocks.IN_SINCE[1]: "2026-11-30", caflog_blocks.IN_UNTIL[1]: "2026-11-01"})
        # ... in the words of the modal's own labels (From, To), not the query's keys.
        assert d.json() == {"response_action": "errors", "errors": {
            caflog_blocks.IN_UNTIL[0]: "From: must not be after To"}}

        # Export CSV sends the filtered log to the advisor's DM as a file.
        d = await env.sender.block_action(ADVISOR, caflog_blocks.EXPORT, export["value"],
                                          channel_id=dm, message=filtered)
        assert d.status == 200
        content = await _uploaded(env, ADVISOR)
        assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM for spreadsheets
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert rows[0] == list(caflog.HEADER)
        assert [row[0] for row in rows[1:]] == [r["third"], r["fourth"]]
        message = env.fake.history(dm)[-1]
        assert message["files"][0]["name"] == "caf-consultation-log-2026-11-10-to-2026-11-30.csv"
        assert "2 consultations" in message["text"]
        exported = _audits(env, "caflog.exported")
        assert [(a.actor, json.loads(a.new_value or "{}")["entries"]) for a in exported] == [
            (ADVISOR, 2)]


async def test_a_manager_exports_with_the_slash_command(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        r = seed(env.bot.sv.engine)
        await env.sender.slash_command(MANAGER, "/caflog", "export category:domestic_abuse")
        content = await _uploaded(env, MANAGER)
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert [row[0] for row in rows[1:]] == [r["second"], r["third"]]
        assert rows[1][caflog.HEADER.index("Not followed reason")] == REASON
        # A typo in a filter is explained privately, and nothing is exported.
        await env.sender.slash_command(MANAGER, "/caflog", "since:yesterday")
        await env.fake.wait_for("chat.postEphemeral",
                                predicate=lambda c: c.args.get("user") == MANAGER)
        assert "not a date" in env.fake.ephemerals_for(MANAGER)[-1]["text"]
        assert len(env.fake.calls_to("files.completeUploadExternal")) == 1
