"""Captioning digit scenes: recipe.py (the CNN + RNN captioner and the contract), scenes.py (composing the scenes)."""
