"""The worked example of docs/architecture.md runs as printed: a recipe in one class, trained by run_recipe."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import torch

from rnnkit.recipes import Recipe, load_run, run_recipe
from rnnkit.utils.checkpoint import CheckpointError

PAGE = Path(__file__).parents[2] / "docs" / "architecture.md"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> dict:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    module = types.ModuleType("majority_example")  # dataclasses look their module up in sys.modules
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(blocks[0], str(PAGE), "exec"), module.__dict__)  # the recipe as the page prints it
    return module.__dict__


def test_the_documented_recipe_learns_and_predicts(example: dict, tmp_path: Path):
    recipe = example["MajorityRecipe"]()
    assert isinstance(recipe, Recipe)
    config = example["MajorityConfig"](out=str(tmp_path), examples=1000, epochs=3, progress=False, threads=1)
    summary = run_recipe(recipe, config)
    assert summary["test"]["accuracy"] > 0.9  # chance is 0.5: a counter in the LSTM's state
    run = load_run(tmp_path, {"majority": recipe})
    with torch.no_grad():
        results = run.recipe.predict(run.model, run.config, run.meta, ["10110000000", "11101110000"])
    assert [r["majority"] for r in results] == [0, 1]
    with pytest.raises(ValueError, match="expected 11 characters of 0 and 1"):
        run.recipe.predict(run.model, run.config, run.meta, ["101"])


def test_a_run_whose_weights_do_not_fit_is_named(example: dict, tmp_path: Path):
    """A run written by another version of a recipe (weights that do not fit the model its settings build) is an
    error that names the file, the parameters and what to do, not load_state_dict's traceback."""
    recipe = example["MajorityRecipe"]()
    config = example["MajorityConfig"](out=str(tmp_path), examples=200, epochs=1, progress=False, threads=1)
    run_recipe(recipe, config)
    checkpoint = torch.load(tmp_path / "best.pt", weights_only=True)
    name = next(iter(checkpoint["model"]))
    checkpoint["model"]["extra.weight"] = checkpoint["model"].pop(name)
    torch.save(checkpoint, tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match=rf"best.pt: its weights do not fit the majority model .*missing: "
                                              rf"{re.escape(name)}; not expected: extra.weight.*`rnnkit recipe "
                                              rf"majority`"):
        load_run(tmp_path / "best.pt", {"majority": recipe})


def test_threads_hold_for_the_whole_run(example: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """--threads is for the whole command: data, training, test evaluation and baselines alike."""
    recipe = example["MajorityRecipe"]()
    seen: dict[str, int] = {}
    cls = type(recipe)
    original_prepare, original_evaluate = cls.prepare_data, cls.evaluate

    def prepare_data(self, config):
        seen["prepare"] = torch.get_num_threads()
        return original_prepare(self, config)

    def evaluate(self, model, config, data, split):
        seen[split] = torch.get_num_threads()
        return original_evaluate(self, model, config, data, split)

    monkeypatch.setattr(cls, "prepare_data", prepare_data)
    monkeypatch.setattr(cls, "evaluate", evaluate)
    monkeypatch.setattr(cls, "baselines", lambda self, config,
                        data: seen.setdefault("baselines", torch.get_num_threads()) and {})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_recipe(recipe,
                   example["MajorityConfig"](out=str(tmp_path), examples=200, epochs=1, progress=False, threads=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == {"prepare": 1, "dev": 1, "test": 1, "baselines": 1}
