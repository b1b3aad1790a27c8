"""The tagger: word features, CRF probabilities that are exact marginals, the softmax tagger on padded batches."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from rnnkit.models.many_to_many import ManyToManyConfig
from rnnkit.recipes.tagging.data import read_conll
from rnnkit.recipes.tagging.model import (
    Tagger,
    Vocabs,
    WordFeaturesConfig,
    build_vocabs,
    case_of,
    collate,
    encode,
    normalise,
    predict_tags,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes"


def test_features_normalise_and_case():
    assert normalise("Route66") == "route00"
    assert [case_of(t) for t in ("paris", "Paris", "NASA", "2017", "@x")] == [0, 1, 2, 3, 0]


def _tagger(crf: bool, chars: bool) -> tuple[Tagger, Vocabs]:
    sentences = read_conll(FIXTURES / "ner.conll")
    vocabs = build_vocabs(sentences, min_freq=1, chars=chars)
    features = WordFeaturesConfig(vocab_size=len(vocabs.words), embedding_size=6,
                                  char_vocab_size=len(vocabs.chars) if vocabs.chars else None, char_filters=5)
    config = ManyToManyConfig(num_tags=len(vocabs.tags), input_size=features.size, hidden_size=4, crf=crf)
    torch.manual_seed(0)
    return Tagger(features, config), vocabs


def test_crf_probabilities_are_exact_marginals_and_viterbi_finds_the_best_path():
    model, vocabs = _tagger(crf=True, chars=True)
    model.eval()
    batch = collate([encode(["Tom", "in", "Paris"], None, vocabs)])
    tags, probs = model.predict(batch["inputs"], batch["lengths"], batch["cases"], batch["chars"])
    # brute force: p(y) = exp(score(y)) / sum over all K^3 paths; the marginal of the chosen tag at each t
    x = model.features(batch["inputs"], batch["cases"], batch["chars"])
    emissions, _ = model.tagger(x, None, batch["lengths"])
    crf, K = model.tagger.crf, emissions.shape[2]
    assert crf is not None
    mask = torch.ones(1, 3, dtype=torch.bool)
    paths = torch.tensor(list(itertools.product(range(K), repeat=3)))  # (K^3, 3)
    scores = crf.score(emissions.expand(len(paths), 3, K), paths, mask.expand(len(paths), 3))
    p = torch.softmax(scores.detach(), 0)
    for t in range(3):
        marginal = float(p[paths[:, t] == tags[0, t]].sum())
        assert float(probs[0, t]) == pytest.approx(marginal, rel=1e-4)
    assert tags[0].tolist() == paths[scores.argmax()].tolist()


def test_softmax_tagger_gives_each_sentence_alone_what_it_gives_in_a_padded_batch():
    model, vocabs = _tagger(crf=False, chars=False)
    model.eval()
    sentences = [["Tom", "in", "Paris"], ["hi"]]
    together = predict_tags(model, [encode(s, None, vocabs) for s in sentences], vocabs)
    alone = [predict_tags(model, [encode(s, None, vocabs)], vocabs)[0] for s in sentences]
    assert [tags for tags, _ in together] == [tags for tags, _ in alone]
    for (_, p_batch), (_, p_alone) in zip(together, alone, strict=True):
        assert p_batch == pytest.approx(p_alone, abs=1e-6)
    # the probability is the softmax of the tag scores at the argmax
    batch = collate([encode(sentences[0], None, vocabs)])
    emissions, _ = model(batch["inputs"], None, batch["lengths"], batch["cases"])
    assert together[0][1] == pytest.approx(emissions.softmax(2).amax(2)[0].tolist(), abs=1e-6)
