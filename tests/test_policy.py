"""The authority policy: bundled files, validation messages, `frontdoor policy check`."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.policy import PolicyError, bundled_policies, load_policy, parse_duration, parse_policy

ROOT = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")


def _camden() -> dict:
    return yaml.safe_load((ROOT / "bot/policies/camden.yaml").read_text(encoding="utf-8"))


def _problems(data: dict) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    return info.value.problems


def _check(tmp_path: Path, data: dict | str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "policy.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "policy", "check", str(path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )


def test_bundled_policies_are_valid() -> None:
    assert {"camden", "cambridgeshire"} <= set(bundled_policies())
    camden = load_policy("camden")
    cambs = load_policy("cambridgeshire")
    assert camden.clock("written_confirmation").duration.total_seconds() == 48 * 3600
    assert cambs.clock("written_confirmation").duration.total_seconds() == 24 * 3600
    assert cambs.office_hours["friday"] == "08:45-16:20"
    assert load_policy().authority == cambs.authority  # Cambridgeshire is the default


def test_policy_check_cli_ok() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "policy", "check", "bot/policies/camden.yaml"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_negative_duration_is_named(tmp_path: Path) -> None:
    data = _camden()
    data["clocks"]["red"]["duration"] = "-4h"
    assert "clocks.red.duration: must be a positive duration" in _problems(data)
    out = _check(tmp_path, data)
    assert out.returncode == 1
    assert "clocks.red.duration: must be a positive duration" in out.stderr


def test_unknown_weekday_is_named(tmp_path: Path) -> None:
    data = _camden()
    data["office_hours"]["funday"] = "09:00-17:00"
    out = _check(tmp_path, data)
    assert out.returncode == 1
    assert "office_hours: funday: unknown weekday" in out.stderr


def test_missing_channel_is_named(tmp_path: Path) -> None:
    data = _camden()
    del data["slack"]["channels"]["escalation"]
    out = _check(tmp_path, data)
    assert out.returncode == 1
    assert "slack.channels.escalation: is required" in out.stderr


def test_every_problem_is_listed_at_once() -> None:
    data = _camden()
    data["clocks"]["green"]["basis"] = "fortnightly"
    data["nation"] = "atlantis"
    data["slack"]["channels"]["edt"] = "not-a-channel"
    data["slack"]["roles"]["managers"] = {"users": [], "usergroups": []}
    problems = "\n".join(_problems(data))
    for field in ("clocks.green.basis", "nation", "slack.channels.edt", "slack.roles"):
        assert field in problems, problems


def test_working_day_clocks_need_whole_days() -> None:
    data = _camden()
    data["clocks"]["green"]["duration"] = "36h"
    assert any("whole days" in p for p in _problems(data))


def test_unreadable_or_bad_yaml(tmp_path: Path) -> None:
    assert _check(tmp_path, "authority: [unclosed").returncode == 1
    out = subprocess.run([sys.executable, "-m", "bot.cli", "policy", "check", "nope.yaml"],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 1 and "cannot read" in out.stderr


@pytest.mark.parametrize("text,hours", [("4h", 4), ("1h30m", 1.5), ("3d", 72), ("2w", 336)])
def test_durations(text: str, hours: float) -> None:
    assert parse_duration(text).total_seconds() == hours * 3600


@pytest.mark.parametrize("bad", ["0h", "-1h", "soon", "", "4", "h"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_cambridgeshire_three_working_days_over_christmas() -> None:
    """Green (3 working days) from Thursday 24 Dec 2026 15:00 skips Christmas Day (Fri 25)
    and Boxing Day observed (Mon 28): Tue 29, Wed 30, Thu 31 -> Thursday 31 Dec 15:00.
    It lands after New Year's Day only where the council also closes 29-31 Dec."""
    cambs = load_policy("cambridgeshire")
    spec = cambs.clock("green")
    start = datetime(2026, 12, 24, 15, 0, tzinfo=LONDON)
    due = cambs.calendar.due(start, spec.duration, spec.basis)
    assert due == datetime(2026, 12, 31, 15, 0, tzinfo=LONDON)
    for holiday in (25, 28):
        assert not cambs.calendar.is_working_day(datetime(2026, 12, holiday).date())
    data = yaml.safe_load((ROOT / "bot/policies/cambridgeshire.yaml").read_text())
    data["closures"] = ["2026-12-29", "2026-12-30", "2026-12-31"]
    closed = parse_policy(data)
    due = closed.calendar.due(start, spec.duration, spec.basis)
    assert due == datetime(2027, 1, 6, 15, 0, tzinfo=LONDON)  # after New Year's Day (Fri 1 Jan)


def test_cambridgeshire_red_runs_through_the_weekend() -> None:
    cambs = load_policy("cambridgeshire")
    spec = cambs.clock("red")
    friday = datetime(2026, 11, 27, 16, 10, tzinfo=LONDON)  # 10 min before the Friday close
    due = cambs.calendar.due(friday, spec.duration, spec.basis)
    assert due == datetime(2026, 11, 27, 20, 10, tzinfo=LONDON)  # wall clock: 4 real hours
    saturday = datetime(2026, 11, 28, 22, 0, tzinfo=LONDON)
    assert cambs.calendar.due(saturday, spec.duration, spec.basis) == datetime(
        2026, 11, 29, 2, 0, tzinfo=LONDON)
    assert not cambs.calendar.is_open(due)  # the EDT's hours, not the MASH's


@pytest.mark.parametrize(("pattern", "example", "expected"), [
    ("(EHM", "EHM-20417", "caf.reference_pattern: not a regular expression"),
    ("[A-Z0-9-]+", "EHM-20417", "caf.reference_pattern: accepts name-like text"),
    ("[0-9]{4,10}", "EHM-20417", "reference_example does not match reference_pattern"),
])
def test_the_reference_shape_is_checked_at_load(pattern: str, example: str,
                                                expected: str) -> None:
    data = _camden()
    data["caf"]["reference_pattern"], data["caf"]["reference_example"] = pattern, example
    assert any(expected in p for p in _problems(data)), _problems(data)


def test_a_policy_without_a_reference_shape_gets_the_default() -> None:
    data = _camden()
    del data["caf"]["reference_pattern"], data["caf"]["reference_example"]
    caf = parse_policy(data).caf
    assert caf.reference_matches("ehm-20417") and caf.reference_matches("20417")
    assert not caf.reference_matches("OLIVIA2017")


TEAMS_CHANNEL = "19:a1b2c3d4e5f6@thread.tacv2"
ENTRA_USER = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
ENTRA_GROUP = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def _teams(channel: str = TEAMS_CHANNEL, user: str = ENTRA_USER) -> dict[str, object]:
    keys = ("consultation_duty", "mash_managers", "early_help_duty", "escalation", "edt")
    return {"channels": dict.fromkeys(keys, channel),
            "roles": {"managers": {"users": [user]}, "advisors": {"usergroups": [ENTRA_GROUP]}}}


def test_the_policy_names_people_and_channels_per_platform() -> None:
    data = _camden()
    data["teams"] = _teams()
    policy = parse_policy(data)
    assert policy.platforms == ("slack", "teams")
    assert policy.channel("edt") == data["slack"]["channels"]["edt"]  # the first named
    assert policy.channel("edt", "teams") == TEAMS_CHANNEL
    assert policy.people("teams").roles.managers.users == (ENTRA_USER,)
    # A file written before Teams (channels and roles at the top) is read as Slack's.
    old = _camden()
    old.update(old.pop("slack"))
    assert parse_policy(old).channel("edt") == policy.channel("edt")


def test_each_platform_checks_its_own_id_shapes() -> None:
    data = _camden()
    data["teams"] = _teams(channel="C0MASHMGR", user="U0MANAGER")  # Slack's ids in Teams
    data["slack"]["channels"]["edt"] = TEAMS_CHANNEL  # and a Teams id in Slack
    problems = "\n".join(_problems(data))
    for where in ("teams.channels.edt", "teams.roles.managers.users", "slack.channels.edt"):
        assert where in problems, problems
    data = _camden()
    del data["slack"]
    assert any("at least one" in p for p in _problems(data))
