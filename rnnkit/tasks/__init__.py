"""Recipes: real-data applications of the five configurations, one module per recipe."""
