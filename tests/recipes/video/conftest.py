"""Fixtures of the video tests: real handwriting that is always installed with the test dependencies."""

from __future__ import annotations

import pytest

from rnnkit.recipes.handwriting import DigitSource, load_source


@pytest.fixture(scope="module")
def sklearn_digits() -> DigitSource:
    pytest.importorskip("sklearn")
    return load_source("sklearn")  # 1,797 8x8 digits: small, and read in a moment
