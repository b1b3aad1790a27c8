"""The corpus every installation already has: Python's own reference documentation, as text.

``pydoc_data.topics`` ships with CPython so that ``help("assert")`` works offline. It holds
the Language Reference's chapters (about 460 KB of English prose with code examples and a
regular layout of headings and indented blocks): enough text for a small model to learn
words, punctuation and line structure in a few minutes, and nothing to download. Some
distributions strip that module; the fallback is the source of a fixed list of pure-Python
standard-library modules, which every installation has.
"""

from __future__ import annotations

import importlib
import inspect
import sys

# stdlib modules whose source is long, stable and mostly prose-like docstrings and comments
FALLBACK_MODULES = ("argparse", "textwrap", "difflib", "fractions", "calendar", "pprint", "string", "glob", "shlex")


def embedded_text() -> tuple[str, str]:
    """The text and a short description of where it came from."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        from pydoc_data import topics as module
        topics: dict[str, str] = module.topics
    except ImportError:
        topics = {}
    if topics:
        # sorted keys: the same text, in the same order, on every machine with this Python
        text = "\n\n".join(topics[name].strip("\n") for name in sorted(topics)) + "\n"
        return text, f"Python {version} reference documentation (pydoc_data.topics)"
    sources = [inspect.getsource(importlib.import_module(name)) for name in FALLBACK_MODULES]
    return "\n\n".join(sources), f"Python {version} standard-library source ({', '.join(FALLBACK_MODULES)})"
