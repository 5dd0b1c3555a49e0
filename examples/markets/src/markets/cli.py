"""``markets``: serve the API and manage its database."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from markets.config import Settings
from markets.migrate import upgrade
from tiered.db import is_sqlite

app = typer.Typer(
    help="The markets reference service: a prediction-markets API built on tiered.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (MARKETS_DATABASE_URL) to REVISION."""
    settings = Settings()
    upgrade(settings.database_url, revision)
    console.print(f"[green]database at revision {revision}[/green]")


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
) -> None:
    """Run the HTTP API with uvicorn (its access log is off: the app logs each request)."""
    settings = Settings()
    if migrate_first if migrate_first is not None else is_sqlite(settings.database_url):
        upgrade(settings.database_url)
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
