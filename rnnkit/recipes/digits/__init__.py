"""Digits read row by row: recipe.py (the contract), data.py (reading the images)."""
