"""Every ```python block in docs/*.md and README.md runs, so the guides cannot rot.

Blocks fenced as ``python`` are executed top to bottom, each guide as one fresh
module (registered in ``sys.modules`` while it runs) in a temporary working
directory; fence a fragment as ``py`` to exclude it.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _runnable(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text())


RUNNABLE = [path for path in GUIDES if _runnable(path)]


def test_guides_have_examples() -> None:
    assert len(RUNNABLE) >= 3


@pytest.mark.parametrize("guide", RUNNABLE, ids=lambda path: path.name)
def test_guide_examples_run(
    guide: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(f"guide_{guide.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # as importing a file would
    for index, block in enumerate(_runnable(guide)):
        code = compile(block, f"{guide.name}[block {index}]", "exec", dont_inherit=True)
        exec(code, module.__dict__)
    capsys.readouterr()
