"""Every recipe in RECIPES keeps the contract, and `rnnkit recipe NAME --help` shows each of its settings as a typed
flag with its help text, under a description that is the recipe's whole first docstring paragraph."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from rnnkit.cli import main
from rnnkit.recipes import RECIPES, Recipe, RecipeConfig, get_recipe
from rnnkit.recipes.contract import Recipe as ContractRecipe

REQUIRED = ("prepare_data", "describe", "build_model", "batches", "evaluate", "predict")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_implements_the_contract(name: str) -> None:
    recipe = get_recipe(name)
    cls = type(recipe)
    assert isinstance(recipe, Recipe)
    assert recipe.name == name
    assert not inspect.isabstract(cls)
    for method in REQUIRED:  # written by the recipe, not inherited
        assert getattr(cls, method) is not getattr(ContractRecipe, method, None), method
    assert recipe.mode in ("max", "min")
    assert isinstance(recipe.monitor, str)
    assert recipe.monitor
    assert isinstance(recipe.inputs, str)
    assert recipe.inputs != "inputs"  # predict's help says what it takes
    config = recipe.config_class
    assert issubclass(config, RecipeConfig)
    settings = config()  # every field has a default: `rnnkit recipe NAME` runs with no flags
    field = "out"  # named in a variable: mypy rightly refuses a direct assignment to a frozen field
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, field, "elsewhere")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_help_shows_every_setting_with_its_type_and_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["recipe", name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    shown, packed = " ".join(out.split()), "".join(out.split())  # argparse wraps lines, also after a hyphen
    recipe = get_recipe(name)
    doc = " ".join((type(recipe).__doc__ or "").strip().split("\n\n")[0].split())
    assert doc.endswith(".")
    assert "".join(doc.split()) in packed
    hints = typing.get_type_hints(recipe.config_class)
    for field in dataclasses.fields(recipe.config_class):
        help_text = field.metadata.get("help")
        assert help_text, f"{name}: the setting {field.name} has no help text"
        flag = "--" + field.name.replace("_", "-")
        assert flag in shown
        assert "".join(help_text.split()) in packed
        if hints[field.name] is not bool:
            assert f"{flag} {field.name.upper()}" in shown  # a typed value, not a bare switch
