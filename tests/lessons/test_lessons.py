"""Every lesson runs, as the notebook a reader opens, in its small mode (RNNKIT_LESSON_SMALL=1).

Each lesson's percent script is converted with jupytext and executed cell by cell in a fresh
kernel by nbclient (lessons/execute.py, the same code the docs build uses), so a lesson that
rots (an API it calls changes, a cell raises) fails here. About 60 s for all six on 2 busy cores.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("jupytext", reason="the lessons need the dev extra: pip install -e '.[dev]'")
pytest.importorskip("nbclient", reason="the lessons need the dev extra: pip install -e '.[dev]'")

LESSONS = Path(__file__).resolve().parents[2] / "lessons"
_spec = importlib.util.spec_from_file_location("lesson_execute", LESSONS / "execute.py")
assert _spec is not None
assert _spec.loader is not None
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)

PATHS = execute.lesson_paths()


def test_there_are_six_lessons_in_order() -> None:
    assert [p.name[:3] for p in PATHS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_lesson_runs_in_small_mode(path: Path) -> None:
    notebook, _ = execute.run_lesson(path, small=True)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, "every code cell ran"
    assert all(c.execution_count is not None for c in code), "every code cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    # every cell that shows a figure has it in the notebook: a library call that switched matplotlib
    # to its file-only backend earlier in the notebook would leave these empty (lessons 5 and 6 plot after one)
    plotting = [c for c in code if "plt.show()" in c.source]
    assert plotting, f"{path.name} draws nothing"
    for cell in plotting:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"no figure from: {cell.source[:80]!r}"
    # and ends with an exercise
    last_markdown = [c for c in notebook.cells if c.cell_type == "markdown"][-1]
    assert "## Exercise" in last_markdown.source

