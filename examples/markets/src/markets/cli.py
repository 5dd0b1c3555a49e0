"""``markets``: serve the API and manage its database."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress

from markets.config import Settings
from markets.migrate import upgrade
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.demo_data import DemoSize, seed_demo
from tiered.db import Database, is_sqlite
from tiered.errors import ConfigurationError

app = typer.Typer(
    help="The markets reference service: a prediction-markets API built on tiered.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _settings() -> Settings:
    """The settings, or a readable refusal (exit status 2) instead of a traceback.

    They fail closed: without ``MARKETS_ENVIRONMENT=dev`` (``make serve`` sets
    it) the environment is ``production``, which refuses the published dev secrets.
    """
    try:
        return Settings()
    except ConfigurationError as error:
        console.print(
            f"markets: {error}", style="red", markup=False, highlight=False, soft_wrap=True
        )
        raise typer.Exit(code=2) from None


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
            return await seed_demo(
                lambda: MarketsUnitOfWork(database.sessionmaker),
                size,
                lambda done: progress.advance(task, done),
            )
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
    embedded = is_sqlite(settings.database_url)
    if migrate_first if migrate_first is not None else embedded:
        upgrade(settings.database_url)
    if seed if seed is not None else embedded:
        created = asyncio.run(_seed(settings, DemoSize(), only_if_empty=True))
        if created:
            console.print(f"[green]seeded demo data ({created} rows)[/green]")
    console.print(
        f"[bold]markets[/bold] on http://{host}:{port}  ·  docs: http://{host}:{port}/docs"
    )
    uvicorn.run(
        "markets.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
    )
