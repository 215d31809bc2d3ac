"""Benchmarks for Front Door (issue 8): interaction load, reminder sweep scale, memory.

Run ``python -m bench all`` (or ``load``, ``sweep``, ``memory``); see README.md,
section "Performance". Every process the load and memory benchmarks start is a
real one: the fake Slack Web API (``bench.fakeapi``), ``frontdoor serve`` in
HTTP mode, and a bare Bolt app for comparison (``bench.barebolt``).
"""
