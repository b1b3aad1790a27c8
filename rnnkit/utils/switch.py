"""An on/off setting of the process that a ``with`` block can flip for its duration (tests compare both ways)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Switch:
    def __init__(self, on: bool) -> None:
        self.on = on

    @contextmanager
    def set_to(self, on: bool) -> Iterator[None]:
        previous, self.on = self.on, on
        try:
            yield
        finally:
            self.on = previous
