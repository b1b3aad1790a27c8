"""Turn the lessons (Jupytext percent scripts) into notebooks and run them, as a user would.

    python lessons/execute.py --out docs/lessons            # every lesson at full size (the docs build)
    python lessons/execute.py --small --out /tmp/lessons    # the small mode the tests use
    python lessons/execute.py --out nb 03_a_character_level_language_model.py   # one lesson

The ``.py`` files are the source: they diff like code. A notebook is made from one with
``jupytext``, executed in a fresh kernel with nbclient (working directory ``lessons/``, so
``import diagrams`` works as it does for a reader), and written with its outputs. Nothing
written here is committed: a stored notebook with outputs would go stale as rnnkit changes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

LESSONS = Path(__file__).resolve().parent
SMALL_ENV = "RNNKIT_LESSON_SMALL"  # "1": shrink steps and sizes so a lesson runs in seconds


def lesson_paths() -> list[Path]:
    """Every lesson script, in order: lessons/NN_*.py."""
    return sorted(p for p in LESSONS.glob("[0-9][0-9]_*.py"))


def run_lesson(path: Path, small: bool, timeout: int = 900) -> tuple[nbformat.NotebookNode, float]:
    """Execute one lesson as a notebook; returns the notebook with outputs and the seconds it took.

    A cell that raises stops the run with nbclient's CellExecutionError, which names the cell.
    """
    notebook = jupytext.read(path)
    env = dict(os.environ)
    env[SMALL_ENV] = "1" if small else "0"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures become outputs, not windows
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(LESSONS)}},
    )
    start = time.perf_counter()
    client.execute(env=env)
    return notebook, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson file names (default: all)")
    parser.add_argument("--out", required=True, help="directory for the executed .ipynb files")
    parser.add_argument("--small", action="store_true", help=f"run in small mode ({SMALL_ENV}=1)")
    args = parser.parse_args(argv)
    paths = [LESSONS / name for name in args.lessons] if args.lessons else lesson_paths()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for path in paths:
        notebook, seconds = run_lesson(path, args.small)
        nbformat.write(notebook, out / (path.stem + ".ipynb"))
        total += seconds
        print(f"{path.name}: {seconds:.1f} s", flush=True)
    print(f"all {len(paths)} lessons: {total:.1f} s ({'small' if args.small else 'full'} mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
