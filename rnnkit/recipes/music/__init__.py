"""Folk tunes in ABC: recipe.py (the key-conditioned character generator and the contract), data.py (reading and
scoring tunes), score.py (score pictures)."""
