"""The playground's files (offline: nothing fetched from elsewhere) and readable colours, without a browser.

The browser tests (tests/browser, ``make test-browser``) check the same pages in chromium.
"""

from __future__ import annotations

import re

import pytest

from rnnkit.lab.render import LEVELS, _css, relative_luminance, text_colour
from rnnkit.serve.app import STATIC


def contrast(a: str, b: str) -> float:
    la, lb = (relative_luminance(*(int(h[i : i + 2], 16) / 255 for i in (1, 3, 5))) for h in (a, b))
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def test_static_files_are_there_and_load_nothing_from_elsewhere():
    names = {p.name for p in STATIC.iterdir()}
    assert {"index.html", "playground.js", "playground.css"} <= names
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), f"{path.name} loads from another site"
        assert "https://" not in text, path.name
        assert "http://" not in text, path.name
    html = (STATIC / "index.html").read_text()
    ids = set(re.findall(r'id="([\w-]+)"', html))
    used = set(re.findall(r'\$\("([\w-]+)"\)', (STATIC / "playground.js").read_text()))
    assert used <= ids, used - ids  # every element the script looks up exists


def test_inspection_colours_have_readable_text_at_every_level():
    rules = re.findall(r"\.c(\d+)\{background:(#[0-9a-f]{6});color:(#[0-9a-f]{6})\}", _css())
    assert len(rules) == LEVELS
    for level, background, colour in rules:
        assert contrast(background, colour) >= 4.5, (level, background, colour)
    # the darkest blue was the unreadable one (black on #053061: contrast 1.7)
    assert text_colour(0x05 / 255, 0x30 / 255, 0x61 / 255) == "#ffffff"
    assert contrast("#053061", "#000000") < 2


@pytest.mark.parametrize(("background", "expected"),
                         [("#ffffff", "#000000"), ("#000000", "#ffffff"), ("#f7f7f7", "#000000"),
                          ("#67001f", "#ffffff"), ("#92c5de", "#000000")])
def test_text_colour_picks_the_higher_contrast(background, expected):
    rgb = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    assert text_colour(*rgb) == expected
    other = "#ffffff" if expected == "#000000" else "#000000"
    assert contrast(background, expected) > contrast(background, other)


def test_playground_palette_is_the_inspection_palette():
    """The page colours values with the lab's 21 RdBu_r steps; each of them then has readable text."""
    js = (STATIC / "playground.js").read_text()
    palette = re.findall(r'"(#[0-9a-f]{6})"', js.split("const PALETTE = [")[1].split("];")[0])
    lab = [bg for _, bg in re.findall(r"\.c(\d+)\{background:(#[0-9a-f]{6})", _css())]
    assert palette == lab
