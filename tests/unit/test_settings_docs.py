"""docs/application.md's settings tables are the ones the settings classes generate."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from markets.config import Settings as MarketsSettings
from tiered.settings import DEV_CURSOR_SECRET, DEV_JWT_SECRET, AppSettings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "settings_table.py"


@pytest.fixture(scope="module")
def table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_guide_shows_the_generated_tables(table: ModuleType) -> None:
    current = table.generated_part(table.GUIDE.read_text())
    assert current is not None, f"{table.GUIDE} lost the markers {table.BEGIN!r} … {table.END!r}"
    assert current == table.render(), (
        f"the settings tables of {table.GUIDE.name} differ from the settings classes: "
        f"run `{table.REGENERATE}`"
    )


def test_every_setting_has_a_row_and_a_meaning(table: ModuleType) -> None:
    rendered = table.render()
    for cls in (AppSettings, MarketsSettings):
        for name in cls.model_fields:
            assert f"| `{name}` |" in rendered
            assert table.description(cls, name), f"{cls.__name__}.{name} has no description"
    assert "`MARKETS_IMPORT_MAX_BYTES`" in rendered
    assert "`MARKETS_DATABASE_URL` | `str` | `sqlite+aiosqlite:///var/markets.db` |" in rendered


def test_secrets_never_show_their_default(table: ModuleType) -> None:
    rendered = table.render()
    assert DEV_JWT_SECRET not in rendered
    assert DEV_CURSOR_SECRET not in rendered
    for name in ("jwt_secret", "cursor_secret"):
        row = next(line for line in rendered.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| `secret` | {table.SECRET_DEFAULT} |" in row


def test_types_show_their_bounds(table: ModuleType) -> None:
    rendered = table.render()
    assert "| `int ≥ 1` | `5` |" in rendered
    assert "| `float > 0` | `2.0` |" in rendered
    assert "| `dev \\| test \\| production` | `production` |" in rendered
    assert "| `bool \\| None` | unset |" in rendered


def test_check_fails_on_a_stale_guide_and_write_repairs_it(
    table: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = tmp_path / "application.md"
    guide.write_text(f"# Settings\n\n{table.BEGIN}\n| old | table |\n{table.END}\n\nafter\n")

    assert table.main(["--check"], guide=guide) == 1
    assert table.REGENERATE in capsys.readouterr().out
    assert table.main(["--write"], guide=guide) == 0
    assert table.main(["--check"], guide=guide) == 0
    assert guide.read_text() == f"# Settings\n\n{table.render()}\n\nafter\n"

    guide.write_text("no markers")
    assert table.main(["--check"], guide=guide) == 1
