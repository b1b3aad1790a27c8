"""Spoken digits: isolated words (many-to-one) and connected strings (CTC), trained on synthesised voices."""
