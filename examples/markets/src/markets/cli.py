"""``markets``: serve the API and manage its database."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from uvicorn.supervisors import ChangeReload, Multiprocess

from markets.config import Settings
from markets.domain.errors import EmailTakenError
from markets.domain.users import EMAIL_PATTERN, MIN_PASSWORD_CHARS, Role
from markets.jobs.celery_worker import POOLS, run_celery
from markets.jobs.standalone import BACKENDS, run_worker
from markets.migrate import upgrade
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.accounts import UserView
from markets.services.admin_users import AdminUserService
from markets.services.demo_data import (
    DEMO_ADMIN_EMAIL,
    DemoSize,
    ensure_demo_admin_password,
    seed_demo,
)
from tiered.clock import SystemClock
from tiered.db import Database, is_sqlite
from tiered.errors import ConfigurationError
from tiered.security import Argon2PasswordHasher

app = typer.Typer(
    help="The markets reference service: a prediction-markets API built on tiered.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _fail(message: str, code: int) -> typer.Exit:
    console.print(f"markets: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


def _settings() -> Settings:
    """The settings, or a readable refusal (exit status 2) instead of a traceback.

    They fail closed: without ``MARKETS_ENVIRONMENT=dev`` (``make serve`` sets
    it) the environment is ``production``, which refuses the published dev secrets.
    """
    try:
        return Settings()
    except ConfigurationError as error:
        raise _fail(str(error), code=2) from None


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (MARKETS_DATABASE_URL) to REVISION."""
    settings = _settings()
    upgrade(settings.database_url, revision)
    console.print(f"[green]database at revision {revision}[/green]")


async def _seed(settings: Settings, size: DemoSize, *, only_if_empty: bool) -> int:
    database = Database.from_settings(settings)
    try:
        if only_if_empty:
            async with MarketsUnitOfWork(database.sessionmaker).read_only() as uow:
                if await uow.users.count() > 0:
                    return 0
        total = size.users + size.markets + size.positions
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("seeding demo data", total=total)
            created = await seed_demo(
                lambda: MarketsUnitOfWork(database.sessionmaker),
                size,
                lambda done: progress.advance(task, done),
            )
        await database.analyze()  # the planner's statistics, for the bulk just loaded
        return created
    finally:
        await database.dispose()


@app.command("seed-demo")
def seed_demo_command(
    users: Annotated[int, typer.Option(min=2, help="Demo users (user0 is admin).")] = 20,
    markets: Annotated[int, typer.Option(min=1, help="Demo markets.")] = 200,
    positions: Annotated[int, typer.Option(min=0, help="Demo positions.")] = 1000,
) -> None:
    """Add demo users, markets and positions; running it again adds only what is missing."""
    created = asyncio.run(
        _seed(_settings(), DemoSize(users, markets, positions), only_if_empty=False)
    )
    console.print(f"[green]demo data ready ({created} rows created)[/green]")


DEMO_ADMIN_PASSWORD_FILE = Path("var") / "demo-admin-password"


def _generated_password() -> str:
    """24 URL-safe characters (144 random bits): far past the policy's length and lists."""
    return secrets.token_urlsafe(18)


def demo_admin_password(path: Path = DEMO_ADMIN_PASSWORD_FILE) -> tuple[str, bool]:
    """The demo admin's password kept in ``path``, or a new one written there; whether new.

    The file is created readable by its owner only (0600), and put back to
    0600 if someone widened it.
    """
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        kept = ""
    if len(kept) >= MIN_PASSWORD_CHARS:
        path.chmod(0o600)
        return kept, False
    path.parent.mkdir(parents=True, exist_ok=True)
    password = _generated_password()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(password + "\n")
    path.chmod(0o600)  # O_CREAT's mode applies to a new file only
    return password, True


async def _with_hasher(settings: Settings, password: str, *, replace: bool) -> bool | None:
    database = Database.from_settings(settings)
    hasher = Argon2PasswordHasher()
    try:
        return await ensure_demo_admin_password(
            lambda: MarketsUnitOfWork(database.sessionmaker), hasher, password, replace=replace
        )
    finally:
        hasher.close()
        await database.dispose()


def _announce_demo_admin(settings: Settings, origin: str) -> None:
    """Make sure the demo admin can sign in, and say how."""
    password, new = demo_admin_password()
    if asyncio.run(_with_hasher(settings, password, replace=new)) is None:
        return
    console.print(
        f"sign in as [bold]{DEMO_ADMIN_EMAIL}[/bold], password [bold]{password}[/bold] "
        f"(kept in {DEMO_ADMIN_PASSWORD_FILE}): Authorize at {origin}/docs, or POST a form "
        f"with username and password to {origin}/api/v1/auth/token",
        highlight=False,
        soft_wrap=True,
    )


async def _create_user(
    settings: Settings, email: str, name: str, role: Role
) -> tuple[UserView, str]:
    database = Database.from_settings(settings)
    hasher = Argon2PasswordHasher()
    password = _generated_password()
    try:
        service = AdminUserService(MarketsUnitOfWork(database.sessionmaker), SystemClock())
        view = await service.create(
            hasher, email=email, display_name=name, role=role, password=password
        )
        return view, password
    finally:
        hasher.close()
        await database.dispose()


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="The new account's email address.")],
    role: Annotated[Role, typer.Option(help="The account's role.")] = Role.USER,
    display_name: Annotated[
        str | None, typer.Option(help="How others see the account (default: before the @).")
    ] = None,
) -> None:
    """Create an account and print its generated password on stdout, the only time it is shown."""
    settings = _settings()
    email = email.strip()
    if re.fullmatch(EMAIL_PATTERN, email) is None:
        raise _fail(f"{email!r} is not an email address", code=2)
    name = display_name or email.split("@")[0]
    try:
        view, password = asyncio.run(_create_user(settings, email, name, role))
    except EmailTakenError:
        raise _fail(f"an account with the email {email} already exists", code=1) from None
    console.print(f"[green]created {view.role.value} {view.email} ({view.id})[/green]")
    typer.echo(password)


@app.command()
def worker(
    backend: Annotated[
        str | None,
        typer.Option(
            help="Job backend: inprocess (poll the jobs table) or celery (consume "
            "MARKETS_JOBS_BROKER_URL, default MARKETS_REDIS_URL, and run the relay). "
            "Default: MARKETS_JOBS_BACKEND."
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run the jobs due now, then exit (inprocess only).")
    ] = False,
    pool: Annotated[
        str, typer.Option(help="Celery only: prefork (a process per job slot), solo or threads.")
    ] = "prefork",
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs run at once (default: MARKETS_JOBS_CONCURRENCY)."),
    ] = None,
) -> None:
    """Run background jobs (emails, notifications, imports) until SIGINT or SIGTERM."""
    settings = _settings()
    chosen = str(backend or settings.jobs_backend).lower()
    if chosen not in BACKENDS:
        raise _fail(
            f"the {chosen!r} job backend is not available to `markets worker`; "
            f"choose {' or '.join(BACKENDS)}",
            code=2,
        )
    if chosen == "celery":
        if once:
            raise _fail("--once runs the inprocess backend only", code=2)
        if pool not in POOLS:
            raise _fail(f"the {pool!r} pool is unknown; choose {', '.join(POOLS)}", code=2)
        if not (settings.jobs_broker_url or settings.redis_url):
            raise _fail("the celery backend needs MARKETS_JOBS_BROKER_URL or MARKETS_REDIS_URL", 2)
        raise typer.Exit(code=run_celery(settings, pool=pool, concurrency=concurrency))
    if concurrency is not None:
        settings = settings.model_copy(update={"jobs_concurrency": concurrency})
    ran = asyncio.run(run_worker(settings, once=once))
    if once:
        console.print(f"[green]ran {ran} job tr{'y' if ran == 1 else 'ies'}[/green]")


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on ``host:port``, or a one-line refusal (exit status 1).

    Binding comes first, before migrating or printing the URL, so that a port
    already taken is reported instead of a server that says it is up and then
    dies. The socket itself is handed to uvicorn: checking and closing would
    leave a window in which another process takes the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            other = port + 1 if port < 65535 else 8001
            message = (
                f"port {port} is in use; choose another with `make serve PORT={other}`"
                f" or `markets serve --port {other}`"
            )
        else:
            message = f"cannot listen on {host}:{port}: {error.strerror or error}"
        raise _fail(message, code=1) from None
    sock.set_inheritable(True)
    return sock


def _origin(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _run(config: uvicorn.Config, sock: socket.socket) -> bool:
    """Serve on ``sock`` as ``uvicorn.run`` would on its own socket; ``False`` if start failed."""
    server = uvicorn.Server(config)
    try:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[sock]).run()
        elif config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
            return server.started
    except KeyboardInterrupt:
        pass
    return True


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (dev only).")] = False,
    migrate_first: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Upgrade the schema before serving (default: yes on embedded SQLite).",
        ),
    ] = None,
    seed: Annotated[
        bool | None,
        typer.Option(
            "--seed/--no-seed",
            help="Seed demo data into an empty database (default: yes on embedded SQLite).",
        ),
    ] = None,
) -> None:
    """Run the HTTP API with uvicorn (its access log is off: the app logs each request)."""
    settings = _settings()
    with _listen(host, port) as sock:
        bound_port: int = sock.getsockname()[1]  # the one the system chose for --port 0
        embedded = is_sqlite(settings.database_url)
        if migrate_first if migrate_first is not None else embedded:
            upgrade(settings.database_url)
        origin = _origin(host, bound_port)
        if seed if seed is not None else embedded:
            created = asyncio.run(_seed(settings, DemoSize(), only_if_empty=True))
            if created:
                console.print(f"[green]seeded demo data ({created} rows)[/green]")
            _announce_demo_admin(settings, origin)
        console.print(f"[bold]markets[/bold] on {origin}  ·  docs: {origin}/docs")
        config = uvicorn.Config(
            "markets.main:create_app",
            factory=True,
            host=host,
            port=bound_port,
            workers=workers,
            reload=reload,
            access_log=False,
            log_config=None,
            server_header=False,
            proxy_headers=False,
        )
        started = _run(config, sock)
    if not started:
        raise typer.Exit(code=3)
