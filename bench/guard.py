"""The no-names guard's cost: ``scan`` on a typical answer and on an 800-character one
(p50 / p99), and what loading it takes (time and memory, in a fresh interpreter)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

TYPICAL = (
    "mum says shes not coping, theres no food in the house and the baby has a rash "
    "that hasnt been seen by the gp"
)
LONG = (
    "Spoke to the DSL this morning. He is 9 and has come in hungry most days this week; "
    "staff have noticed he is wearing the same clothes and smells of smoke. Mum has told "
    "the class teacher that Dad has moved back in after the non mol ended, and there have "
    "been police call-outs to the house over the weekend. He said he sleeps on the sofa "
    "because his room has mould, and that he looks after his little sister in the evenings "
    "while mum works at the supermarket. Attendance is 82% and falling; he was late four "
    "times last half term. Early help was offered in the summer but mum did not engage. We "
    "are worried about neglect and about what he sees at home, and would like advice on "
    "whether this meets the threshold for a referral or an early help assessment now."
)[:800]

_LOAD = """
import json, resource, sys, time, tracemalloc
tracemalloc.start()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
import bot.nonames
bot.nonames.scan("warm up: destiny is 9")
t1 = time.perf_counter()
peak = tracemalloc.get_traced_memory()[1]
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"load_ms": (t1 - t0) * 1000, "traced_mib": peak / 2**20,
                  "rss_mib": (rss1 - rss0) / 1024}))
"""


def _percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return round(q[49], 1), round(q[98], 1)


def run(rounds: int = 2000) -> dict[str, Any]:
    """Time ``scan`` ``rounds`` times per text, in microseconds; load the guard afresh."""
    from bot.nonames import scan

    out: dict[str, Any] = {}
    for name, text in (("typical", TYPICAL), ("800 characters", LONG)):
        scan(text)
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter_ns()
            scan(text)
            times.append((time.perf_counter_ns() - t0) / 1000)
        p50, p99 = _percentiles(times)
        out[name] = {"chars": len(text), "p50_us": p50, "p99_us": p99}
    proc = subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True,
                          check=True)
    out["load"] = {k: round(v, 1) for k, v in json.loads(proc.stdout).items()}
    return out
