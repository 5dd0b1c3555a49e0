"""Migrate and seed markets databases, all in one process of the main ``.venv``.

``python bench/seed.py USERS MARKETS POSITIONS URL...``: for each URL, the
``markets migrate`` and ``markets seed-demo`` commands, run in process so
that markets is imported once however many databases there are.
"""

from __future__ import annotations

import os
import sys

from markets.cli import app


def main() -> None:
    users, markets, positions, *urls = sys.argv[1:]
    for url in urls:
        os.environ["MARKETS_DATABASE_URL"] = url
        app(["migrate"], standalone_mode=False)
        seed = ["seed-demo", f"--users={users}", f"--markets={markets}", f"--positions={positions}"]
        app(seed, standalone_mode=False)


if __name__ == "__main__":
    main()
