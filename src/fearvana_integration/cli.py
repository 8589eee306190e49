"""The ``fearvana-integration`` command line.

Standard output carries only the command's output; logs and progress go to standard error. Every
error is one line on standard error and a non-zero exit (2 for bad usage or settings, 1 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, TypeVar
from uuid import UUID, uuid4

import typer
from rich.console import Console

from fearvana_integration.cli_tables import audit_table, config_tables, health_tables, print_tables
from fearvana_integration.clock import SystemClock
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.context.render import render_context
from fearvana_integration.domain.health import HealthStatus
from fearvana_integration.errors import BudgetTooSmall, ConfigurationError, IntegrationError, InvalidInput
from fearvana_integration.manager import IntegrationManager
from fearvana_integration.observability.audit import audit_context
from fearvana_integration.observability.logging import configure_logging
from fearvana_integration.runtime import build_runtime

T = TypeVar("T")

app = typer.Typer(
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Everything an AI coach should know about one customer.",
)
db_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True, help="Create and fill the customer store.")
config_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True, help="Inspect the effective configuration.")
audit_app = typer.Typer(
    rich_markup_mode=None, no_args_is_help=True, help="The audit trail of customer data reads and writes."
)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")


class ContextFormat(StrEnum):
    """Output of ``context``."""

    prompt = "prompt"
    json = "json"


class OutputFormat(StrEnum):
    """Output of listings: a table for people, JSON for scripts."""

    table = "table"
    json = "json"


def _settings() -> Settings:
    settings = load_settings()
    # The CLI's errors are one line each; its logs stay quiet unless LOG_LEVEL asks for them.
    level = settings.log_level if "log_level" in settings.model_fields_set else "ERROR"
    configure_logging(level, settings.log_format)
    return settings


def _with_manager(settings: Settings, work: Callable[[IntegrationManager], Awaitable[T]]) -> T:
    async def run() -> T:
        manager = IntegrationManager(build_runtime(settings))
        try:
            with audit_context(actor="cli", correlation_id=uuid4().hex):
                result = await work(manager)
        except BaseException:
            # The command's own error is the one to report; closing may fail for the same reason.
            with contextlib.suppress(Exception):
                await manager.aclose()
            raise
        await manager.aclose()
        return result

    return asyncio.run(run())


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def context(
    customer: Annotated[str, typer.Argument(help="The customer's UUID or email.")],
    format: Annotated[ContextFormat, typer.Option("--format", "-f", help="prompt: the counted text; json.")] = (
        ContextFormat.prompt
    ),
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Token budget (minimum 50).")] = None,
) -> None:
    """Print one customer's context: the prompt text (exactly what tokenCount counts) or its JSON."""
    settings = _settings()
    ctx = _with_manager(settings, lambda m: m.get_customer_context(customer, max_tokens))
    if format is ContextFormat.json:
        _out(json.dumps(ctx.to_json_dict(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_context(ctx))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (non-loopback needs a real secret).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    ssl_certfile: Annotated[
        str | None,
        typer.Option(
            "--ssl-certfile",
            metavar="PATH",
            help="Serve HTTPS (TLS 1.2 or newer only) with this PEM certificate chain. "
            "In production, prefer TLS at a reverse proxy in front.",
        ),
    ] = None,
    ssl_keyfile: Annotated[
        str | None,
        typer.Option(
            "--ssl-keyfile", metavar="PATH", help="The certificate's PEM private key (unless in the certificate file)."
        ),
    ] = None,
) -> None:
    """Start the HTTP service (uvicorn). Without a configured JWT secret, a development one is generated.

    Request limits are on: see the HTTP_* settings (README "The HTTP service").
    """
    from fearvana_integration.service import server
    from fearvana_integration.service.devsecret import check_bind, check_port, ensure_secret

    settings = _settings()
    tls = server.check_tls_files(ssl_certfile, ssl_keyfile)  # before anything is written or bound
    check_bind(host, settings)
    check_port(host, port)
    settings = ensure_secret(settings)
    configure_logging(settings.log_level, settings.log_format)
    server.run(host, port, workers, settings=settings, tls=tls)


@app.command()
def token(
    customer: Annotated[str | None, typer.Argument(help="The customer's UUID or email.")] = None,
    service: Annotated[bool, typer.Option("--service", help="A service-role token instead.")] = False,
    ttl: Annotated[int, typer.Option("--ttl", min=60, max=31 * 86400, help="Validity in seconds.")] = 3600,
) -> None:
    """Mint a JWT with the configured secret, for local use (prints only the token)."""
    from fearvana_integration.service.auth import mint_token
    from fearvana_integration.service.devsecret import ensure_secret, needs_secret

    if service == (customer is not None):
        raise InvalidInput("Give either a customer (UUID or email) or --service")
    settings = _settings()
    if settings.supabase_jwt_secret is None and not needs_secret(settings):
        raise InvalidInput("Tokens can only be minted with SUPABASE_JWT_SECRET (this deployment uses a JWKS URL)")
    subject = None
    if customer is not None:
        reference = customer

        async def resolve(manager: IntegrationManager) -> UUID:
            return (await manager.runtime.assembler.resolve(_customer_reference(reference))).id

        subject = _with_manager(settings, resolve)
    settings = ensure_secret(settings)  # only once the customer was found: a failing command writes nothing
    assert settings.supabase_jwt_secret is not None
    secret = settings.supabase_jwt_secret.get_secret_value()
    _out(mint_token(secret, subject=subject, audience=settings.supabase_jwt_audience, ttl_seconds=ttl))


@app.command()
def health(
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """Ping every source; exit 1 when the customer store is down."""
    settings = _settings()
    status = _with_manager(settings, lambda m: m.get_health_status())
    if format is OutputFormat.json:
        _out(json.dumps(status.to_json_dict(), indent=2))
    else:
        print_tables(*health_tables(status))
    if status.status == "unhealthy":
        raise typer.Exit(1)


@config_app.command("check")
def config_check(
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """Print the effective settings (secrets masked), whether each source answers, and advice."""
    settings = _settings()

    async def check(manager: IntegrationManager) -> tuple[HealthStatus, tuple[str, ...]]:
        status = await manager.get_health_status()
        advice: tuple[str, ...] = ()
        if status.services["supabase"].schema_ == "ok":
            advice = (await manager.runtime.store.check_schema()).advice
        return status, advice

    status, advice = _with_manager(settings, check)
    rows = settings.effective()
    if format is OutputFormat.json:
        document = {"settings": dict(rows), "health": status.to_json_dict(), "advice": list(advice)}
        _out(json.dumps(document, indent=2))
    else:
        print_tables(*config_tables(rows, status, advice))


@db_app.command("init")
def db_init(
    supabase_compat: Annotated[
        bool,
        typer.Option(
            "--supabase-compat",
            help="Postgres only: first create what Supabase provides (roles, auth, product tables, policies).",
        ),
    ] = False,
) -> None:
    """Create the embedded database, or migrate the project's own schema on Postgres (safe to repeat)."""
    settings = _settings()
    for line in asyncio.run(_init(settings, supabase_compat)):
        _out(line)


async def _init(settings: Settings, supabase_compat: bool, *, rebuild_outdated: bool = False) -> list[str]:
    from fearvana_integration.store.admin import init_postgres, init_sqlite
    from fearvana_integration.store.engine import create_engine, sqlite_path

    if settings.database_backend == "sqlite":
        if supabase_compat:
            raise InvalidInput("--supabase-compat is for PostgreSQL; the SQLite file always has every table")
        path = sqlite_path(settings.database_url.get_secret_value())
        engine = create_engine(settings, create=True)
        try:
            return await init_sqlite(engine, path, rebuild_outdated=rebuild_outdated)
        finally:
            await engine.dispose()
    engine = create_engine(settings, pooled=False)
    try:
        done = await init_postgres(engine, supabase_compat=supabase_compat)
    finally:
        await engine.dispose()
    return [f"{line[0].upper()}{line[1:]}." for line in done]


@db_app.command("seed-demo")
def db_seed_demo(
    customers: Annotated[int, typer.Option("--customers", "-n", help="How many customers (at least 6).")] = 12,
    entries_per_customer: Annotated[
        float | None, typer.Option("--entries-per-customer", help="About this many entries per generated customer.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Postgres: write even into a database not made by --supabase-compat.")
    ] = False,
) -> None:
    """Fill the database with deterministic demo customers (runs ``db init`` first); prints who they are."""
    if customers < 6 or customers > 100_000:
        raise InvalidInput(f"--customers must be between 6 and 100000 (got {customers})")
    if entries_per_customer is not None and not 0 <= entries_per_customer <= 400:
        raise InvalidInput(f"--entries-per-customer must be between 0 and 400 (got {entries_per_customer})")
    settings = _settings()
    rows = asyncio.run(_seed(settings, customers, entries_per_customer, force))
    shown = rows[:20]
    width = max(len(email) for email, *_ in shown)
    lines = [f"Seeded {len(rows)} demo customers:"]
    lines += [f"  {email:<{width}}  {cid}  {name}: {scenario}" for email, cid, name, scenario in shown]
    if len(rows) > len(shown):
        lines.append(f"  … and {len(rows) - len(shown)} more")
    _out("\n".join(lines))


async def _seed(
    settings: Settings, customers: int, entries_per_customer: float | None, force: bool
) -> list[tuple[str, str, str, str]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fearvana_integration.store.admin import created_by_compat
    from fearvana_integration.store.demo import seed_demo
    from fearvana_integration.store.engine import create_engine

    sqlite = settings.database_backend == "sqlite"
    for line in await _init(settings, supabase_compat=False, rebuild_outdated=True) if sqlite else []:
        print(line, file=sys.stderr)
    engine = create_engine(settings, create=True)
    try:
        if settings.database_backend == "postgres" and not force and not await created_by_compat(engine):
            raise InvalidInput(
                "Refusing to write demo customers into a PostgreSQL database that `db init --supabase-compat` "
                "did not create (it may be a real Supabase project); pass --force to do it anyway"
            )
        columns = (TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task("seed", total=customers)
            seeded = await seed_demo(
                engine,
                settings.database_backend,
                count=customers,
                now=SystemClock().now(),
                mean_entries=entries_per_customer,
                progress=lambda done, _total: bar.update(task, completed=done),
            )
    finally:
        await engine.dispose()
    return [(c.email, str(c.id), c.display_name, c.scenario) for c in seeded]


_DURATION = re.compile(r"^\s*(\d+)\s*([ydh])\s*$")


def parse_age(text: str) -> timedelta:
    """``7y``, ``30d``, ``12h`` → a timedelta (a year is 365 days)."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidInput(f"--older-than must look like 7y, 30d or 12h (got {text!r})")
    amount, unit = int(match.group(1)), match.group(2)
    return (
        timedelta(days=365 * amount)
        if unit == "y"
        else timedelta(days=amount)
        if unit == "d"
        else timedelta(hours=amount)
    )


@audit_app.command("purge")
def audit_purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Age of rows to delete: 7y, 30d, 12h.")] = "7y",
) -> None:
    """Delete audit rows older than the retention (default 7 years); the purge itself is audited."""
    age = parse_age(older_than)
    settings = _settings()
    removed = _with_manager(settings, lambda m: m.runtime.audit.purge(age))
    _out(f"Removed {removed} audit rows older than {older_than}.")


@audit_app.command("show")
def audit_show(
    customer: Annotated[str, typer.Argument(help="The customer's UUID or email.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """The customer's newest audit rows: when, who, what, outcome, which data, correlation id."""
    settings = _settings()

    async def show(manager: IntegrationManager) -> list[dict[str, object]]:
        row = await manager.runtime.assembler.resolve(_customer_reference(customer))
        return await manager.runtime.audit.show(row.id, limit)

    rows = _with_manager(settings, show)
    if format is OutputFormat.json:
        _out(json.dumps(rows, indent=2, default=_json_value))
    elif not rows:
        _out("No audit rows for this customer.")
    else:
        print_tables(audit_table(rows))


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _customer_reference(text: str) -> UUID | str:
    try:
        return UUID(text.strip())
    except ValueError:
        return text.strip()


def _exit_code(error: IntegrationError) -> int:
    return 2 if isinstance(error, BudgetTooSmall | ConfigurationError | InvalidInput) else 1


def _is_usage_error(error: Exception) -> bool:
    # Typer's (vendored) click raises UsageError/BadParameter/NoSuchOption: all carry these two.
    return hasattr(error, "format_message") and isinstance(getattr(error, "exit_code", None), int)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the app, turn every failure into one line on stderr."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except IntegrationError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(_exit_code(error))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # the last line of defence: no traceback for the user
        if _is_usage_error(error):
            print(f"error: {error.format_message()}", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(2)
        print(
            f"error: unexpected {type(error).__name__}: {error} (please report this; LOG_LEVEL=DEBUG shows more)",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
