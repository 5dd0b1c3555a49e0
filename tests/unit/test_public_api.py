"""markets may use only what tiered exports: names listed in ``__all__``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKETS = ROOT / "examples" / "markets" / "src" / "markets"


def _tiered_imports() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(MARKETS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tiered"):
                found.extend(
                    (str(path.relative_to(ROOT)), node.module or "", alias.name)
                    for alias in node.names
                )
            elif isinstance(node, ast.Import):
                found.extend(
                    (str(path.relative_to(ROOT)), alias.name, "*")
                    for alias in node.names
                    if alias.name.startswith("tiered")
                )
    return found


IMPORTS = _tiered_imports()


def test_markets_uses_tiered() -> None:
    assert len(IMPORTS) >= 5


@pytest.mark.parametrize(("where", "module", "name"), IMPORTS)
def test_import_is_public(where: str, module: str, name: str) -> None:
    assert not any(part.startswith("_") for part in module.split(".")), f"{where}: {module}"
    exported = getattr(importlib.import_module(module), "__all__", None)
    assert exported is not None, f"{where}: {module} has no __all__"
    assert name == "*" or name in exported, f"{where}: {module}.{name} is not in __all__"


def test_every_public_name_exists() -> None:
    for path in sorted((ROOT / "src" / "tiered").rglob("*.py")):
        module_name = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        module_name = module_name.removesuffix(".__init__")
        if module_name.endswith("__main__"):
            continue
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"
