"""The ``frontdoor`` command line (DESIGN.md section 5)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import datetime

from bot import logs
from bot.config import Settings, load_settings, no_chat_platform
from bot.policy import PolicyError, load_policy
from store.dbrole import DatabaseRoleError
from store.types import utcnow

NOT_YET = "frontdoor {cmd}: not available in this version yet."


NOW_HELP = "act as of this ISO time, e.g. 2026-12-24T15:00:00+00:00 (default: now)"


def _parser() -> argparse.ArgumentParser:
    from bot.flows.caf.importer import columns_help
    from bot.handlers.slack.directory import directory as slack_directory
    from bot.handlers.teams.package import add_arguments as add_teams_package_arguments

    p = argparse.ArgumentParser(prog="frontdoor", description="Front Door: the children's "
                                "services front door in Slack.")
    sub = p.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the bot (HTTP or Socket Mode)")
    serve.add_argument("--no-reminders", action="store_true", help="do not run the reminder loop")
    sub.add_parser("worker", help="run the reminder and outbox loops only")
    sandbox = sub.add_parser("sandbox", help="run the bot with a local workspace (no Slack)")
    sandbox.add_argument("--port", type=int, default=None,
                         help="port for the workspace page (default: a free one)")
    sandbox.add_argument("--open", action="store_true", help="open the workspace in a browser")
    sandbox.add_argument("--platform", choices=("slack", "teams"), default="slack",
                         help="the view the page opens on: Slack or Microsoft Teams (the page "
                         "switches between them; both are there)")
    rem = sub.add_parser("reminders", help="reminders").add_subparsers(dest="sub", required=True)
    run = rem.add_parser("run", help="one sweep as of --now (default: now)")
    run.add_argument("--now", metavar="ISO-TIME", help=NOW_HELP)
    db = sub.add_parser("db", help="database").add_subparsers(dest="sub", required=True)
    db.add_parser("upgrade", help="create or upgrade the schema")
    pol = sub.add_parser("policy", help="authority policy").add_subparsers(
        dest="sub", required=True
    )
    chk = pol.add_parser("check", help="validate a policy file")
    chk.add_argument("file", help="a policy YAML file, e.g. bot/policies/camden.yaml")
    log = sub.add_parser("log", help="consultation log").add_subparsers(dest="sub", required=True)
    exp = log.add_parser("export", help="CSV to stdout")
    exp.add_argument("--since", help="first local day, e.g. 2026-11-01")
    exp.add_argument("--until", help="last local day (included)")
    ret = sub.add_parser("retention", help="retention").add_subparsers(dest="sub", required=True)
    purge = ret.add_parser("purge", help="delete what is older than the policy's retention")
    purge.add_argument("--dry-run", action="store_true",
                       help="say what would be deleted, and delete nothing")
    purge.add_argument("--now", metavar="ISO-TIME", help=NOW_HELP)
    rep = sub.add_parser("report", help="figures").add_subparsers(dest="sub", required=True)
    weekly = rep.add_parser("weekly", help="last week's figures: text, and files with --out")
    weekly.add_argument("--out", help="folder for the summary, the chart (PNG) and the JSON")
    weekly.add_argument("--week", help="a date in the week to report (default: last week)")
    weekly.add_argument("--now", metavar="ISO-TIME",
                        help=NOW_HELP + "; without --week, the week before it")
    aud = sub.add_parser("audit", help="audit trail").add_subparsers(dest="sub", required=True)
    aexp = aud.add_parser("export", help="CSV to stdout (for a DPIA review or an inspection)")
    aexp.add_argument("--since", help="first local day, e.g. 2026-11-01")
    aexp.add_argument("--until", help="last local day (included)")
    caf = sub.add_parser("caf", help="CAF episodes").add_subparsers(dest="sub", required=True)
    imp = caf.add_parser("import", help="register CAF episodes from a CSV file (all or none)",
                         description="Register CAF episodes from a case-system export: every\n"
                         "row is checked first, and if any is wrong nothing is imported.",
                         epilog=columns_help(slack_directory()),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("file", help="the CSV file (UTF-8, a header row; columns below)")
    imp.add_argument("--now", metavar="ISO-TIME",
                     help=NOW_HELP + "; dates after its local day are refused")
    teams = sub.add_parser("teams", help="Microsoft Teams").add_subparsers(dest="sub",
                                                                           required=True)
    add_teams_package_arguments(teams.add_parser(
        "package", help="write the Teams app package (zip) for the Teams admin centre"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``frontdoor`` console script."""
    args = _parser().parse_args(argv)
    logs.configure()  # FRONTDOOR_LOG_FORMAT: text or json; FRONTDOOR_LOG_LEVEL: info, debug…
    # ``transitions`` logs two lines at INFO for every answer's state change: noise
    # in an operator's log, and formatting them cost time on every click.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except PolicyError as exc:
        print("The policy file has problems:", file=sys.stderr)
        for line in exc.problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    except DatabaseRoleError as exc:
        print(f"frontdoor {args.cmd}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    cmd, sub = args.cmd, getattr(args, "sub", None)
    if cmd == "policy":
        load_policy(args.file)
        print("ok")
        return 0
    if cmd == "teams":  # no database, no settings: only the package's own values
        from bot.handlers.teams.package import run as teams_package

        return teams_package(args)
    settings = load_settings()
    if cmd == "db":
        from store.db import make_engine
        from store.migrate import upgrade

        engine = make_engine(settings.database_url)
        try:
            rev = upgrade(engine)
        finally:
            engine.dispose()  # closed now, not when collected: SQLite checkpoints its WAL
        print(f"database at revision {rev}")
        return 0
    if cmd in ("serve", "worker") and settings.chat_platform is None:
        # Checked before anything opens the database: without a platform, the old
        # fallback ran the sandbox on serve's database and lost its real messages.
        print(no_chat_platform(cmd), file=sys.stderr)
        return 2
    if cmd == "serve":
        from bot.server import serve_forever

        asyncio.run(serve_forever(settings, reminders=not args.no_reminders))
        return 0
    if cmd == "sandbox":
        from bot.sandbox.run import run_sandbox

        return asyncio.run(run_sandbox(settings, port=args.port, open_browser=args.open,
                                       platform=args.platform))
    if cmd == "worker":
        from bot.worker import run_worker

        return asyncio.run(run_worker(settings))
    if cmd == "reminders" and sub == "run":
        from bot.worker import sweep_once

        now = _parse_now(args.now)
        stats = asyncio.run(sweep_once(settings, now))
        print(f"swept as of {now.isoformat()}: {stats}")
        return 0
    if cmd == "caf" and sub == "import":
        return _caf_import(args.file, settings, _parse_now(args.now))
    if (cmd, sub) in (("log", "export"), ("report", "weekly"), ("retention", "purge"),
                      ("audit", "export")):
        return _records(args, settings)
    print(NOT_YET.format(cmd=f"{cmd} {sub or ''}".strip()), file=sys.stderr)
    return 2


def _records(args: argparse.Namespace, settings: Settings) -> int:
    """``log export``, ``report weekly``, ``retention purge``, ``audit export``.

    Dates are local days in the policy's time zone (both ends included). Reading
    the log or the audit trail and purging are themselves audited, as ``cli:USER``.
    """
    import getpass
    from pathlib import Path

    from bot import auditlog, report, retention
    from bot.flows.consultation import log as caflog
    from store.db import make_engine
    from store.migrate import upgrade
    from store.runner import TxRunner

    policy = load_policy(settings.policy or None)
    engine = make_engine(settings.database_url)
    runner = TxRunner(engine)  # the command's transactions, one at a time, no event loop
    try:
        actor = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        actor = "cli"
    now = _parse_now(getattr(args, "now", None))
    try:
        upgrade(engine)
        if args.cmd == "log":
            f = caflog.make_filter(since=args.since, until=args.until)
            with runner.session(write=True) as s:
                text, count = caflog.export_csv(s, f, policy.tz)
                caflog.audit_access(s, actor=actor, action="caflog.exported", f=f, count=count,
                                    at=now)
            sys.stdout.write(text)
            print(f"{count} consultations exported", file=sys.stderr)
        elif args.cmd == "audit":
            since = caflog.parse_date(args.since, "--since") if args.since else None
            until = caflog.parse_date(args.until, "--until") if args.until else None
            with runner.session(write=True) as s:
                text, count = auditlog.export_csv(s, since, until, policy.tz)
                auditlog.record_export(s, actor=actor, since=since, until=until, count=count,
                                       at=now)
            sys.stdout.write(text)
            print(f"{count} audit entries exported", file=sys.stderr)
        elif args.cmd == "retention":
            with runner.session(write=True) as s:
                result = retention.purge(s, policy, now, dry_run=args.dry_run, actor=actor)
            print(result.describe())
            for kind, n in result.counts.items():
                print(f"  {kind}: {n}")
        else:
            day = caflog.parse_date(args.week, "--week") if args.week else None
            week = report.week_start_of(day) if day else report.previous_week(now, policy)
            with runner.session() as s:
                fig = report.weekly_figures(s, policy, week, now)
            print(report.summary_text(fig, markdown=False))
            if args.out:
                out = Path(args.out)
                out.mkdir(parents=True, exist_ok=True)
                stem = f"weekly-{fig.week_start.isoformat()}"
                (out / f"{stem}.txt").write_text(report.summary_text(fig, markdown=False) + "\n",
                                                 encoding="utf-8")
                (out / f"{stem}.json").write_text(report.figures_json(fig) + "\n",
                                                  encoding="utf-8")
                (out / f"{stem}.png").write_bytes(report.render_chart(fig, policy))
                print(f"wrote {out / stem}.txt, .json and .png", file=sys.stderr)
        return 0
    except caflog.FilterError as exc:
        for line in exc.problems:
            print(f"frontdoor {args.cmd} {args.sub}: {line}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def _caf_import(path: str, settings: Settings, now: datetime) -> int:
    """``caf import FILE``: all rows or none; every bad line is printed, exit 1.

    E-mail addresses are looked up in Slack when its token is set.
    """
    from bot.flows.caf.importer import import_file
    from bot.handlers.slack.directory import directory
    from store.db import make_engine
    from store.migrate import upgrade

    policy = load_policy(settings.policy or None)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        result = import_file(engine, policy, path, clock=lambda: now,
                             directory=directory(settings.bot_token, settings.api_url))
    finally:
        engine.dispose()
    if not result.ok:
        print(f"{path}: nothing was imported.", file=sys.stderr)
        for line in result.errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"imported {len(result.imported)} CAF episode"
          f"{'s' if len(result.imported) != 1 else ''}: {', '.join(result.imported)}")
    return 0


def _parse_now(value: str | None) -> datetime:
    if not value:
        return utcnow()
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
