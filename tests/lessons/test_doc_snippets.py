"""The Python blocks of the README and docs/*.md name nothing they do not define or import.

A reader pastes a block as it stands; a name used but never imported (``torch`` in a snippet that only imported
``rnnkit.lm``) fails for them with a NameError. Each block is read on its own, by ruff's undefined-name rule
(F821), so a block cannot lean on an earlier one either. A block that opens with ``# signatures`` shows calls with
placeholder arguments, says so to the reader, and is not checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks() -> list[tuple[str, str]]:
    return [(f"{page.relative_to(ROOT)}[{i}]", block) for page in PAGES
            for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
            if not block.startswith("# signatures")]


def undefined_names(source: str, tmp_path: Path) -> str:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (make installs it with the dev extra)")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(source)
    done = subprocess.run([ruff, "check", "--no-cache", "--isolated", "--select", "F821", "--output-format",
                           "concise", str(snippet)], capture_output=True, text=True)
    return done.stdout if done.returncode else ""


def test_the_docs_have_python_blocks():
    assert len(python_blocks()) >= 7  # README, index, charlm, architecture (2), guide/layers, guide/models


@pytest.mark.parametrize(("where", "block"), python_blocks(), ids=[where for where, _ in python_blocks()])
def test_block_defines_or_imports_every_name(where: str, block: str, tmp_path: Path):
    assert undefined_names(block, tmp_path) == "", f"{where} uses a name it does not import"


def test_the_check_finds_a_missing_import(tmp_path: Path):
    assert "F821" in undefined_names("from rnnkit.lm import sample\ng = torch.Generator()\n", tmp_path)
