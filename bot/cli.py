"""The ``frontdoor`` command line (DESIGN.md section 5)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.config import load_settings
from bot.policy import PolicyError, load_policy

NOT_YET = "frontdoor {cmd}: not available in this version yet."


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frontdoor", description="Front Door: the children's "
                                "services front door in Slack.")
    sub = p.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the bot (HTTP or Socket Mode)")
    serve.add_argument("--no-reminders", action="store_true", help="do not run the reminder loop")
    sub.add_parser("worker", help="run the reminder and outbox loops only")
    sandbox = sub.add_parser("sandbox", help="run the bot with a local workspace (no Slack)")
    sandbox.add_argument("--port", type=int, default=None)
    sandbox.add_argument("--open", action="store_true", help="open the workspace in a browser")
    rem = sub.add_parser("reminders", help="reminders").add_subparsers(dest="sub", required=True)
    run = rem.add_parser("run", help="one sweep as of --now (default: now)")
    run.add_argument("--now", help="ISO time, e.g. 2026-12-24T15:00:00+00:00")
    db = sub.add_parser("db", help="database").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="create or upgrade the schema")
    pol = sub.add_parser("policy", help="authority policy").add_subparsers(
        dest="sub", required=True
    )
    chk = pol.add_parser("check", help="validate a policy file")
    chk.add_argument("file")
    log = sub.add_parser("log", help="consultation log").add_subparsers(dest="sub", required=True)
    exp = log.add_parser("export", help="CSV to stdout")
    exp.add_argument("--since")
    exp.add_argument("--until")
    ret = sub.add_parser("retention", help="retention").add_subparsers(dest="sub", required=True)
    ret.add_parser("purge").add_argument("--dry-run", action="store_true")
    rep = sub.add_parser("report", help="figures").add_subparsers(dest="sub", required=True)
    rep.add_parser("weekly").add_argument("--out")
    caf = sub.add_parser("caf", help="CAF episodes").add_subparsers(dest="sub", required=True)
    caf.add_parser("import").add_argument("file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``frontdoor`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        return _dispatch(args)
    except PolicyError as exc:
        print("The policy file has problems:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    cmd, sub = args.cmd, getattr(args, "sub", None)
    if cmd == "policy":
        load_policy(args.file)
        print("ok")
        return 0
    settings = load_settings()
    if cmd == "db":
        from store.db import make_engine
        from store.migrate import upgrade

        rev = upgrade(make_engine(settings.database_url))
        print(f"database at revision {rev}")
        return 0
    if cmd == "serve":
        if not settings.bot_token:
            from bot.sandbox.run import run_sandbox

            print("No SLACK_BOT_TOKEN set: starting the local workspace instead of Slack.")
            return asyncio.run(run_sandbox(settings))
        from bot.server import serve_forever

        asyncio.run(serve_forever(settings, reminders=not args.no_reminders))
        return 0
    if cmd == "sandbox":
        from bot.sandbox.run import run_sandbox

        return asyncio.run(run_sandbox(settings, port=args.port, open_browser=args.open))
    if cmd == "worker":
        from bot.worker import run_worker

        return asyncio.run(run_worker(settings))
    if cmd == "reminders" and sub == "run":
        from bot.worker import sweep_once

        now = _parse_now(args.now)
        stats = asyncio.run(sweep_once(settings, now))
        print(f"swept as of {now.isoformat()}: {stats}")
        return 0
    print(NOT_YET.format(cmd=f"{cmd} {sub or ''}".strip()), file=sys.stderr)
    return 2


def _parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(
            f"--now must be an ISO time such as 2026-12-24T15:00:00+00:00: {value!r}"
        ) from None
    if t.tzinfo is None:
        raise SystemExit("--now needs a time zone offset (e.g. +00:00), to avoid guessing")
    return t


if __name__ == "__main__":
    raise SystemExit(main())
