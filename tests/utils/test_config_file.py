"""``--config FILE.json``: each value is checked as its flag would check it (type, choices), naming file and setting.

Before, a JSON value went into the dataclass unchecked: ``"tie_weights": "no"`` tied the weights (a non-empty
string is true), ``"device": "tpu"`` trained and was stored, ``"max_steps": 1.5`` ran 2 steps, and ``"lr": "0.1"``
failed deep inside with "'<=' not supported between instances of 'str' and 'int'".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rnnkit.cli import main
from rnnkit.utils.config import dataclass_from_args, option


@dataclasses.dataclass(frozen=True)
class Settings:
    lr: float = option(0.1, "learning rate")
    steps: int = option(10, "steps")
    limit: int | None = option(None, "at most this many")
    cell: str = option("lstm", "which cell", choices=["rnn", "lstm"])
    tied: bool = option(False, "tie weights")


def _read(tmp_path: Path, values: dict[str, Any]) -> Settings:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(values))
    return dataclass_from_args(Settings, argparse.Namespace(config=path))


@pytest.mark.parametrize(("values", "words"), [
    ({"tied": "no"}, "setting 'tied' must be true or false, got \"no\""),
    ({"tied": 0}, "setting 'tied' must be true or false, got 0"),
    ({"steps": 1.5}, "setting 'steps' must be a whole number, got 1.5"),
    ({"steps": True}, "setting 'steps' must be a whole number, got true"),
    ({"steps": None}, "setting 'steps' must be a whole number, got null"),
    ({"limit": "3"}, "setting 'limit' must be a whole number or null, got \"3\""),
    ({"lr": "0.1"}, "setting 'lr' must be a number, got \"0.1\""),
    ({"cell": 5}, "setting 'cell' must be a string, got 5"),
    ({"cell": "gru"}, "setting 'cell' must be one of ['rnn', 'lstm'], got \"gru\""),
])
def test_a_value_of_the_wrong_type_or_outside_the_choices_is_refused(tmp_path: Path, values: dict[str, Any],
                                                                     words: str) -> None:
    with pytest.raises(ValueError, match="c.json: ") as info:
        _read(tmp_path, values)
    assert words in str(info.value)


def test_valid_values_are_taken_and_a_whole_number_is_a_float_where_a_float_is_asked(tmp_path: Path) -> None:
    settings = _read(tmp_path, {"lr": 1, "steps": 3, "limit": None, "cell": "rnn", "tied": True})
    assert settings == Settings(lr=1.0, steps=3, limit=None, cell="rnn", tied=True)
    assert isinstance(settings.lr, float)


def test_train_charlm_refuses_a_config_value_of_the_wrong_type(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.json"
    config.write_text('{"tie_weights": "no"}')
    out = tmp_path / "run"
    assert main(["train", "charlm", "--out", str(out), "--no-progress", "--config", str(config)]) == 2
    assert "setting 'tie_weights' must be true or false" in capsys.readouterr().err
    assert not out.exists()
