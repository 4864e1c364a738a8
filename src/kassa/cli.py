"""`kassa`: one command for running, operating and inspecting Kassa."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kassa.config import ConfigError
from kassa.core.text import unstorable_path

DESCRIPTION = """\
Kassa: a self-hosted payments and billing server.

Configuration comes from environment variables (see the README): KASSA_DATABASE_URL,
KASSA_DATA_DIR, KASSA_SECRET_KEY, KASSA_BASE_URL, KASSA_DEBUG, KASSA_EMAIL_URL,
KASSA_ALLOW_PRIVATE_WEBHOOK_URLS."""


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kassa.settings")
    import django

    django.setup()


def _database_error_message(exc: Exception) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    where = db["NAME"] if "sqlite" in db["ENGINE"] else f"{db['HOST']}:{db['PORT'] or 5432}"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"Cannot use the database at {where} ({reason})."


def _check_database() -> None:
    """Fail fast, with one sentence, when PostgreSQL cannot be reached (the connection pool
    would otherwise keep retrying for its whole timeout)."""
    from kassa.platform.dbinfo import check_reachable

    check_reachable()


def _migrate(verbosity: int = 0) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


# -- commands ------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from django.conf import settings

    from kassa.platform import webserver

    config = settings.CONFIG
    children: list[subprocess.Popen[bytes]] = []
    if config.embedded:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        _migrate()
        for role in ("worker", "scheduler"):
            children.append(subprocess.Popen([sys.executable, "-m", "kassa", role]))  # noqa: S603
    print(f"Kassa is serving {config.base_url} (listening on http://{args.host}:{args.port})")
    print(f"  admin {config.base_url}/admin/  ·  API docs {config.base_url}/v1/docs")
    if config.embedded:
        print(f"  SQLite database {config.database.name}; worker and scheduler started.")
    # uvicorn restores the previous handler and re-raises a caught SIGTERM once it has shut
    # down; with the default handler that would kill us before the children are stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        webserver.serve(args.host, args.port, args.workers)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=35)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _run_until_signalled(target: Callable[[threading.Event], None]) -> int:
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    target(stop)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from kassa.platform.worker import KassaWorker

    worker = KassaWorker(
        threads=args.threads,
        queues=args.queues.split(",") if args.queues else None,
        interval=args.interval,
    )
    return _run_until_signalled(worker.run)


def cmd_scheduler(args: argparse.Namespace) -> int:
    from kassa.platform import scheduler

    return _run_until_signalled(lambda stop: scheduler.run(stop, interval=args.interval))


def cmd_migrate(args: argparse.Namespace) -> int:
    from django.conf import settings

    if settings.CONFIG.embedded:
        settings.CONFIG.data_dir.mkdir(parents=True, exist_ok=True)
    _migrate(verbosity=1)
    return 0


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from kassa.ledger.verify import verify

    with Progress(transient=True) as bar:
        job = bar.add_task("Verifying the ledger", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(job, completed=done, total=max(total, 1))

        problems = verify(progress)
    if args.json:
        print(json.dumps({"ok": not problems, "problems": [p.__dict__ for p in problems]}))
    elif problems:
        print(f"The ledger has {len(problems)} problem(s):")
        for problem in problems:
            print(f"  {problem.kind} #{problem.object_id}: {problem.detail}")
    else:
        print(
            "The ledger is consistent: every balance matches its entries"
            " and every transaction sums to zero."
        )
    return 1 if problems else 0


def cmd_org_create(args: argparse.Namespace) -> int:
    from kassa.core.actors import Actor
    from kassa.core.errors import KassaError
    from kassa.core.services import create_api_key, create_organization

    actor = Actor.system("cli")
    try:
        org = create_organization(
            name=args.name,
            actor=actor,
            currency=args.currency,
            timezone_name=args.timezone,
            locale=args.locale,
        )
    except KassaError as exc:
        print(f"kassa: {exc.message}", file=sys.stderr)
        return 2
    issued = create_api_key(org, actor=actor, mode="test", name="created by kassa org create")
    result = {
        "id": org.id,
        "name": org.name,
        "currency": org.default_currency,
        "timezone": org.timezone,
        "locale": org.locale,
        "api_key": issued.secret,
        "api_key_id": issued.key.id,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Organization {org.name} ({org.id}) created.")
        print(f"Test API key (shown once): {issued.secret}")
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    from kassa.core.actors import Actor
    from kassa.core.errors import KassaError
    from kassa.core.models import Organization
    from kassa.core.services import add_staff_member

    org = Organization.objects.filter(pk=args.org).first()
    if org is None:
        print(f"kassa: no organization {args.org!r}.", file=sys.stderr)
        return 2
    try:
        add_staff_member(
            org, email=args.email, role=args.role, password=args.password, actor=Actor.system("cli")
        )
    except KassaError as exc:
        print(f"kassa: {exc.message}", file=sys.stderr)
        return 2
    print(f"{args.email} is now {args.role} of {org.name}.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from django.conf import settings

    from kassa.customers.demo import load_demo

    if settings.CONFIG.embedded:
        settings.CONFIG.data_dir.mkdir(parents=True, exist_ok=True)
        _migrate()
    info = load_demo()
    if args.json:
        print(json.dumps(info))
        return 0
    base = settings.CONFIG.base_url
    print("Demo data is loaded.")
    print(f"  Organization   {info['organization']['name']} ({info['organization']['id']})")
    print(
        f"  Admin          {base}/admin/   "
        f"login {info['staff']['email']} / {info['staff']['password']}"
    )
    print(f"  API docs       {base}/v1/docs   API key {info['api_key']}")
    for label, url in info.get("links", {}).items():
        print(f"  {label:<14} {url}")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kassa manage", *args.rest])
    return 0


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kassa", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the web server (and, on SQLite, the worker and scheduler too)",
        description="Run Kassa's web server. On the embedded SQLite default this also creates the "
        "data directory, applies migrations and starts a background worker and the scheduler; "
        "Ctrl-C stops them all. With PostgreSQL it runs the web server only: start `kassa worker` "
        "and one `kassa scheduler` separately.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="web server processes")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker",
        help="run background jobs (emails, webhooks, gateway follow-ups)",
        description="Run background jobs from the database queue. Start as many as you like, on "
        "as many machines as you like.",
    )
    worker.add_argument("--threads", type=int, default=4)
    worker.add_argument("--queues", default="", help="comma-separated queues (default: all)")
    worker.add_argument("--interval", type=float, default=0.5, help="idle poll interval, seconds")
    worker.set_defaults(func=cmd_worker)

    scheduler = sub.add_parser(
        "scheduler",
        help="enqueue periodic jobs when they are due",
        description="Enqueue periodic jobs (pruning, reminders, reconciliation) when due. Jobs "
        "missed while it was down run at once on start.",
    )
    scheduler.add_argument("--interval", type=float, default=5.0, help="seconds between ticks")
    scheduler.set_defaults(func=cmd_scheduler)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(func=cmd_migrate)

    ledger = sub.add_parser("ledger", help="ledger tools").add_subparsers(
        dest="ledger_command", metavar="<ledger command>", required=True
    )
    verify = ledger.add_parser(
        "verify",
        help="recompute every balance from its entries; exit 1 on any mismatch",
        description="Recompute every account balance from its entries and every transaction's "
        "sum. Prints a report and exits with status 1 if anything does not add up.",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_ledger_verify)

    org = sub.add_parser("org", help="organizations").add_subparsers(
        dest="org_command", metavar="<org command>", required=True
    )
    create = org.add_parser(
        "create",
        help="create an organization with a test-mode API key",
        description="Create an organization and a test-mode API key (shown once).",
    )
    create.add_argument("--name", required=True)
    create.add_argument("--currency", default="UZS", help="default currency (ISO 4217)")
    create.add_argument("--timezone", default="Asia/Tashkent", help="IANA time zone")
    create.add_argument("--locale", default="ru", help="en, de, ru or uz")
    create.add_argument("--json", action="store_true", help="print one line of JSON")
    create.set_defaults(func=cmd_org_create)

    staff = sub.add_parser("staff", help="staff users").add_subparsers(
        dest="staff_command", metavar="<staff command>", required=True
    )
    add = staff.add_parser(
        "add", help="give a user (created if needed) a role in an organization's admin"
    )
    add.add_argument("--org", required=True, help="organization id (org_...)")
    add.add_argument("--email", required=True)
    add.add_argument("--role", default="admin", help="owner, admin, finance or viewer")
    add.add_argument("--password", default=None)
    add.set_defaults(func=cmd_staff_add)

    demo = sub.add_parser(
        "demo",
        help="load demo data (idempotent) and print where to go",
        description="Load a demo organization, staff login, customers and payable demo objects. "
        "Running it again changes nothing and prints the same credentials.",
    )
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=cmd_demo)

    manage = sub.add_parser(
        "manage", help="run a Django management command (for developers)", add_help=False
    )
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=cmd_manage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "func"}
    bad = unstorable_path(options, "")
    if bad is not None:
        # Bytes that are not UTF-8 reach argv as lone surrogates; NUL cannot be stored either.
        print(
            f"kassa: --{bad.replace('_', '-')} holds characters that cannot be stored "
            "(NUL or bytes that are not UTF-8).",
            file=sys.stderr,
        )
        return 2
    try:
        _setup_django()
    except ConfigError as exc:
        print(f"kassa: {exc}", file=sys.stderr)
        return 2
    from django.db.utils import DatabaseError

    try:
        if args.func is not cmd_manage:
            _check_database()
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"kassa: {exc}", file=sys.stderr)
        return 2
    except DatabaseError as exc:
        print(f"kassa: {_database_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
