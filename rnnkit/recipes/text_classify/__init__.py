"""Text classification: sentiment of a sentence and spam in an e-mail, one shared word-level classifier."""
