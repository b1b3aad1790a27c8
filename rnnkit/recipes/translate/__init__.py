"""Translating sentences (or mapping any text pairs) with an attentional encoder-decoder."""
