"""Simple, checkable properties of each character of a text, to correlate neurons with.

Each feature maps a text of T characters to T numbers, one per character, read at that
character (the state after the network has read it). They follow the "interpretable
cells" of Karpathy, Johnson & Fei-Fei (2015): being inside a quotation, the position in
the line, how deeply a line is indented, plus two that tinyshakespeare makes useful (the
position inside a word and the speaker lines such as "ROMEO:").
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np


def inside_quotes(text: str) -> np.ndarray:
    """1 from an opening double quote up to and including its closing one, else 0."""
    out = np.zeros(len(text))
    inside = False
    for t, ch in enumerate(text):
        if ch == '"':
            inside = not inside
            out[t] = 1.0  # both quote marks count as inside
        else:
            out[t] = float(inside)
    return out


def line_position(text: str) -> np.ndarray:
    """Characters since the last newline: 0 at the first character of a line (the newline itself ends a line)."""
    out = np.zeros(len(text))
    column = 0
    for t, ch in enumerate(text):
        out[t] = column
        column = 0 if ch == "\n" else column + 1
    return out


def indentation(text: str) -> np.ndarray:
    """The current line's count of leading spaces (a tab counts 4), for every character of that line."""
    out = np.zeros(len(text))
    start = 0
    for line in text.split("\n"):
        stripped = line.lstrip(" \t")
        depth = len(line[: len(line) - len(stripped)].replace("\t", "    "))
        out[start : start + len(line) + 1] = depth
        start += len(line) + 1
    return out[: len(text)]


def word_position(text: str) -> np.ndarray:
    """Letters read so far in the current word (1 at its first letter), 0 outside words."""
    out = np.zeros(len(text))
    run = 0
    for t, ch in enumerate(text):
        run = run + 1 if ch.isalpha() or ch == "'" else 0
        out[t] = run
    return out


SPEAKER_LINE = re.compile(r"^[A-Z][A-Za-z .'-]*:$")  # "ROMEO:", "First Citizen:"; no other colon


def speaker_line(text: str) -> np.ndarray:
    """1 on a line that only names a speaker, as in a play ("First Citizen:"), else 0 (the newline is 0)."""
    out = np.zeros(len(text))
    start = 0
    for line in text.split("\n"):
        if SPEAKER_LINE.match(line):
            out[start : start + len(line)] = 1.0
        start += len(line) + 1
    return out


FEATURES: dict[str, Callable[[str], np.ndarray]] = {
    "quotes": inside_quotes,
    "line_position": line_position,
    "indent": indentation,
    "word_position": word_position,
    "speaker": speaker_line,
}


def compute_features(text: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The named features of ``text`` (all of them by default), each of shape (T,)."""
    names = list(FEATURES) if names is None else names
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"compute_features: unknown feature(s) {unknown}; expected some of {sorted(FEATURES)}.")
    return {n: FEATURES[n](text) for n in names}
