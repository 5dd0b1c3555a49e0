"""``python -m markets`` is the ``markets`` command."""

from markets.cli import app

app(prog_name="markets")
