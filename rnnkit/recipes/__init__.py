"""Recipes: applications of the recurrent models on real data, one small package each.

Every recipe implements one contract (``rnnkit/recipes/contract.py``), and one runner (``run_recipe``,
``rnnkit/recipes/runner.py``) does the rest for all of them. ``rnnkit recipe NAME`` derives its flags from the
config, ``rnnkit predict RUN_DIR INPUT...`` rebuilds the model from its checkpoint. A recipe's package holds
its whole story: ``recipe.py`` (the contract), ``data.py`` (reading and splitting its data), and whatever else
only it needs.
"""

from __future__ import annotations

import importlib
from typing import Any

from rnnkit.recipes.contract import Recipe, RecipeConfig
from rnnkit.recipes.runner import Run, load_run, run_recipe

# name -> "module:class"; importing happens only when a recipe is asked for
RECIPES: dict[str, str] = {
    "caption": "rnnkit.recipes.caption.recipe:CaptionRecipe",
    "chat": "rnnkit.recipes.chat.recipe:ChatRecipe",
    "music": "rnnkit.recipes.music.recipe:MusicRecipe",
    "digits": "rnnkit.recipes.digits.recipe:DigitsRecipe",
    "digits-ctc": "rnnkit.recipes.speech.recipe:ConnectedDigitsRecipe",
    "digits-ctc-sphinx": "rnnkit.recipes.speech.sphinx_recipe:SphinxDigitsRecipe",
    "digits-spoken": "rnnkit.recipes.speech.recipe:SpokenDigitsRecipe",
    "extract": "rnnkit.recipes.extract.recipe:ExtractRecipe",
    "forecast": "rnnkit.recipes.forecast.recipe:ForecastRecipe",
    "fraud": "rnnkit.recipes.fraud.recipe:FraudRecipe",
    "gesture": "rnnkit.recipes.gesture.recipe:GestureRecipe",
    "ner": "rnnkit.recipes.tagging.recipe:NerRecipe",
    "pos": "rnnkit.recipes.tagging.recipe:PosRecipe",
    "sentiment": "rnnkit.recipes.text_classify.sentiment:SentimentRecipe",
    "spam": "rnnkit.recipes.text_classify.spam:SpamRecipe",
    "summarize": "rnnkit.recipes.summarize.recipe:SummarizeRecipe",
    "translate": "rnnkit.recipes.translate.recipe:TranslateRecipe",
    "video-action": "rnnkit.recipes.video.action_recipe:VideoActionRecipe",
    "video-caption": "rnnkit.recipes.video.caption_recipe:VideoCaptionRecipe",
}


def get_recipe(name: str) -> Recipe[Any, Any]:
    """The recipe called ``name`` (as in ``rnnkit recipe NAME``)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; available recipes: {', '.join(sorted(RECIPES))}.")
    module, cls = RECIPES[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def all_recipes() -> dict[str, Recipe[Any, Any]]:
    return {name: get_recipe(name) for name in RECIPES}


__all__ = ["RECIPES", "Recipe", "RecipeConfig", "Run", "all_recipes", "get_recipe", "load_run", "run_recipe"]
