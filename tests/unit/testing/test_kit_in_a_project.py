"""The kit in a new project: the testing guide's files, run by a pytest of their own.

The project is taken from the fenced blocks of ``docs/testing.md`` whose first
line names a file (``# conftest.py``), so the guide cannot drift from what
works. Each run is a subprocess: the plugin loads from its entry point, as in
a project that only installed ``tiered[testing]``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "testing.md"
_FILE_BLOCK = re.compile(
    r"^```(?:python|toml)\n# (?P<path>[\w./-]+)\n(?P<body>.*?)^```", re.DOTALL | re.MULTILINE
)
_AUTO = 'asyncio_mode = "auto"'
_LOOP_SCOPE = 'asyncio_default_fixture_loop_scope = "function"'


def _guide_files() -> list[tuple[str, str]]:
    return [(match["path"], match["body"]) for match in _FILE_BLOCK.finditer(GUIDE.read_text())]


def _pyprojects() -> dict[str, str]:
    blocks = [body for path, body in _guide_files() if path == "pyproject.toml"]
    return {("auto" if _AUTO in body else "strict"): body for body in blocks}


def _guide_lines() -> list[str]:
    """The failure lines the guide quotes, as fnmatch patterns (``…`` and ``test_x`` match any)."""
    section = GUIDE.read_text().split("### When the setup is wrong", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"^\|[^|]*\| \*(.+)\* \|$", section, re.MULTILINE)
    return [line.replace("[", "[[]").replace("…", "*").replace("test_x", "*") for line in lines]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An empty project, without the environment the library's own suite sets."""
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester


def _write(project: pytest.Pytester, files: dict[str, str]) -> None:
    for relative, body in files.items():
        path = project.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


def test_the_guide_shows_a_whole_project() -> None:
    paths = [path for path, _ in _guide_files()]
    assert paths.count("pyproject.toml") == 2
    assert set(_pyprojects()) == {"strict", "auto"}
    assert "conftest.py" in paths
    assert any(path.startswith("tests/test_") for path in paths)
    assert len(_guide_lines()) == 4


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_guide_project_passes(project: pytest.Pytester, mode: str) -> None:
    files = {path: body for path, body in _guide_files() if path != "pyproject.toml"}
    _write(project, {**files, "pyproject.toml": _pyprojects()[mode]})

    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-v")

    result.assert_outcomes(passed=4, warnings=0)
    result.stdout.fnmatch_lines(["*test_hello PASSED*", "*test_a_note_is_saved PASSED*"])


_MISTAKES = {
    "conftest.py": """
import pytest
from fastapi import FastAPI

from tiered.app import create_app
from tiered.settings import AppSettings


@pytest.fixture
def settings(tmp_path) -> AppSettings:
    return AppSettings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")
""",
    "test_unmarked.py": """
import pytest
from tiered.app import create_app


@pytest.fixture
def app(settings):
    return create_app(settings, title="t")


async def test_unmarked(client):
    assert (await client.get("/health/live")).status_code == 200
""",
    "test_plain_async_database.py": """
import pytest
from sqlalchemy import text
from tiered.db import Database


@pytest.fixture
async def database(settings):
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


@pytest.mark.asyncio
async def test_first(db_session):
    assert (await db_session.execute(text("SELECT 1"))).scalar_one() == 1


@pytest.mark.asyncio
async def test_second(db_session):
    assert (await db_session.execute(text("SELECT 1"))).scalar_one() == 1
""",
    "test_no_app.py": """
import pytest


@pytest.mark.asyncio
async def test_no_app(client):
    assert client
""",
}


def test_strict_mode_mistakes_fail_with_one_line_each(project: pytest.Pytester) -> None:
    _write(project, {**_MISTAKES, "pyproject.toml": _pyprojects()["strict"]})

    result = project.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(errors=4)
    output = result.stdout.str()
    assert "AssertionError" not in output
    assert "not natively supported" not in output
    result.stdout.fnmatch_lines(
        [
            "test_unmarked is async and uses tiered's `client` fixture, but pytest-asyncio is in"
            " strict mode and the test has no @pytest.mark.asyncio: mark it (or the module:"
            ' pytestmark = pytest.mark.asyncio), or set asyncio_mode = "auto" under'
            " [tool.pytest.ini_options]",
        ]
    )
    for test in ("test_first", "test_second"):
        result.stdout.fnmatch_lines(
            [
                f"*ERROR at setup of {test}*",
                "the `database` fixture (used by tiered's `db_session`) is async under"
                " @pytest.fixture, which pytest-asyncio's strict mode does not run: declare it"
                ' with @pytest_asyncio.fixture, or set asyncio_mode = "auto" under'
                " [tool.pytest.ini_options]",
            ]
        )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_no_app*",
            "tiered's `client` fixture needs a fixture named `app` returning your ASGI app:"
            " define one in your conftest.py",
        ]
    )
    quoted = [line for line in _guide_lines() if "needs pytest-asyncio" not in line]
    result.stdout.fnmatch_lines_random(quoted)


def test_auto_mode_runs_what_strict_mode_refuses(project: pytest.Pytester) -> None:
    _write(project, {**_MISTAKES, "pyproject.toml": _pyprojects()["auto"]})

    result = project.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*tiered's `client` fixture needs a fixture named `app`*"])


_WITHOUT_PYTEST_ASYNCIO = """
import sys

import pytest


class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pytest_asyncio":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, Uninstalled())
sys.exit(pytest.main(["-p", "no:asyncio", "-p", "no:cacheprovider", "--assert=plain"]))
"""


def test_without_pytest_asyncio_pytest_still_runs(project: pytest.Pytester) -> None:
    """The entry point loads the plugin in every project with tiered installed."""
    _write(
        project,
        {
            "pyproject.toml": "[tool.pytest.ini_options]\n",
            "test_it.py": (
                "def test_clock(clock):\n    assert clock.now().year == 2026\n\n\n"
                "async def test_client(client):\n    assert client\n"
            ),
        },
    )
    result = project.run(sys.executable, "-c", _WITHOUT_PYTEST_ASYNCIO)

    result.assert_outcomes(passed=1, errors=1)
    line = "tiered's `client` fixture needs pytest-asyncio: install tiered[testing]"
    result.stdout.fnmatch_lines([line])
    assert line.replace("[", "[[]") in _guide_lines()
