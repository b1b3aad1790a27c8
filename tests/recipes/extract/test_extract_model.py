"""The hierarchical tagger: reading sentences in length-sorted chunks equals reading them all at once
(values and gradients), a document scores the same alone or padded beside a longer one, and a batch
whose counts do not add up is refused."""

from __future__ import annotations

import pytest
import torch

from rnnkit.recipes.extract.model import SentenceTagger, TaggerConfig, masked_mean


def tagger() -> SentenceTagger:
    torch.manual_seed(0)
    return SentenceTagger(TaggerConfig(vocab_size=30, embed_size=8, word_hidden=6, sent_hidden=5, dropout=0.0)).double()


def sentences(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 15, (n,), generator=g)  # (N,)
    words = torch.randint(1, 30, (n, int(lengths.max())), generator=g)  # (N, T)
    return words * (torch.arange(words.size(1)) < lengths[:, None]), lengths  # zeros past each length, as pad_batch


def test_chunked_reading_equals_one_pass_with_gradients(one_thread: None):
    model = tagger()
    words, lengths = sentences(40, seed=1)
    chunked = model.read_sentences(words, lengths, chunk=7)  # (N, 2H)
    grads = torch.autograd.grad(chunked.square().sum(), list(model.word_rnn.parameters()))
    h, _ = model.word_rnn(model.embedding(words), lengths=lengths)  # (N, T, 2H), everything padded to the longest
    whole = masked_mean(h, lengths)
    torch.testing.assert_close(chunked, whole)
    for got, want in zip(grads, torch.autograd.grad(whole.square().sum(), list(model.word_rnn.parameters())),
                         strict=True):
        torch.testing.assert_close(got, want)


def test_a_document_scores_the_same_alone_and_beside_a_longer_one(one_thread: None):
    model = tagger().eval()
    short, short_lengths = sentences(4, seed=2)
    long, long_lengths = sentences(9, seed=3)
    alone, _ = model(short, short_lengths, torch.tensor([4]))  # (1, 4, A)
    width = max(short.size(1), long.size(1))
    pad = lambda w: torch.nn.functional.pad(w, (0, width - w.size(1)))  # noqa: E731
    both, _ = model(torch.cat([pad(long), pad(short)]), torch.cat([long_lengths, short_lengths]), torch.tensor([9, 4]))
    torch.testing.assert_close(both[1, :4], alone[0])
    # the loss counts real sentences only: targets past a document's end change nothing
    targets = torch.randint(0, 2, (2, 9, 3)).double()
    _, loss = model(torch.cat([pad(long), pad(short)]), torch.cat([long_lengths, short_lengths]), torch.tensor([9, 4]),
                    targets)
    targets[1, 4:] = 1 - targets[1, 4:]
    _, again = model(torch.cat([pad(long), pad(short)]), torch.cat([long_lengths, short_lengths]), torch.tensor([9, 4]),
                     targets)
    assert loss.item() == pytest.approx(again.item())


def test_counts_that_do_not_match_the_sentences_are_refused():
    model = tagger()
    words, lengths = sentences(5, seed=4)
    with pytest.raises(ValueError, match="sentence_counts sum to 6 but words has 5 sentences"):
        model(words, lengths, torch.tensor([2, 4]))
