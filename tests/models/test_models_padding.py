"""Padding never changes a real element's output: a padded batch against each sequence run alone.

The padding holds large random values (and out-of-range-looking ids where ids are used), so
any leak would show. Everything runs in float64 so that the comparison can be tight.
"""

import pytest
import torch

from rnnkit.models.many_to_many import ManyToMany, ManyToManyConfig
from rnnkit.models.many_to_one import ManyToOne, ManyToOneConfig
from rnnkit.models.one_to_many import OneToMany, OneToManyConfig
from rnnkit.models.one_to_one import OneToOne, OneToOneConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

LENGTHS = torch.tensor([5, 2, 4, 1])
B, T, F, V = 4, 5, 3, 6


def features() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, T, F, generator=g, dtype=torch.float64)
    pad = torch.arange(T).unsqueeze(0) >= LENGTHS.unsqueeze(1)  # (B, T)
    return x.masked_fill(pad.unsqueeze(2), 1e3)


def token_ids() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, V, (B, T), generator=g)
    pad = torch.arange(T).unsqueeze(0) >= LENGTHS.unsqueeze(1)
    return x.masked_fill(pad, V - 1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_many_to_one(cell, pooling):
    torch.manual_seed(0)
    cfg = ManyToOneConfig(num_outputs=3, input_size=F, hidden_size=6, num_layers=2, cell=cell, bidirectional=True,
                          pooling=pooling)
    model = ManyToOne(cfg).double().eval()
    x = features()
    batched, _ = model(x, lengths=LENGTHS)
    for b in range(B):
        alone, _ = model(x[b : b + 1, : int(LENGTHS[b])])
        torch.testing.assert_close(batched[b : b + 1], alone)


def test_many_to_one_loss_ignores_padding():
    torch.manual_seed(0)
    model = ManyToOne(ManyToOneConfig(num_outputs=1, vocab_size=V, input_size=4, hidden_size=6,
                                      task="regression")).double()
    ids, y = token_ids(), torch.arange(B, dtype=torch.float64)
    _, loss = model(ids, y, LENGTHS)
    noisy = ids.masked_fill(torch.arange(T).unsqueeze(0) >= LENGTHS.unsqueeze(1), 0)
    torch.testing.assert_close(model(noisy, y, LENGTHS)[1], loss)


def test_one_to_one_rows_are_independent():
    """No time axis to pad; the analogue is that a row's output does not depend on the rest of the batch."""
    torch.manual_seed(0)
    model = OneToOne(OneToOneConfig(num_outputs=2, input_size=F, hidden_size=6, num_layers=2)).double().eval()
    x = features()[:, 0]  # (B, F)
    batched, _ = model(x)
    torch.testing.assert_close(model(x, lengths=torch.ones(B, dtype=torch.long))[0], batched)
    for b in range(B):
        torch.testing.assert_close(model(x[b : b + 1])[0], batched[b : b + 1])


@pytest.mark.parametrize("crf", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_many_to_many(cell, crf):
    torch.manual_seed(0)
    model = ManyToMany(ManyToManyConfig(num_tags=3, vocab_size=V, input_size=4, hidden_size=6, cell=cell,
                                        crf=crf)).double().eval()
    ids = token_ids()
    tags = torch.randint(0, 3, (B, T), generator=torch.Generator().manual_seed(2))
    mask = torch.arange(T).unsqueeze(0) < LENGTHS.unsqueeze(1)
    emissions, loss = model(ids, tags.masked_fill(~mask, 99), LENGTHS)  # 99 on padding: never read
    decoded = model.decode(ids, LENGTHS)
    losses = []
    for b in range(B):
        n = int(LENGTHS[b])
        e, l_b = model(ids[b : b + 1, :n], tags[b : b + 1, :n])
        torch.testing.assert_close(emissions[b : b + 1, :n], e)
        assert torch.equal(decoded[b, :n], model.decode(ids[b : b + 1, :n])[0])
        assert (decoded[b, n:] == -1).all()
        losses.append(l_b * (1 if crf else n))
    expected = torch.stack(losses).sum() / (B if crf else int(LENGTHS.sum()))  # CRF: per sequence; softmax: per token
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_to_many(cell):
    torch.manual_seed(0)
    model = OneToMany(OneToManyConfig(vocab_size=V, input_vocab_size=3, input_size=4, embed_size=4, hidden_size=6,
                                      cell=cell)).double().eval()
    cond = torch.tensor([0, 1, 2, 1])
    targets = token_ids()
    logits, loss = model(cond, targets, LENGTHS)
    total = 0.0
    for b in range(B):
        n = int(LENGTHS[b])
        alone, l_b = model(cond[b : b + 1], targets[b : b + 1, :n])
        torch.testing.assert_close(logits[b : b + 1, :n], alone)
        total = total + l_b * n
    torch.testing.assert_close(loss, total / LENGTHS.sum())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("attention", ["additive", "general", "none"])
def test_seq2seq(cell, attention):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(vocab_size=V, input_size=F, embed_size=4, hidden_size=6, num_layers=2, cell=cell,
                        attention=attention, max_length=4)
    model = Seq2Seq(cfg).double().eval()
    src, targets = features(), token_ids()
    target_lengths = LENGTHS.flip(0)  # source and target lengths differ per pair
    logits, loss = model(src, targets, LENGTHS, target_lengths)
    tokens, out_lengths, weights = model.generate(src, LENGTHS)
    total = 0.0
    for b in range(B):
        n, m = int(LENGTHS[b]), int(target_lengths[b])
        alone, l_b = model(src[b : b + 1, :n], targets[b : b + 1, :m])
        torch.testing.assert_close(logits[b : b + 1, :m], alone)
        total = total + l_b * m
        t_alone, len_alone, w_alone = model.generate(src[b : b + 1, :n])
        k = int(len_alone[0])
        assert int(out_lengths[b]) == k
        assert torch.equal(tokens[b, :k], t_alone[0, :k])
        if weights is not None and w_alone is not None:
            torch.testing.assert_close(weights[b, :k, :n], w_alone[0, :k])
    torch.testing.assert_close(loss, total / target_lengths.sum())
