"""The state machine over a script, built with ``transitions``.

States are the script's question ids plus the terminal states; triggers are
``answer``, ``back``, ``cancel`` and ``expire``. The machine holds no state
between calls: each action restores it from a ``FlowState`` (the columns of
the ``flow_session`` row), fires one trigger and hands back a new
``FlowState``, so a restart resumes exactly where the professional was.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from transitions import EventData, Machine, MachineError

from bot.flows.guided.script import (
    CANCELLED,
    EXPIRED,
    TERMINALS,
    Condition,
    Context,
    Script,
)
from bot.flows.guided.validate import Accepted, Rejected, accept


@dataclass
class FlowState:
    """Where a flow is: the current state, the answers so far and the path taken."""

    state: str
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # questions answered, in order


class _Model:
    """A flow as ``transitions`` sees it; made from a ``FlowState`` per action."""

    def __init__(self, fs: FlowState) -> None:
        self.state = fs.state
        self.answers = dict(fs.answers)
        self.history = list(fs.history)


def _when(cond: Condition | None) -> Any:
    def check(event: EventData) -> bool:
        return cond is None or bool(cond(event.model.answers))

    return check


def _came_from(previous: str) -> Any:
    def check(event: EventData) -> bool:
        history = event.model.history
        return bool(history) and history[-1] == previous

    return check


class FlowEngine:
    """Applies answers, back, cancel and expiry to a flow of one script."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._states = [*script.ids(), *TERMINALS]
        self._transitions = self._build()
        # Built once, with one model attached once: constructing a Machine, or even
        # attaching a model, cost more than the rest of an answer (measured). Each
        # action loads the saved flow into that model, fires one trigger and copies
        # the result out; the lock keeps threads (answers run off the event loop)
        # from sharing it at once.
        self._model = _Model(FlowState(self._states[0]))
        self._shared = Machine(
            model=self._model,
            states=self._states,
            transitions=self._transitions,
            initial=self._states[0],
            auto_transitions=False,
            send_event=True,
        )
        self._lock = threading.Lock()

    def _build(self) -> list[dict[str, Any]]:
        s = self.script
        out: list[dict[str, Any]] = []
        for qid in s.ids():
            # First matching branch wins: transitions tries them in the order added.
            for b in s.branches(qid):
                out.append(
                    {"trigger": "answer", "source": qid, "dest": b.to, "conditions": _when(b.when)}
                )
            # Back only to where this flow actually came from.
            for prev in s.predecessors(qid):
                out.append(
                    {
                        "trigger": "back",
                        "source": qid,
                        "dest": prev,
                        "conditions": _came_from(prev),
                    }
                )
        out.append({"trigger": "cancel", "source": list(s.ids()), "dest": CANCELLED})
        out.append({"trigger": "expire", "source": list(s.ids()), "dest": EXPIRED})
        return out

    def _fire(self, model: _Model, trigger: str) -> bool:
        """Fire one trigger on ``model`` (restored from a saved row) with the shared machine."""
        with self._lock:
            m = self._model
            m.state, m.answers, m.history = model.state, model.answers, model.history
            try:
                return bool(m.trigger(trigger))  # type: ignore[attr-defined]
            finally:
                model.state = m.state

    def is_question(self, state: str) -> bool:
        """Whether ``state`` is a question (not a terminal state)."""
        return self.script.has(state)

    def answer(self, fs: FlowState, raw: Any, ctx: Context) -> FlowState | Rejected:
        """Accept ``raw`` for the current question and move on, or say why not."""
        if not self.is_question(fs.state):
            return Rejected(errors=("This flow has finished.",))
        q = self.script.question(fs.state)
        result = accept(q, raw, fs.answers, ctx)
        if not isinstance(result, Accepted):
            return result
        model = _Model(fs)
        model.answers[q.id] = result.value
        if not self._fire(model, "answer"):
            raise RuntimeError(f"{self.script.kind}.{q.id}: no branch applies")  # a script bug
        model.history.append(q.id)
        if not self.is_question(model.state):
            # Finished: keep only the answers on the path actually taken, so a
            # changed answer leaves no stale branch behind (e.g. a consent reason).
            model.answers = {k: v for k, v in model.answers.items() if k in model.history}
        return FlowState(model.state, model.answers, model.history)

    def back(self, fs: FlowState) -> FlowState | None:
        """The previous question (its answer kept), or None at the first question."""
        model = _Model(fs)
        try:
            moved = self._fire(model, "back")
        except MachineError:
            return None
        if not moved:
            return None
        model.history.pop()
        return FlowState(model.state, model.answers, model.history)

    def cancel(self, fs: FlowState) -> FlowState:
        """Cancelled: the answers are discarded."""
        return self._end(fs, "cancel")

    def expire(self, fs: FlowState) -> FlowState:
        """Expired after the policy's timeout: the answers are discarded."""
        return self._end(fs, "expire")

    def _end(self, fs: FlowState, trigger: str) -> FlowState:
        model = _Model(fs)
        self._fire(model, trigger)
        return FlowState(model.state, {}, model.history)

    def position(self, fs: FlowState) -> tuple[int, int]:
        """``(step_no, step_total)`` for "step 4 of 11": the path so far plus what is left."""
        done = len(fs.history)
        if not self.is_question(fs.state):
            return done, done
        left = self.script.path(fs.answers, start=fs.state)
        return done + 1, done + len(left)
