"""Extractive summarisation: a SummaRuNNer-style hierarchical tagger picks the sentences of ACL papers (ACLSum)."""
