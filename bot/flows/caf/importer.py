"""``frontdoor caf import FILE.csv``: CAF episodes from a case-system export.

Every row is checked first; if any row is wrong, nothing is imported and every
problem is reported with its line number (``line 4: completed_on 2026-13-01 is
not a date``). Otherwise all rows go in one transaction, with their reminders.

Columns (a header row; order free; case and spaces in names ignored):

=================  =========================================================
``ehm_reference``   required; the policy's ``caf.reference_pattern`` (``EHM-20417``)
``lead_professional``  a user ID of the directory's platform (the policy's first
                    without one; its example from ``bot.policy.ID_EXAMPLES``) or
                    the person's e-mail address, or empty: no lead yet
``coordinator``     required; a user ID or the person's e-mail address
``completed_on``    required; ``YYYY-MM-DD`` (or ``DD/MM/YYYY``); not in the future
``consent``         required; ``yes`` / ``no``
``last_meeting_on`` optional; the last family planning meeting held
=================  =========================================================

E-mail addresses (staff know those, not user IDs) are turned into user IDs at
import time by the people directory the caller passes in (a :class:`Directory`:
its platform, the words naming it, and its lookup; each platform's package makes
its own); the addresses themselves are never stored. An address nobody in the
directory has refuses its row (line and column named, the address not echoed), and
so the whole file; without a lookup an address is refused as not a user ID.

Any other column is refused: an export may carry names, and the bot must not be
handed them. A reference twice in the file, or already registered, is an error.
Imported episodes send no DMs (they are existing CAFs, not news); their
reminders are scheduled as for any episode, so one already overdue is nudged
at the next sweep.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot import nonames
from bot.flows.caf.models import NewEpisode
from bot.flows.caf.service import (
    CafService,
    existing_references,
    normalise_reference,
    problems,
    reference_problem,
    user_problem,
)
from bot.policy import Caf, Policy, id_example
from store import repo
from store.runner import TxRunner
from store.types import DEFAULT_PLATFORM, utcnow

REQUIRED = ("ehm_reference", "lead_professional", "coordinator", "completed_on", "consent")
OPTIONAL = ("last_meeting_on",)
ACTOR = "import"
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
_PLAIN_COLUMN = re.compile(r"[a-z][a-z0-9_]{0,39}")
PEOPLE = (("lead_professional", "lead professional"), ("coordinator", "co-ordinator"))
_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")

# Given the file's e-mail addresses (lower case), the user ID of each one found;
# raises DirectoryError when the directory cannot be asked at all.
EmailResolver = Callable[[Sequence[str]], Mapping[str, str]]


class DirectoryError(Exception):
    """The people directory could not be asked (e.g. unreachable, or a missing scope)."""


@dataclass(frozen=True)
class Directory:
    """A chat platform's people directory as an import sees it: whose user ids the file
    holds, the words that name the directory (its platform's package says them), and
    its lookup (None: it cannot be asked, so an address is refused)."""

    platform: str
    members: str = "the directory"  # "no one in {members} has that e-mail address"
    needs: str = "a people directory to look it up"  # "an e-mail address needs {needs}"
    asks: str = "the chat platform's directory"  # --help: "looked up in {asks}"
    resolve: EmailResolver | None = None


def not_found(directory: Directory) -> str:
    """The words for an address no one in ``directory`` has ({label}, {column} to fill)."""
    what, example = id_example(directory.platform)
    return (f"the {{label}} (column {{column}}): no one in {directory.members} has that "
            f"e-mail address; check it, or give their {what.split(' ', 1)[1]} ({example})")


def no_directory(directory: Directory) -> str:
    """The words for an address when ``directory`` cannot be asked ({label} to fill)."""
    what, example = id_example(directory.platform)
    return (f"the {{label}} must be {what} such as {example}: an e-mail address needs "
            f"{directory.needs}")


def columns_help(directory: Directory) -> str:
    """For ``frontdoor caf import --help``: the columns, as in this module's docstring."""
    what, example = id_example(directory.platform)
    rest = textwrap.fill(
        f"E-mail addresses are looked up in {directory.asks}; one that no one has refuses "
        "its line. Any other column is refused: an export may carry names. A reference "
        "twice in the file, or already registered, is an error. Imported episodes send no "
        "messages; their reminders are scheduled as for any episode.", width=84)
    return f"""columns (a header row; any order; case and spaces in names ignored):
  ehm_reference      required; the policy's reference shape, e.g. EHM-20417
  lead_professional  {what} ({example}) or their e-mail address, or
                     empty: no lead yet
  coordinator        required; {what} or their e-mail address
  completed_on       required; YYYY-MM-DD (or DD/MM/YYYY); not in the future
  consent            required; yes or no
  last_meeting_on    optional; the last family planning meeting held, a date

{rest}"""


@dataclass
class ImportResult:
    """What an import did: the references imported, or every problem (and nothing imported)."""

    imported: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file went in."""
        return not self.errors


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def parse_date(raw: str) -> date | None:
    """``2026-11-24`` or ``24/11/2026``; None when it is not a real date."""
    raw = raw.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def is_email(value: str) -> bool:
    """Whether a people cell holds an e-mail address rather than a user ID."""
    return _EMAIL.fullmatch(value.strip()) is not None


def email_addresses(text: str) -> list[str]:
    """The e-mail addresses in the file's people columns, lower case, once each (pure)."""
    reader = csv.DictReader(io.StringIO(text))
    reader.fieldnames = [_column(h) for h in (reader.fieldnames or []) if h is not None]
    found: set[str] = set()
    for record in reader:
        for column, _ in PEOPLE:
            value = str(record.get(column) or "").strip()
            if is_email(value):
                found.add(value.lower())
    return sorted(found)


def _person(value: str, column: str, label: str, people: Mapping[str, str] | None,
            directory: Directory, problems_out: list[str]) -> str:
    """A people cell as a user ID: an e-mail address is looked up in ``people``."""
    if not is_email(value):
        return value
    if people is None:
        problems_out.append(no_directory(directory).format(label=label))
    elif value.lower() in people:
        return people[value.lower()]
    else:
        problems_out.append(not_found(directory).format(label=label, column=column))
    return ""


def read_rows(
    text: str, today: date, shape: Caf, people: Mapping[str, str] | None = None,
    directory: Directory | None = None,
) -> tuple[list[tuple[int, NewEpisode]], list[str]]:
    """Parse and check every row (pure): ``(line, episode)`` pairs and ``line N: …`` errors.

    A message names the line and the column, never the value: a wrong cell may hold a
    name, and the output is read on screens and pasted into tickets. ``people`` maps
    the e-mail addresses found (lower case) to user IDs; None: none can be looked up.
    The user IDs are ``directory``'s platform's (the store's default without one).
    """
    directory = directory or Directory(DEFAULT_PLATFORM)
    reader = csv.DictReader(io.StringIO(text))
    header = [_column(h) for h in (reader.fieldnames or []) if h is not None]
    if not header:
        return [], ["line 1: the file is empty (expected a header row)"]
    errors: list[str] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing:
        errors.append(f"line 1: missing column{'s' if len(missing) > 1 else ''} "
                      + ", ".join(missing))
    for col in unknown:
        # A header-less file's first row is data: name a column by place unless its
        # name is a plain column name.
        named = repr(col) if _PLAIN_COLUMN.fullmatch(col) and not nonames.scan(col) else (
            f"number {header.index(col) + 1}")
        errors.append(f"line 1: unknown column {named}: only {', '.join(REQUIRED + OPTIONAL)} "
                      "are read (a case-system export may carry names; remove other columns)")
    if len(set(header)) != len(header):
        errors.append("line 1: a column appears twice")
    if errors:
        return [], errors
    reader.fieldnames = header
    rows: list[tuple[int, NewEpisode]] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if None in record:
            errors.append(f"line {line}: more values than columns")
            continue
        values = {k: (v or "").strip() for k, v in record.items()}
        row_errors: list[str] = []
        refused: set[str] = set()  # people cells already refused as addresses
        for column, label in PEOPLE:
            before = len(row_errors)
            values[column] = _person(values[column], column, label, people, directory,
                                     row_errors)
            if len(row_errors) > before:
                refused.add(column)
        completed = parse_date(values["completed_on"])
        if not values["completed_on"]:
            row_errors.append("completed_on is required")
        elif completed is None:
            row_errors.append("completed_on is not a date (use YYYY-MM-DD or DD/MM/YYYY)")
        last: date | None = None
        if values.get("last_meeting_on"):
            last = parse_date(values["last_meeting_on"])
            if last is None:
                row_errors.append("last_meeting_on is not a date (use YYYY-MM-DD or "
                                  "DD/MM/YYYY)")
        consent = values["consent"].lower()
        if consent not in YES | NO:
            row_errors.append("consent must be yes or no" if values["consent"]
                              else "consent is required (yes or no)")
        new = NewEpisode(values["ehm_reference"], values["lead_professional"] or None,
                         values["coordinator"] or None, completed or today, consent in YES, last,
                         platform=directory.platform)
        if row_errors:  # the dates or people are not usable: check the rest on their own
            row_errors += [m for c, m in (
                ("ehm_reference", reference_problem(new.ehm_reference, shape)),
                ("lead_professional", user_problem(
                    "lead professional", new.lead_user_id, required=False,
                    platform=new.platform)),
                ("coordinator", user_problem(
                    "co-ordinator", new.coordinator_user_id, required=True,
                    platform=new.platform)),
            ) if m and c not in refused]  # a refused address is not "required" again
            if completed is not None:  # the dates are usable: check them too
                row_errors += [m for c, m in problems(new, today, shape)
                               if c in ("completed_on", "last_meeting_on")]
        else:
            row_errors += [m for _, m in problems(new, today, shape)]
        # Only a valid reference is named (as a repeat): anything else may be a name.
        ref = "" if reference_problem(new.ehm_reference, shape) else normalise_reference(
            new.ehm_reference)
        if ref and ref in seen:
            row_errors.append(f"the EHM reference {ref} repeats line {seen[ref]}")
        elif ref:
            seen[ref] = line
        if row_errors:
            errors.extend(f"line {line}: {m}" for m in row_errors)
        else:
            rows.append((line, new))
    if not rows and not errors:
        errors.append("the file has no rows to import")
    return rows, errors


def import_text(
    engine: Engine, policy: Policy, text: str, *,
    clock: Callable[[], datetime] = utcnow,
    directory: Directory | None = None,
) -> ImportResult:
    """Check every row, then import all of them in one transaction (or none).

    The user IDs are ``directory``'s platform's (without one: the policy's first
    platform's). E-mail addresses in the people columns are looked up first, all at
    once, in ``directory`` (no lookup: an address is refused as not a user ID).
    """
    directory = directory or Directory(policy.platforms[0])
    runner = TxRunner(engine)  # a command's own: nothing here runs on an event loop
    service = CafService(runner, policy, clock)
    now = clock()
    people: Mapping[str, str] | None = None
    if directory.resolve is not None:
        addresses = email_addresses(text)
        try:
            people = ({k.lower(): v for k, v in directory.resolve(addresses).items()}
                      if addresses else {})
        except DirectoryError as exc:
            return ImportResult(errors=[f"the e-mail addresses could not be looked up: {exc}"])
    rows, errors = read_rows(text, service.today(now), policy.caf, people, directory)
    if errors:
        return ImportResult(errors=errors)
    try:
        with runner.session(write=True) as s:
            taken = existing_references(s, (n.ehm_reference for _, n in rows))
            errors = [f"line {line}: the EHM reference {normalise_reference(n.ehm_reference)} "
                      "is registered already"
                      for line, n in rows if normalise_reference(n.ehm_reference) in taken]
            if errors:
                return ImportResult(errors=errors)
            imported = []
            for _, new in rows:
                ep = service.add(s, new, ACTOR, source="import", now=now)
                imported.append(ep.ehm_reference)
            repo.audit(s, actor=ACTOR, action="caf.import", subject_type="caf",
                       subject_id="-", new=len(imported), at=now)
    except IntegrityError:
        # Someone registered one of these references between the check and the insert.
        return ImportResult(errors=["an EHM reference in the file was registered while "
                                    "importing; nothing was imported: run it again"])
    return ImportResult(imported=imported)


def import_file(
    engine: Engine, policy: Policy, path: str | Path, *,
    clock: Callable[[], datetime] = utcnow,
    directory: Directory | None = None,
) -> ImportResult:
    """Read ``path`` (UTF-8, with or without a byte-order mark) and import it."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return ImportResult(errors=[f"cannot read {path}: {exc.strerror}"])
    except UnicodeDecodeError as exc:
        return ImportResult(errors=[f"{path} is not UTF-8 text (byte {exc.start}): save the "
                                    "export as CSV UTF-8"])
    return import_text(engine, policy, text, clock=clock, directory=directory)
