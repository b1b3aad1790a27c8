"""The character vocabulary: every distinct character of a corpus, sorted, one id each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class CharVocab:
    """Characters <-> ids. ``chars[i]`` is the character with id ``i``; ids follow code-point order.

    Sorting makes the vocabulary a function of the character set alone, so two runs over the
    same text (or two ranks of one distributed run) always agree on it.
    """

    def __init__(self, chars: Iterable[str]) -> None:
        chars = sorted(set(chars))
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"CharVocab: every entry must be a single character, got {bad[:5]!r}.")
        if not chars:
            raise ValueError("CharVocab: the vocabulary is empty; the text has no characters.")
        self.chars: list[str] = chars
        self.index: dict[str, int] = {c: i for i, c in enumerate(chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} chars)"

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        """The smallest unsigned integer type that holds every id."""
        return np.uint8 if len(self) <= 256 else np.uint16 if len(self) <= 65536 else np.uint32

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, sorted."""
        return sorted(set(text) - self.index.keys())

    def encode(self, text: str, skip_unknown: bool = False) -> list[int]:
        """Ids of ``text``; a character outside the vocabulary is an error unless ``skip_unknown``."""
        if not skip_unknown:
            missing = self.unknown(text)
            if missing:
                raise ValueError(
                    f"CharVocab.encode: {len(missing)} character(s) not in the vocabulary: {_show(missing)}. "
                    "Remove them, or skip them explicitly (--skip-unknown / skip_unknown=True)."
                )
        return [self.index[c] for c in text if c in self.index]

    def encode_array(self, text: str) -> np.ndarray:
        """Ids of ``text`` as a numpy array, fast for long texts; unknown characters are an error."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # one code point each
        points = np.array([ord(c) for c in self.chars], dtype=np.uint32)  # sorted, since chars are
        pos = np.searchsorted(points, codes)
        pos_clipped = np.minimum(pos, len(points) - 1)
        if not bool((points[pos_clipped] == codes).all()):
            return np.array(self.encode(text), dtype=self.dtype)  # raises the readable error
        return pos_clipped.astype(self.dtype)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text that ``ids`` stand for."""
        return "".join(self.chars[int(i)] for i in ids)

    def to_list(self) -> list[str]:
        """The characters in id order, for a checkpoint; ``CharVocab(chars)`` rebuilds the vocabulary."""
        return list(self.chars)


def _show(chars: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(repr(c) for c in chars[:limit])
    return shown + (f" and {len(chars) - limit} more" if len(chars) > limit else "")
