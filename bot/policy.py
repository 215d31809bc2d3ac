"""The authority policy: everything local, as a validated YAML file.

Ratings and their clocks, office hours, bank-holiday nation, channels, phone
numbers, roles, suspended referral types, CAF meeting cadences and retention
differ between authorities, so they are data (DESIGN.md, principle 6). A
problem in the file is reported with its path (``clocks.red.duration: must be a
positive duration``) so that the council's IT team can fix it without reading
Python.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as Time
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.calendar import NATIONS, Basis, WorkingCalendar

DEFAULT_POLICY = "cambridgeshire"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RATINGS = ("red", "amber_sh", "amber_cin", "green", "blue")
CHANNEL_KEYS = ("consultation_duty", "mash_managers", "early_help_duty", "escalation", "edt")

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([ywdhm])\s*)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([ywdhm])")
_UNIT = {
    "y": timedelta(days=365),
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
}


class PolicyError(ValueError):
    """A policy file that cannot be used; ``problems`` lists ``path: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_duration(value: Any) -> timedelta:
    """Parse ``"4h"``, ``"3d"``, ``"1h30m"``, ``"6w"``, ``"6y"`` into a positive timedelta."""
    if isinstance(value, timedelta):
        td = value
    elif isinstance(value, str) and _DURATION.match(value):
        td = sum(
            (float(n) * _UNIT[u] for n, u in _PART.findall(value)), start=timedelta()
        )
    else:
        raise ValueError("must be a positive duration")
    if td <= timedelta():
        raise ValueError("must be a positive duration")
    return td


def format_duration(td: timedelta) -> str:
    """Format a duration the way the policy file writes it (``"4h"``, ``"3d"``)."""
    minutes = int(td.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return "".join(parts) or "0m"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clock(_Strict):
    """One SLA clock: how long, and how time is counted."""

    duration: timedelta
    basis: Basis
    warn_at: tuple[float, ...] | None = None
    source: str = ""

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        return parse_duration(v)

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is not None and any(not 0 < f < 1 for f in v):
            raise ValueError("warnings are fractions between 0 and 1")
        return tuple(sorted(v)) if v is not None else None

    @model_validator(mode="after")
    def _whole_days(self) -> Clock:
        if self.basis == Basis.WORKING_DAYS and (
            self.duration.seconds or self.duration.microseconds
        ):
            raise ValueError("duration: working days must be whole days (e.g. 3d)")
        return self


class Clocks(_Strict):
    """The clocks every authority has; ``extra`` holds local ones."""

    contact_decision: Clock
    red: Clock
    amber_sh: Clock
    amber_cin: Clock
    green: Clock
    strategy_discussion: Clock
    written_confirmation: Clock
    lado: Clock
    sw_visit: Clock


class Rating(_Strict):
    """A BRAG rating: what it means, where its card goes, which clock runs."""

    label: str
    meaning: str
    emoji: str = ""
    card_channel: Literal["mash_managers", "early_help_duty"]
    route: str
    clock: str | None
    edt_out_of_hours: bool = False
    consent: str


# Each platform's own id shapes: a policy naming a person or a channel the platform could
# not have is refused at start, with the path of the bad value.
ID_SHAPES: dict[str, dict[str, tuple[str, str]]] = {
    "slack": {
        "channel": (r"[CGD][A-Z0-9]{2,}", "a Slack channel ID (C and capitals/digits)"),
        "user": (r"[UW][A-Z0-9]{2,}", "a Slack user ID (U and capitals/digits)"),
        "group": (r"S[A-Z0-9]{2,}", "a Slack user-group ID (S and capitals/digits)"),
    },
    "teams": {
        "channel": (r"19:[A-Za-z0-9_.=-]+@thread\.(?:tacv2|skype|v2)",
                    "a Teams channel id (19:...@thread.tacv2)"),
        "user": (r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}",
                 "an Entra object id (a GUID)"),
        # A team whose members hold the role: its id, or its Entra group id.
        "group": (r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
                  r"|19:[A-Za-z0-9_.=-]+@thread\.(?:tacv2|skype|v2)",
                  "a team's id (19:...@thread.tacv2) or its Entra group id (a GUID)"),
    },
}


# What each platform calls a person's id, and one of that shape: the words that refuse a
# wrong id show the example, never what was typed (it may be a name).
ID_EXAMPLES: dict[str, dict[str, tuple[str, str]]] = {
    "slack": {"user": ("a Slack user ID", "U0123ABCD")},
    "teams": {"user": ("an Entra object id", "3f2504e0-4f89-41d3-9a0c-0305e82c3301")},
}


def id_fits(platform: str, kind: str, value: str | None) -> bool:
    """Whether ``value`` has the shape of a ``kind`` id (``user``...) on ``platform``."""
    pattern, _ = ID_SHAPES[platform][kind]
    return re.fullmatch(pattern, value or "") is not None


def id_example(platform: str, kind: str = "user") -> tuple[str, str]:
    """What ``platform`` calls a ``kind`` id, and an example of one."""
    return ID_EXAMPLES[platform][kind]


def _shaped(platform: str, kind: str, value: str) -> str:
    pattern, what = ID_SHAPES[platform][kind]
    if not re.fullmatch(pattern, value or ""):
        raise ValueError(f"{value!r} is not {what}")
    return value


class Channels(_Strict):
    """The conversations the bot posts to, by their role (ids of one platform)."""

    consultation_duty: str
    mash_managers: str
    early_help_duty: str
    escalation: str
    edt: str


class SlackChannels(Channels):
    """Slack channel IDs."""

    @field_validator("*")
    @classmethod
    def _channel_id(cls, v: str) -> str:
        return _shaped("slack", "channel", v)


class TeamsChannels(Channels):
    """Teams channel (conversation) ids of the front door's team."""

    @field_validator("*")
    @classmethod
    def _channel_id(cls, v: str) -> str:
        return _shaped("teams", "channel", v)


class Phones(_Strict):
    """Numbers shown to professionals."""

    emergency: str = "999"
    front_door: str
    edt: str
    early_help: str | None = None


class Role(_Strict):
    """Who holds a role: people and/or groups, by one platform's ids."""

    users: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()  # Slack user groups; Entra groups in Teams


class SlackRole(Role):
    """Slack user IDs and user-group IDs."""

    @field_validator("users")
    @classmethod
    def _users(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_shaped("slack", "user", u) for u in v)

    @field_validator("usergroups")
    @classmethod
    def _groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_shaped("slack", "group", g) for g in v)


class TeamsRole(Role):
    """Entra object ids of people and of groups."""

    @field_validator("users")
    @classmethod
    def _users(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_shaped("teams", "user", u) for u in v)

    @field_validator("usergroups")
    @classmethod
    def _groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_shaped("teams", "group", g) for g in v)


class Roles(_Strict):
    """Who may decide (managers) and who may advise (advisors)."""

    managers: Role
    advisors: Role

    @model_validator(mode="after")
    def _someone(self) -> Roles:
        for name in ("managers", "advisors"):
            role: Role = getattr(self, name)
            if not role.users and not role.usergroups:
                raise ValueError(f"{name}: name at least one user or user group")
        return self


class SlackRoles(Roles):
    managers: SlackRole
    advisors: SlackRole


class TeamsRoles(Roles):
    managers: TeamsRole
    advisors: TeamsRole


class People(_Strict):
    """One platform's channels and role holders."""

    channels: Channels
    roles: Roles


class SlackPeople(People):
    channels: SlackChannels
    roles: SlackRoles


class TeamsPeople(People):
    channels: TeamsChannels
    roles: TeamsRoles


class SuspendedType(_Strict):
    """A referral type the front door does not take, and where to go instead."""

    id: str
    label: str
    keywords: tuple[str, ...] = Field(min_length=1)
    redirect: str


# The council's EHM reference shape when the policy names none: the case system's
# number, optionally after EHM or CAF (``EHM-20417``, ``CAF20417``, ``20417``).
DEFAULT_REFERENCE_PATTERN = r"(?:(?:EHM|CAF)-?)?[0-9]{1,10}"
# Fictional name-like values a reference pattern must refuse: a pattern that lets
# them through would let a child's name into the audit trail, which is never purged.
NAME_LIKE_REFERENCES = ("JAYDEN-SMITH", "ZEPHYRINE-QUARTERMAINE", "QUARTERMAINE-2017",
                        "SMITH-14032017", "OLIVIA2017", "CB2-8QX")


class Caf(_Strict):
    """CAF / Team Around the Child cadences, and the shape of the council's EHM reference."""

    first_meeting_within: timedelta
    meeting_interval: timedelta
    reassess_after: timedelta
    # How long a CAF manager has to quality assure an assessment marked complete (Barnet
    # process map 1P-1Q gives no timescale): a reminder in the CAF team's channel then.
    qa_within: timedelta = timedelta(days=5)
    # An overdue-TAC nudge nobody answered is repeated this often, and after this many
    # nudges the co-ordinator and the escalation channel are told it is being ignored.
    tac_nudge_every: timedelta = timedelta(weeks=1)
    tac_nudge_escalate_after: int = Field(default=2, ge=1)
    # A regular expression the whole upper-cased reference must match, and an example
    # of it for the error message (the typed value is never echoed).
    reference_pattern: str = DEFAULT_REFERENCE_PATTERN
    reference_example: str = "EHM-20417"

    @field_validator("first_meeting_within", "meeting_interval", "reassess_after",
                     "qa_within", "tac_nudge_every", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        return parse_duration(v)

    @field_validator("reference_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        accepted = [n for n in NAME_LIKE_REFERENCES if compiled.fullmatch(n)]
        if accepted:
            raise ValueError(f"accepts name-like text such as {accepted[0]!r}: a reference is "
                             "the case system's number (e.g. EHM-?[0-9]{4,10})")
        return v

    @model_validator(mode="after")
    def _example_fits(self) -> Caf:
        if not self.reference_matches(self.reference_example):
            raise ValueError("reference_example does not match reference_pattern")
        return self

    def reference_matches(self, ref: str) -> bool:
        """Whether ``ref`` (trimmed, upper-cased) has the council's reference shape."""
        return re.fullmatch(self.reference_pattern, ref.strip().upper()) is not None


class Flows(_Strict):
    """How the guided conversations behave."""

    timeout: timedelta = timedelta(hours=24)
    repeat_consultation_threshold: int = Field(default=3, ge=2)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> timedelta:
        return parse_duration(v)


class Report(_Strict):
    """When the weekly figures are posted."""

    weekday: str = "monday"
    time: Time = Time(9, 0)

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, v: str) -> str:
        if v.lower() not in WEEKDAYS:
            raise ValueError(f"unknown weekday {v!r}")
        return v.lower()


@dataclass(frozen=True)
class ClockSpec:
    """A resolved clock: name, duration, basis and warning fractions."""

    name: str
    duration: timedelta
    basis: Basis
    warn_at: tuple[float, ...]


class Policy(_Strict):
    """One authority's rules, loaded from YAML and validated."""

    authority: str
    timezone: str = "Europe/London"
    nation: str
    closures: tuple[date, ...] = ()
    office_hours: dict[str, str | None]
    clocks: Clocks
    warn_at: tuple[float, ...] = (0.5, 0.8)
    ratings: dict[str, Rating]
    # Channels and role holders per chat platform (a council runs one, or both during a
    # move); the first one named is where the bot posts when nothing says otherwise.
    slack: SlackPeople | None = None
    teams: TeamsPeople | None = None
    phones: Phones
    suspended_types: tuple[SuspendedType, ...] = ()
    caf: Caf
    flows: Flows = Flows()
    retention: timedelta
    report: Report = Report()
    snooze_options: tuple[timedelta, ...] = (
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=2),
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("nation")
    @classmethod
    def _nation(cls, v: str) -> str:
        if v not in NATIONS:
            raise ValueError(f"must be one of {', '.join(NATIONS)}")
        return v

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        problems = []
        for day, span in v.items():
            if day.lower() not in WEEKDAYS:
                problems.append(f"{day}: unknown weekday")
            elif span is not None and _span(span) is None:
                problems.append(f"{day}: must be like 08:45-17:20 (opens before it closes)")
        if problems:
            raise ValueError("; ".join(problems))
        if not any(s for s in v.values()):
            raise ValueError("at least one weekday must have office hours")
        return {k.lower(): s for k, s in v.items()}

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f < 1 for f in v):
            raise ValueError("warnings are fractions between 0 and 1")
        return tuple(sorted(v))

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, v: Any) -> timedelta:
        return parse_duration(v)

    @field_validator("snooze_options", mode="before")
    @classmethod
    def _snoozes(cls, v: Any) -> tuple[timedelta, ...]:
        return tuple(parse_duration(x) for x in v)

    @field_validator("ratings")
    @classmethod
    def _ratings(cls, v: dict[str, Rating]) -> dict[str, Rating]:
        missing = [r for r in RATINGS if r not in v]
        unknown = [r for r in v if r not in RATINGS]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown {', '.join(unknown)}")
            raise ValueError(f"ratings must be exactly {', '.join(RATINGS)} ({'; '.join(parts)})")
        return v

    @model_validator(mode="before")
    @classmethod
    def _slack_at_top(cls, data: Any) -> Any:
        # Files written before Teams name Slack's channels and roles at the top level.
        if isinstance(data, dict) and ("channels" in data or "roles" in data):
            data = dict(data)
            if "slack" in data:
                raise ValueError("channels/roles: put them under slack: (they are Slack's)")
            data["slack"] = {"channels": data.pop("channels", None),
                             "roles": data.pop("roles", None)}
        return data

    @model_validator(mode="after")
    def _a_platform(self) -> Policy:
        if not self.platforms:
            raise ValueError("slack/teams: name the channels and roles of at least one")
        return self

    @model_validator(mode="after")
    def _rating_clocks(self) -> Policy:
        names = set(Clocks.model_fields)
        for key, rating in self.ratings.items():
            if rating.clock is not None and rating.clock not in names:
                raise ValueError(f"ratings.{key}.clock: no clock named {rating.clock!r}")
        return self

    # --- derived values -------------------------------------------------

    @cached_property
    def tz(self) -> ZoneInfo:
        """The authority's time zone."""
        return ZoneInfo(self.timezone)

    @cached_property
    def calendar(self) -> WorkingCalendar:
        """The working-time calendar built from office hours, nation and closures."""
        hours: dict[int, tuple[Time, Time] | None] = {}
        for day, span in self.office_hours.items():
            hours[WEEKDAYS.index(day)] = _span(span) if span else None
        return WorkingCalendar(hours, nation=self.nation, closures=self.closures, tz=self.timezone)

    def clock(self, name: str) -> ClockSpec:
        """The named clock with its warning fractions resolved."""
        c: Clock = getattr(self.clocks, name)
        warn_at = c.warn_at if c.warn_at is not None else self.warn_at
        return ClockSpec(name, c.duration, c.basis, warn_at)

    def rating(self, key: str) -> Rating:
        """A rating by key (``red``, ``amber_sh``, ``amber_cin``, ``green``, ``blue``)."""
        return self.ratings[key]

    @property
    def platforms(self) -> tuple[str, ...]:
        """The chat platforms this policy names people and channels for."""
        return tuple(p for p in ("slack", "teams") if getattr(self, p) is not None)

    def people(self, platform: str | None = None) -> People:
        """A platform's channels and role holders (the first platform named by default)."""
        found = getattr(self, platform or self.platforms[0], None)
        if not isinstance(found, People):
            raise LookupError(f"the policy names nobody on {platform}")
        return found

    @property
    def channels(self) -> Channels:
        """The first platform's channels."""
        return self.people().channels

    @property
    def roles(self) -> Roles:
        """The first platform's role holders."""
        return self.people().roles

    def channel(self, key: str, platform: str | None = None) -> str:
        """A channel id by role (``mash_managers``, ``escalation``...) on ``platform``."""
        return str(getattr(self.people(platform).channels, key))


def _span(span: str) -> tuple[Time, Time] | None:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", span or "")
    if not m:
        return None
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        return None
    opens, closes = Time(h1, m1), Time(h2, m2)
    return (opens, closes) if opens < closes else None


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known setting"
        # A model-level error carries its own field path in the message.
        if ": " in msg and not path:
            out.append(msg)
        else:
            out.append(f"{path}: {msg}" if path else msg)
    return out


def parse_policy(data: Any) -> Policy:
    """Validate parsed YAML; raise PolicyError listing every problem with its path."""
    if not isinstance(data, dict):
        raise PolicyError(["(top level): must be a mapping of settings"])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_problems(exc)) from None


def load_policy(source: str | os.PathLike[str] | None = None) -> Policy:
    """Load a policy by path, or by bundled name (``camden``), or ``FRONTDOOR_POLICY``.

    With nothing given and no ``FRONTDOOR_POLICY`` set, the bundled default
    (Cambridgeshire) is used.
    """
    source = source or os.environ.get("FRONTDOOR_POLICY") or DEFAULT_POLICY
    text = _read(str(source))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError([f"(file): not valid YAML: {exc}"]) from None
    return parse_policy(data)


def bundled_policies() -> list[str]:
    """Names of the policies shipped with the bot."""
    folder = resources.files("bot") / "policies"
    names = (p.name for p in folder.iterdir())
    return sorted(n.removesuffix(".yaml") for n in names if n.endswith(".yaml"))


def _read(source: str) -> str:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or os.sep in source:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError([f"(file): cannot read {source}: {exc.strerror}"]) from None
    if source in bundled_policies():
        return (resources.files("bot") / "policies" / f"{source}.yaml").read_text(encoding="utf-8")
    raise PolicyError([f"(file): no policy file or bundled policy named {source!r}"])
