"""Question scripts as data: the types a flow is written in.

A ``Script`` is an ordered tuple of ``Question``s. Each question says how it is
answered (``Kind``) and what it accepts. Where to go next is data too: a
question may be asked only when ``ask_if`` holds (e.g. "why not?" only when
consent was not given), and may jump elsewhere with ``then`` branches (e.g.
the safety gate's "yes" ends the flow as urgent). Otherwise the flow falls
through to the next question that is asked. ``bot.flows.guided.flows`` turns a
script into a ``transitions`` state machine; nothing here touches the
database or Slack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.flows.guided.models import Kind, Option, Prompt

Answers = Mapping[str, Any]
Condition = Callable[[Answers], bool]
Text = str | Callable[[Answers], str]

# Where a flow can end. ``urgent``: the safety gate; ``redirected``: a
# suspended referral type; ``completed``: the last question was answered.
URGENT = "urgent"
REDIRECTED = "redirected"
COMPLETED = "completed"
CANCELLED = "cancelled"
EXPIRED = "expired"
TERMINALS: tuple[str, ...] = (URGENT, REDIRECTED, COMPLETED, CANCELLED, EXPIRED)

MAX_TEXT = 2000


@dataclass(frozen=True)
class Context:
    """What validation may consult besides the answer itself (given by the service)."""

    now: datetime
    tz: ZoneInfo
    reference_exists: Callable[[str], bool] = lambda _ref: False
    # Words the professional has said are ordinary words here, not names (casefolded).
    confirmed: frozenset[str] = frozenset()


# A check returns an error message (never echoing the answer) or None.
Check = Callable[[Any, Answers, Context], str | None]


@dataclass(frozen=True)
class Branch:
    """Go to ``to`` when ``when`` holds for the answers (``None``: always)."""

    to: str
    when: Condition | None = None

    def applies(self, answers: Answers) -> bool:
        """Whether this branch is taken for ``answers``."""
        return self.when is None or bool(self.when(answers))


def go(to: str, when: Condition | None = None) -> Branch:
    """A branch to ``to``, optionally conditional."""
    return Branch(to, when)


def answered(qid: str, *values: str) -> Condition:
    """A condition: question ``qid`` was answered with one of ``values``."""
    return lambda a: a.get(qid) in values


@dataclass(frozen=True)
class Question:
    """One question of a script."""

    id: str
    text: Text
    kind: Kind
    options: tuple[Option, ...] = ()
    help: Text = ""
    optional: bool = False
    placeholder: str = ""
    max_length: int = MAX_TEXT
    check: Check | None = None  # extra validation after the no-names guard
    pattern: str | None = None  # TEXT only: the whole answer must match (e.g. a reference)
    then: tuple[Branch, ...] = ()  # jumps tried first; then the next question asked
    ask_if: Condition | None = None  # skipped (never asked) when this is false

    def values(self) -> tuple[str, ...]:
        """The accepted option values (yes/no for YESNO)."""
        if self.kind is Kind.YESNO:
            return ("yes", "no")
        return tuple(o.value for o in self.options)

    def label(self, value: str) -> str:
        """The label shown for an option value (the value itself if unknown)."""
        if self.kind is Kind.YESNO:
            return {"yes": "Yes", "no": "No"}.get(value, value)
        return next((o.label for o in self.options if o.value == value), value)


def _first_asked(skipped: tuple[Condition, ...], ask_if: Condition | None) -> Condition | None:
    """Taken when no earlier optional question is asked and this one is."""
    if not skipped and ask_if is None:
        return None

    def when(a: Answers) -> bool:
        return not any(c(a) for c in skipped) and (ask_if is None or bool(ask_if(a)))

    return when


def _render(text: Text, answers: Answers) -> str:
    return text(answers) if callable(text) else text


@dataclass(frozen=True)
class Script:
    """A whole flow: its kind (``consult`` / ``refer``), its noun and questions."""

    kind: str
    noun: str  # "consultation", "referral checklist": used in messages
    command: str  # "/consult": how to start again
    questions: tuple[Question, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _branches: dict[str, tuple[Branch, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {q.id: i for i, q in enumerate(self.questions)}
        if len(index) != len(self.questions):
            raise ValueError(f"{self.kind}: question ids must be unique")
        clash = set(index) & set(TERMINALS)
        if clash:
            raise ValueError(f"{self.kind}: question ids clash with terminal states: {clash}")
        object.__setattr__(self, "_index", index)
        # Made once: every answer walks the rest of the path ("step 4 of 11").
        object.__setattr__(self, "_branches", {q.id: self._make_branches(q.id)
                                               for q in self.questions})
        for q in self.questions:
            for b in self.branches(q.id):
                if b.to not in index and b.to not in TERMINALS:
                    raise ValueError(f"{self.kind}.{q.id}: branch to unknown {b.to!r}")
            if q.kind in (Kind.CHOICE, Kind.MULTI) and not q.options:
                raise ValueError(f"{self.kind}.{q.id}: a {q.kind} question needs options")

    @property
    def first(self) -> str:
        """The first question's id (the safety gate)."""
        return self.questions[0].id

    def ids(self) -> tuple[str, ...]:
        """All question ids, in order."""
        return tuple(q.id for q in self.questions)

    def has(self, qid: str) -> bool:
        """Whether ``qid`` is a question of this script."""
        return qid in self._index

    def question(self, qid: str) -> Question:
        """The question with this id."""
        return self.questions[self._index[qid]]

    def branches(self, qid: str) -> tuple[Branch, ...]:
        """Where ``qid`` may lead, in order: its jumps, then the fall-through.

        The fall-through is made explicit: one branch per following question
        that may be asked, each taken when every question between is skipped.
        """
        return self._branches[qid]

    def _make_branches(self, qid: str) -> tuple[Branch, ...]:
        q = self.question(qid)
        out = list(q.then)
        skipped: list[Condition] = []
        for nxt in self.questions[self._index[qid] + 1 :]:
            out.append(Branch(nxt.id, _first_asked(tuple(skipped), nxt.ask_if)))
            if nxt.ask_if is None:
                return tuple(out)
            skipped.append(nxt.ask_if)
        out.append(Branch(COMPLETED, _first_asked(tuple(skipped), None)))
        return tuple(out)

    def next_state(self, qid: str, answers: Answers) -> str:
        """The state after ``qid`` given ``answers`` (the first branch that applies)."""
        for b in self.branches(qid):
            if b.applies(answers):
                return b.to
        raise ValueError(f"{self.kind}.{qid}: no branch applies")  # a script bug, not input

    def predecessors(self, qid: str) -> tuple[str, ...]:
        """Questions with a branch into ``qid`` (where "back" may return to)."""
        return tuple(q.id for q in self.questions if any(b.to == qid for b in self.branches(q.id)))

    def path(self, answers: Answers, start: str | None = None) -> list[str]:
        """The questions from ``start`` to the end, following branches on ``answers``.

        Unanswered questions take the branch their conditions give for a missing
        answer (usually the default), which is the best estimate of what is left.
        """
        out: list[str] = []
        state = start or self.first
        while state in self._index and state not in out:
            out.append(state)
            state = self.next_state(state, answers)
        return out

    def prompt(self, qid: str, answers: Answers) -> Prompt:
        """The question as shown: text and help rendered for the answers so far."""
        q = self.question(qid)
        options = q.options
        if q.kind is Kind.YESNO and not options:
            options = (Option("yes", "Yes"), Option("no", "No"))
        return Prompt(
            id=q.id,
            text=_render(q.text, answers),
            kind=q.kind,
            options=options,
            help=_render(q.help, answers),
            optional=q.optional,
            placeholder=q.placeholder,
        )

    def describe(self, answers: Answers) -> list[tuple[str, str]]:
        """``(question, answer)`` pairs in script order, option values shown as labels."""
        out = []
        for q in self.questions:
            if q.id not in answers:
                continue
            v = answers[q.id]
            if isinstance(v, list):
                shown = ", ".join(q.label(x) for x in v)
            elif q.kind in (Kind.CHOICE, Kind.YESNO):
                shown = q.label(str(v))
            else:
                shown = str(v)
            out.append((_render(q.text, answers), shown))
        return out
