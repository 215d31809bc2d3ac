"""The interaction load generator: simulated professionals playing whole flows.

Each simulated user runs ``/consult`` and ``/refer`` flows one after another,
closed-loop and without think time: send a signed request, wait for the HTTP
answer (the **ack latency**), then wait for the bot's next message in the DM
(read from the fake Web API by long-poll) and answer it: buttons and selects
as ``block_actions`` with the question's ``block_id``/``action_id``/value, free
text as ``message.im`` events. Any non-200 answer, connection error or timeout
is an error.

The bare Bolt app is driven by the *same* requests: the steps of the first
completed flow of each kind are recorded (request kind, action ids, the
question message with its blocks) and replayed, each again followed by a wait
for the app's one message in the DM.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.fakeapi import dm_of, load_user
from bot.handlers.slack.blocks import ids
from bot.handlers.slack.blocks.flow import ANSWER_ACTION_RE
from bot.sandbox.signing import Delivery, SlackSender

# The answers: no danger, no redirect, consent given (fewest branches); the
# first option elsewhere. Free text passes the no-names guard.
CHOOSE: dict[str, Any] = {
    "danger": "no",
    "want": "general",
    "ref_type": "concern",
    "phoned": "no",
    "lado": "no",
    "consent": "given",
    "before": "no",
    "categories": ["neglect", "school"],
}
TEXTS = (
    "They have seemed tired and hungry at the start of the day for several weeks.",
    "Bruising was seen on an arm and the explanation given did not fit.",
    "Support from the pastoral team has been in place since the autumn term.",
    "The young person says they want things at home to calm down.",
    "A sudden change in behaviour after a difficult week at home.",
)
REQUEST_TIMEOUT = 10.0  # seconds; Slack itself gives up after 3
REPLY_TIMEOUT = 15.0  # seconds to wait for the bot's next message before giving up the flow

Step = tuple[str, dict[str, Any]]  # (SlackSender method, its keyword arguments)

_timing: contextvars.ContextVar[list[tuple[float, float]]] = contextvars.ContextVar("_timing")


class TimedSender(SlackSender):
    """A SlackSender that notes (start, seconds) of each HTTP exchange for the caller's task."""

    async def post(self, body: str, content_type: str, **kwargs: Any) -> Delivery:  # type: ignore[override]
        """Sign and POST as usual; the time is from sending the request to the full answer."""
        t0 = time.perf_counter()
        try:
            return await super().post(body, content_type, **kwargs)
        finally:
            sink = _timing.get(None)
            if sink is not None:
                sink.append((t0, time.perf_counter() - t0))


class RemoteWorkspace:
    """What the sender needs of a workspace when the fake runs in another process.

    DM ids follow the fake's rule, names are the load users'; a person's typed
    message gets a local ``ts`` (the bots never read it back from history).
    """

    def __init__(self, root_url: str) -> None:
        self.root_url = root_url
        self._ts = itertools.count(int(time.time() * 1_000_000))

    def user_name(self, user_id: str) -> str | None:
        """The load user's handle."""
        return f"load.user{user_id[-4:]}" if user_id.startswith("U0LOAD") else None

    def channel_name(self, channel_id: str) -> str | None:
        """DMs are ``directmessage`` in slash command payloads."""
        return "directmessage" if channel_id.startswith("D") else None

    def dm_channel(self, user_id: str) -> str:
        """The fake's DM id for a user."""
        return dm_of(user_id)

    def response_url(self, channel_id: str, user_id: str, message_ts: str | None = None) -> str:
        """A URL on the fake (neither app answers through response_url)."""
        return f"{self.root_url}/respond/bench"

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        """Not used: the driver passes the message it read."""
        return None

    def view(self, view_id: str) -> dict[str, Any] | None:
        """Not used."""
        return None

    def add_message(self, channel_id: str, user_id: str, text: str, *,
                    thread_ts: str | None = None,
                    blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A person's message with a fresh, increasing ``ts``."""
        us = next(self._ts)
        return {"ts": f"{us // 1_000_000}.{us % 1_000_000:06d}", "text": text}


@dataclass
class Sample:
    """One request: when it was sent (perf_counter), how long the ack took, and how it ended."""

    start: float
    seconds: float
    ok: bool
    kind: str


@dataclass
class Recorder:
    """Everything measured during a run."""

    samples: list[Sample] = field(default_factory=list)
    replies: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    flows: list[tuple[float, str]] = field(default_factory=list)  # (end, outcome)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class UserState:
    """One simulated professional."""

    id: str
    dm: str
    last_ts: str = "0"
    n: int = 0


def question_block(msg: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The ``q:{flow}:{question}`` actions block of a question message, and the question id."""
    for block in msg.get("blocks") or []:
        bid = str(block.get("block_id", ""))
        if bid.startswith(f"{ids.QUESTION_BLOCK_PREFIX}:"):
            return block, bid.split(":", 2)[2]
    return None


def plan_answer(msg: dict[str, Any], block: dict[str, Any], qid: str, n: int,
                choose: dict[str, Any] | None = None) -> Step:
    """The request that answers this question (as ``tests/slackenv.py`` answers it)."""
    wanted = (CHOOSE if choose is None else choose).get(qid)
    elements = block.get("elements") or ([block["accessory"]] if block.get("accessory") else [])
    click: dict[str, Any] = {"block_id": block["block_id"], "message_ts": msg["ts"],
                             "message": msg}
    for el in elements:
        if el.get("action_id") == ids.FLOW_MULTI:
            values = wanted if isinstance(wanted, list) else [el["options"][0]["value"]]
            return "block_action", {**click, "action_id": ids.FLOW_MULTI_DONE,
                                    "state_values": {ids.FLOW_MULTI: values}}
        if el.get("action_id") == ids.FLOW_DATE:
            return "block_action", {**click, "action_id": ids.FLOW_DATE,
                                    "action_type": "datepicker",
                                    "selected_date": wanted or "2026-11-20"}
        if el.get("action_id") == ids.FLOW_ANSWER and el.get("type") == "static_select":
            groups = el.get("option_groups") or [{"options": el.get("options") or []}]
            options = [o for g in groups for o in g["options"]]
            opt = next((o for o in options if o["value"] == wanted), options[0])
            return "block_action", {**click, "action_id": ids.FLOW_ANSWER,
                                    "action_type": "static_select", "selected_option": opt}
    buttons = [e for e in elements
               if e.get("type") == "button" and ANSWER_ACTION_RE.match(str(e.get("action_id")))]
    if buttons:
        btn = next((b for b in buttons if b.get("value") == wanted), buttons[0])
        return "block_action", {**click, "action_id": btn["action_id"],
                                "value": btn.get("value")}
    text = wanted if isinstance(wanted, str) else TEXTS[n % len(TEXTS)]
    return "message_im", {"text": text}


def outcome_of(msg: dict[str, Any]) -> str:
    """How a flow ended, from the bot's last message."""
    text = str(msg.get("text") or "")
    if text.startswith("Thank you"):
        return "completed"
    if "immediate danger" in text:
        return "urgent"
    return "other"


class Driver:
    """Drives one target (Front Door, or the bare app) with simulated users."""

    def __init__(self, http: aiohttp.ClientSession, events_url: str, fake_root: str,
                 signing_secret: str, *, mode: str,
                 templates: dict[str, list[Step]] | None = None,
                 kinds: tuple[str, ...] = ("consult", "refer")) -> None:
        self.http = http
        self.fake_root = fake_root
        self.mode = mode
        self.kinds = kinds
        self.templates: dict[str, list[Step]] = dict(templates or {})
        self.sender = TimedSender(events_url, signing_secret, workspace=RemoteWorkspace(fake_root),
                                  session=http)
        self.choose: dict[str, Any] = dict(CHOOSE)
        self.rec = Recorder()
        self.stop_at = math.inf
        self.completed = 0
        self._text_n = itertools.count()

    # --- plumbing --------------------------------------------------------------

    async def send(self, user: UserState, step: Step) -> bool:
        """Send one request as ``user``; record its ack latency; True when answered 200."""
        method, kwargs = step
        sink: list[tuple[float, float]] = []
        _timing.set(sink)
        kind = {"slash_command": "command", "block_action": "action",
                "message_im": "message"}[method]
        t0 = time.perf_counter()
        status: int | str
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if method == "slash_command":
                    d = await self.sender.slash_command(user.id, kwargs["command"],
                                                        channel_id=user.dm)
                elif method == "block_action":
                    d = await self.sender.block_action(user.id, channel_id=user.dm, **kwargs)
                else:
                    d = await self.sender.message_im(user.id, user.dm, kwargs["text"])
            status = d.status
        except TimeoutError:
            status = "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            status = type(exc).__name__
        start, seconds = sink[-1] if sink else (t0, time.perf_counter() - t0)
        ok = status == 200
        self.rec.samples.append(Sample(start, seconds, ok, kind))
        if not ok:
            self.rec.errors[f"{kind}: {status}"] += 1
        return ok

    async def next_message(self, user: UserState) -> dict[str, Any] | None:
        """The bot's next message in the user's DM (newer than the last one seen)."""
        t0 = time.perf_counter()
        params = {"channel": user.dm, "after": user.last_ts, "timeout": str(REPLY_TIMEOUT)}
        try:
            async with self.http.get(f"{self.fake_root}/bench/next", params=params) as r:
                msg = (await r.json())["message"]
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.rec.errors[f"fake: {type(exc).__name__}"] += 1
            return None
        if msg is None:
            self.rec.errors[f"no reply within {REPLY_TIMEOUT:.0f}s"] += 1
            return None
        self.rec.replies.append((t0, time.perf_counter() - t0))
        user.last_ts = str(msg["ts"])
        return dict(msg)

    # --- flows -----------------------------------------------------------------

    async def flow(self, user: UserState, kind: str) -> str | None:
        """One whole flow; returns its outcome, or None when it broke off."""
        if self.mode == "bare":
            return await self._replay(user, kind)
        steps: list[Step] = [("slash_command", {"command": f"/{kind}"})]
        if not await self.send(user, steps[0]):
            return None
        while True:
            msg = await self.next_message(user)
            if msg is None:
                return None
            found = question_block(msg)
            if found is None:
                outcome = outcome_of(msg)
                if outcome == "completed" and kind not in self.templates:
                    self.templates[kind] = steps
                return outcome
            if time.perf_counter() >= self.stop_at:
                return None
            step = plan_answer(msg, *found, next(self._text_n), self.choose)
            steps.append(step)
            if not await self.send(user, step):
                return None

    async def _replay(self, user: UserState, kind: str) -> str | None:
        for step in self.templates[kind]:
            if time.perf_counter() >= self.stop_at:
                return None
            if not await self.send(user, step):
                return None
            if await self.next_message(user) is None:
                return None
        return "completed"

    async def user_loop(self, user: UserState, delay: float,
                        take: Callable[[], bool]) -> None:
        """Flow after flow until ``stop_at`` or until ``take()`` says no more."""
        await asyncio.sleep(delay)
        first = await self.next_known(user)
        user.last_ts = first
        while time.perf_counter() < self.stop_at and take():
            kind = self.kinds[user.n % len(self.kinds)]
            user.n += 1
            outcome = await self.flow(user, kind)
            self.rec.flows.append((time.perf_counter(), outcome or "broken"))
            if outcome == "completed":
                self.completed += 1

    async def next_known(self, user: UserState) -> str:
        """The ts of the newest bot message already in the DM (so old ones are not read)."""
        params = {"channel": user.dm, "after": "0", "timeout": "0"}
        async with self.http.get(f"{self.fake_root}/bench/next", params=params) as r:
            msg = (await r.json())["message"]
        return str(msg["ts"]) if msg else "0"

    async def run(self, users: list[UserState], *, duration: float | None = None,
                  flows: int | None = None, ramp: float = 1.0,
                  on_progress: Callable[[int], None] | None = None) -> None:
        """Run ``users`` for ``duration`` seconds, or until ``flows`` flows were started."""
        self.stop_at = time.perf_counter() + duration if duration is not None else math.inf
        budget = itertools.count() if flows is not None else None

        def take() -> bool:
            if budget is None:
                return True
            n = next(budget)
            if on_progress is not None and n:
                on_progress(n)
            return n < (flows or 0)

        await asyncio.gather(*(self.user_loop(u, ramp * i / max(1, len(users)), take)
                               for i, u in enumerate(users)))


def make_users(n: int, offset: int = 0) -> list[UserState]:
    """``n`` load users, from ``U0LOAD{offset+1}``."""
    return [UserState(load_user(i), dm_of(load_user(i))) for i in range(offset + 1,
                                                                           offset + n + 1)]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def summarise(rec: Recorder, t0: float, t1: float) -> dict[str, Any]:
    """Figures for requests sent in ``[t0, t1)``."""
    window = [s for s in rec.samples if t0 <= s.start < t1]
    ok = sorted(s.seconds for s in window if s.ok)
    replies = sorted(sec for start, sec in rec.replies if t0 <= start < t1)
    seconds = t1 - t0
    by_kind = Counter(s.kind for s in window)
    flows = Counter(outcome for end, outcome in rec.flows if t0 <= end < t1)
    return {
        "seconds": round(seconds, 2),
        "requests": len(window),
        "rps": round(len(ok) / seconds, 1) if seconds > 0 else 0.0,
        "errors": sum(1 for s in window if not s.ok),
        "p50_ms": round(percentile(ok, 50) * 1000, 1),
        "p95_ms": round(percentile(ok, 95) * 1000, 1),
        "p99_ms": round(percentile(ok, 99) * 1000, 1),
        "max_ms": round((ok[-1] if ok else 0.0) * 1000, 1),
        "reply_p50_ms": round(percentile(replies, 50) * 1000, 1),
        "reply_p95_ms": round(percentile(replies, 95) * 1000, 1),
        "mix": dict(by_kind),
        "flows": dict(flows),
    }


@dataclass
class TargetResult:
    """A measured target: the figures, CPU seconds per process, what the fake saw."""

    name: str
    figures: dict[str, Any]
    cpu: dict[str, float]
    fake: dict[str, Any]
    templates: dict[str, list[Step]]
    log_errors: int


async def measure(kind: str, workdir: Any, *, users: int, warmup: float, duration: float,
                  templates: dict[str, list[Step]] | None = None,
                  baseline: str = "one") -> TargetResult:
    """Start a fresh fake and ``kind`` ("frontdoor" or "bare"), warm up, measure."""
    from bench import procs

    async with procs.fake_api(workdir, users) as (fake, api_url):
        fake_root = api_url.removesuffix("/api/")
        async with procs.bot(kind, workdir, api_url, baseline=baseline) as bot:
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT + REPLY_TIMEOUT + 5)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                driver = Driver(http, f"http://127.0.0.1:{bot.port}/slack/events", fake_root,
                                procs.SIGNING_SECRET, mode=kind, templates=templates,
                                kinds=tuple(templates) if templates else ("consult", "refer"))
                loop = asyncio.get_running_loop()
                t_start = time.perf_counter()
                t0, t1 = t_start + warmup, t_start + warmup + duration
                marks: dict[str, dict[str, float]] = {}

                def mark(name: str) -> None:
                    marks[name] = {"bot": bot.cpu_seconds(), "fake": fake.cpu_seconds(),
                                   "driver": time.process_time(),
                                   "machine": procs.system_busy_seconds()}

                loop.call_at(loop.time() + warmup, mark, "t0")
                loop.call_at(loop.time() + warmup + duration, mark, "t1")
                await driver.run(make_users(users), duration=warmup + duration,
                                 ramp=min(1.0, warmup / 2))
                async with http.get(f"{fake_root}/bench/stats") as r:
                    fake_stats = await r.json()
            figures = summarise(driver.rec, t0, t1)
            figures["errors_by_kind"] = dict(driver.rec.errors)
            ok = max(1, int(figures["rps"] * duration))
            cpu = {k: round((marks["t1"][k] - marks["t0"][k]) / duration, 3)
                   for k in ("bot", "fake", "driver", "machine")} if "t1" in marks else {}
            if cpu:
                cpu["others"] = round(max(0.0, cpu["machine"] - cpu["bot"] - cpu["fake"]
                                          - cpu["driver"]), 3)
            cpu_ms = {f"{k}_ms_per_req": round((marks["t1"][k] - marks["t0"][k]) * 1000 / ok, 2)
                      for k in ("bot", "fake", "driver")} if "t1" in marks else {}
        # Read once the bot has stopped: its shutdown is checked too, and it logs there
        # how its transactions ran (Front Door only).
        log = bot.log_path.read_text(errors="replace").splitlines()
        log_errors = sum(1 for line in log if " ERROR " in line)
        for line in log:
            if "frontdoor.server transactions:" in line:
                figures["transactions"] = line.split("transactions: ", 1)[1]
    return TargetResult(kind, figures, {**cpu, **cpu_ms}, fake_stats, driver.templates,
                        log_errors)
