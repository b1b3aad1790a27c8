"""Tagging every word of a sentence: part-of-speech (``pos``) and named entities (``ner``)."""
