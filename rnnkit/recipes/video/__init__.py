"""Video from handwritten digits: synthetic clips of digits doing actions (clips.py), and the recipes that recognise
and caption them."""
