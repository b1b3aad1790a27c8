"""Every `rnnkit ...` command the README and docs/ show uses flags and choices the command line has.

A flag renamed in the code leaves the pages that show it stale; a reader who pastes the command then meets
"unrecognized arguments". Each command is given to rnnkit's own parser (no command runs). Fragments that name
a command without its required arguments (`rnnkit serve`, `rnnkit sample --seed`) and placeholders (`--seed S`,
`recipe NAME`) are not errors of that kind and pass; an unknown flag or an unknown choice fails.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from rnnkit.cli import build_parser

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PLACEHOLDER_RECIPES = {"NAME", "majority"}  # docs/architecture.md's worked example is a recipe the reader adds


def doc_commands() -> list[tuple[str, str]]:
    """(page:line, the words after `rnnkit`) for inline `rnnkit ...` spans and command lines in code blocks (fenced or
    indented); a block's `rnnkit NAME: ...` lines are the program's output, not commands."""
    found = []
    for page in PAGES:
        text = page.read_text()
        where = f"{page.relative_to(ROOT)}:{{}}"
        for span in re.finditer(r"`(?:\.venv/bin/)?rnnkit ([^`\n]+)`", text):
            found.append((where.format(text.count("\n", 0, span.start()) + 1), span.group(1)))
        fenced, lines = False, text.splitlines()
        for number, line in enumerate(lines, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            command = re.match(r"^(?:\$ )?(?:[A-Z_]+=\S+ )*(?:\.venv/bin/)?rnnkit (?![\w-]+: )(.+)$", line.strip())
            if command and (fenced or line.startswith(("    ", "\t"))):
                words, more = command.group(1), number
                while words.endswith("\\") and more < len(lines):  # continued on the next line
                    words, more = words[:-1] + " " + lines[more].strip(), more + 1
                found.append((where.format(number), words))
    return found


def refusal(words: str) -> str | None:
    """argparse's complaint about an unknown flag or choice in ``words``, or None."""
    words = re.sub(r"\[[^\]]*\]", " ", re.split(r" #| \| | > | && ", words)[0])  # synopsis [--opt X] parts, shell
    argv = shlex.split(words)
    if not argv or "/" in argv[0] or (argv[0] == "recipe" and len(argv) > 1 and argv[1] in PLACEHOLDER_RECIPES):
        return None
    for _ in range(len(argv)):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(argv)
            return None
        except SystemExit as e:
            last = err.getvalue().strip().splitlines()[-1] if e.code else ""
        placeholder = re.search(r"invalid (?:int|float) value: '(.*)'$", last)
        if placeholder is None:  # argparse stops at a bad value before it names unknown flags: try again with a number
            return last if "unrecognized arguments" in last or "invalid choice" in last else None
        argv[argv.index(placeholder.group(1))] = "1"
    return None


def test_the_docs_show_commands():
    assert len(doc_commands()) >= 80


def test_every_documented_command_parses():
    stale = [f"{where}: rnnkit {words}\n    {why}" for where, words in doc_commands() if (why := refusal(words))]
    assert not stale, "\n".join(stale)


@pytest.mark.parametrize("words", ["sample run --temprature 0.8", "recipe spam --epcohs 3", "recipe spm",
                                   "recipe gesture --seed S --dev-part 0.2"])
def test_a_stale_flag_or_name_is_caught(words: str):
    assert refusal(words) is not None


@pytest.mark.parametrize("words", ["serve", "sample --seed", "recipe gesture --seed S", "recipe NAME --help",
                                   "sample CKPT --length 5 [--top-k K]"])
def test_fragments_and_placeholders_pass(words: str):
    assert refusal(words) is None
