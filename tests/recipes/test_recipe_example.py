"""The worked example of docs/architecture.md runs as printed: a recipe in one class, trained by run_recipe."""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch

from rnnkit.recipes import Recipe, load_run, run_recipe
from rnnkit.utils.checkpoint import CheckpointError

PAGE = Path(__file__).parents[2] / "docs" / "architecture.md"


def page_blocks() -> list[str]:
    """The page's Python blocks, in order: the recipe, then the run from Python."""
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> dict:
    blocks = page_blocks()
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


def test_the_run_from_python_block_prints_what_the_page_says(example: dict, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]):
    """The page's second block, as printed, with the recipe importable where the page says to put it: it runs
    (imports included), its two results are the ones its comments show, and predict warns of nothing."""
    block = page_blocks()[1]
    for name in ("rnnkit.recipes.majority", "rnnkit.recipes.majority.recipe"):
        module = types.ModuleType(name)
        module.__dict__.update(example)
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.chdir(tmp_path)  # it writes runs/majority
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(block, str(PAGE), "exec"), {})
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("{", "["))]
    promised = [comment.strip() for comment in re.findall(r"#\s*(\{.*?\}|\[.*\])", block)]
    assert len(promised) == 2
    assert printed[-2:] == promised
    assert not [w for w in caught if "requires_grad" in str(w.message)]  # predict runs under no_grad


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


def test_threads_0_keeps_torchs_default(example: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """--threads 0 means torch's own choice, as in the lab commands (set_num_threads(0) would fail)."""
    recipe = example["MajorityRecipe"]()
    cls = type(recipe)
    original_prepare = cls.prepare_data
    seen: list[int] = []

    def prepare_data(self, config):
        seen.append(torch.get_num_threads())
        return original_prepare(self, config)

    monkeypatch.setattr(cls, "prepare_data", prepare_data)
    before = torch.get_num_threads()
    run_recipe(recipe, example["MajorityConfig"](out=str(tmp_path), examples=200, epochs=1, progress=False, threads=0))
    assert seen == [before]
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("setting", "message"), [
    ({"threads": -1}, r"TrainConfig: --threads must be >= 0 \(0 keeps torch's default\), got -1\."),
    ({"epochs": 0}, r"TrainConfig: --epochs must be at least 1, got 0\."),
    ({"clip": -1.0}, r"TrainConfig: --clip must be >= 0 \(0 turns clipping off\), got -1\.0\."),
    ({"lr": 0.0}, r"--lr must be positive and --weight-decay >= 0, got 0\.0 and 0\.0"),
    ({"weight_decay": -0.1}, r"--lr must be positive and --weight-decay >= 0, got 0\.\d+ and -0\.1"),
    ({"patience": -1}, r"--patience must be >= 0 \(0 never stops early\), got -1"),
    ({"max_steps": 0}, r"--max-steps must be at least 1 and --max-minutes positive \(or left out\), got 0 and"),
    ({"max_minutes": 0.0}, r"--max-minutes positive \(or left out\), got None and 0\.0"),
])
def test_out_of_range_training_settings_are_refused_before_the_data(example: dict, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch, setting: dict,
                                                                    message: str):
    recipe = example["MajorityRecipe"]()
    monkeypatch.setattr(type(recipe), "prepare_data", lambda self, config: pytest.fail("the data was read"))
    with pytest.raises(ValueError, match=message):
        run_recipe(recipe, example["MajorityConfig"](out=str(tmp_path), progress=False, **setting))
    assert not (tmp_path / "best.pt").exists()


def test_resuming_from_another_recipes_checkpoint_names_its_recipe(example: dict, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    """A last.pt that another recipe wrote is refused for what it is, not for settings the user never gave."""
    recipe = example["MajorityRecipe"]()
    config = example["MajorityConfig"](out=str(tmp_path), examples=200, epochs=1, progress=False, threads=1)
    run_recipe(recipe, config)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    last["kind"] = "sentiment"
    last["config"]["hidden_size"] = 100  # as a sentiment run's settings would differ
    torch.save(last, tmp_path / "last.pt")
    monkeypatch.setattr(type(recipe), "prepare_data", lambda self, config: pytest.fail("the data was read"))
    with pytest.raises(ValueError, match=rf"majority: resume: {re.escape(str(tmp_path / 'last.pt'))} is the last "
                                         r"checkpoint of a sentiment run, not a majority one\. Resume it with `rnnkit "
                                         r"recipe sentiment --out .* --resume`, or give this run another output "
                                         r"directory \(--out\)\."):
        run_recipe(recipe, dataclasses.replace(config, resume=True))
