"""The pointer-generator's numbers: the copy distribution (6) against a brute-force sum on a tiny case, the
coverage (1) and its loss (7) by hand, and the plain model when copying is off."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.attention import Attention
from rnnkit.models.pointer import PointerEncoded, PointerGenerator, PointerGeneratorConfig

V, UNK = 6, 3  # ids 0 pad, 1 bos, 2 eos, 3 unk, then two words: 4 and 5
INPUTS = torch.tensor([[4, UNK, 5, UNK, UNK], [5, UNK, 4, 0, 0]])  # (B=2, S=5), the second row padded
SOURCE_EXT = torch.tensor([[4, 6, 5, 7, 6], [5, 6, 4, 0, 0]])  # row 0: two unknown words (6 twice), row 1: one
LENGTHS = torch.tensor([5, 3])
TARGETS = torch.tensor([[6, 4, 7, 2], [5, 6, 2, 0]])  # extended ids, eos = 2, 0 pads


def model(copy: bool = True, coverage: bool = True) -> PointerGenerator:
    torch.manual_seed(0)
    m = PointerGenerator(PointerGeneratorConfig(vocab_size=V, input_vocab_size=V, input_size=3, embed_size=3,
                                                hidden_size=4, unk_id=UNK, copy=copy, coverage=coverage,
                                                coverage_weight=0.5))
    return m.double().eval()


def brute_force(m: PointerGenerator, previous: torch.Tensor) -> tuple[list[list[list[float]]], torch.Tensor]:
    """P(w) of (6) summed word by word in Python loops, from the model's own attention, P_vocab and p_gen."""
    encoded = m.encode(INPUTS, LENGTHS, SOURCE_EXT)
    x = m.embedding(previous.masked_fill(previous >= V, UNK))
    h, _ = m.decoder(x, encoded.state)
    coverage = torch.zeros(2, 5, dtype=torch.float64)
    assert m.attention is not None
    assert m.combine is not None
    weights = []
    for t in range(previous.size(1)):  # attention step by step, each seeing the coverage so far
        _, w = m.attention(h[:, t : t + 1], encoded.memory, encoded.mask, coverage.unsqueeze(1))
        weights.append(w[:, 0])
        coverage = coverage + w[:, 0]
    attention = torch.stack(weights, 1)  # (B, T, S)
    context = torch.bmm(attention, encoded.memory)
    p_vocab = torch.softmax(m.out(torch.tanh(m.combine(torch.cat([h, context], 2)))), 2)
    assert m.gen is not None
    p_gen = torch.sigmoid(m.gen(torch.cat([context, h, x], 2)))[..., 0]
    extended = V + 2
    P = []
    for b in range(2):
        rows = []
        for t in range(previous.size(1)):
            row = []
            for w in range(extended):
                generated = float(p_gen[b, t] * p_vocab[b, t, w]) if w < V else 0.0
                copied = sum(float(attention[b, t, i]) for i in range(int(LENGTHS[b])) if int(SOURCE_EXT[b, i]) == w)
                row.append(generated + (1 - float(p_gen[b, t])) * copied)
            rows.append(row)
        P.append(rows)
    return P, torch.stack([p_gen, attention.sum(2)], 0)


def test_copy_distribution_equals_the_brute_force_sum_and_sums_to_one():
    m = model()
    previous = torch.tensor([[1, 6, 4, 7], [1, 5, 6, 2]])  # bos, then the targets shifted (extended ids included)
    with torch.no_grad():
        log_p, weights, _ = m.decode(m.encode(INPUTS, LENGTHS, SOURCE_EXT), previous)
        P, _ = brute_force(m, previous)
    assert log_p.shape == (2, 4, V + 2)
    # the floor before the log
    torch.testing.assert_close(log_p.exp(), torch.tensor(P, dtype=torch.float64).clamp_min(1e-12), atol=1e-12, rtol=0)
    # + the floor of an unused id
    torch.testing.assert_close(log_p.exp().sum(2), torch.ones(2, 4, dtype=torch.float64), atol=1e-11, rtol=0)
    assert weights is not None
    assert weights[1, :, 3:].abs().max() == 0  # padding gets no attention, so nothing is copied from it


def test_an_unknown_source_word_gets_exactly_its_attention_times_one_minus_p_gen():
    m = model()
    previous = torch.tensor([[1, 6, 4, 7], [1, 5, 6, 2]])
    with torch.no_grad():
        log_p, weights, _ = m.decode(m.encode(INPUTS, LENGTHS, SOURCE_EXT), previous)
        encoded = m.encode(INPUTS, LENGTHS, SOURCE_EXT)
        x = m.embedding(previous.masked_fill(previous >= V, UNK))
        h, _ = m.decoder(x, encoded.state)
        assert weights is not None
        assert m.gen is not None
        context = torch.bmm(weights, encoded.memory)
        p_gen = torch.sigmoid(m.gen(torch.cat([context, h, x], 2)))[..., 0]  # (B, T)
    P = log_p.exp()
    # word 6 sits at source positions 1 and 4 of row 0, word 7 at position 3: no vocabulary entry, only the copy
    torch.testing.assert_close(P[0, :, 6], (1 - p_gen[0]) * (weights[0, :, 1] + weights[0, :, 4]), atol=1e-12, rtol=0)
    torch.testing.assert_close(P[0, :, 7], (1 - p_gen[0]) * weights[0, :, 3], atol=1e-12, rtol=0)
    torch.testing.assert_close(P[1, :, 6], (1 - p_gen[1]) * weights[1, :, 1], atol=1e-12, rtol=0)
    assert float(P[1, :, 7].max()) < 1e-11  # row 1 has one unknown word: extended id 7 is nobody's, probability ~0


def test_coverage_and_its_loss_by_hand():
    m = model()
    with torch.no_grad():
        log_p, loss = m(INPUTS, TARGETS, LENGTHS, torch.tensor([4, 3]), SOURCE_EXT)
        _, weights, after = m.decode(m.encode(INPUTS, LENGTHS, SOURCE_EXT), torch.tensor([[1, 6, 4, 7], [1, 5, 6, 2]]))
    assert loss is not None
    assert weights is not None
    assert isinstance(after, PointerEncoded)
    a = weights.tolist()  # a[b][t][i]
    by_hand, count = 0.0, 0
    for b, n in ((0, 4), (1, 3)):
        for t in range(n):
            covered = [sum(a[b][s][i] for s in range(t)) for i in range(5)]  # (1): the attention of the steps before t
            cov_loss = sum(min(a[b][t][i], covered[i]) for i in range(5))  # (7)
            by_hand += -float(log_p[b, t, int(TARGETS[b, t])]) + 0.5 * cov_loss
            count += 1
    assert float(loss) == pytest.approx(by_hand / count, abs=1e-12)
    # the coverage after the four steps is the attention summed over them (row 1's pad steps included: decode saw 4)
    torch.testing.assert_close(after.coverage, weights.sum(1), atol=1e-12, rtol=0)
    first = [min(x, 0.0) for x in a[0][0]]  # step 1: nothing covered yet, so no loss
    assert sum(first) == 0.0


def test_without_copying_it_is_the_plain_attentional_distribution():
    m = model(copy=False, coverage=False)
    assert m.gen is None
    previous = torch.tensor([[1, 4, 5], [1, 5, 2]])
    with torch.no_grad():
        log_p, _, _ = m.decode(m.encode(INPUTS, LENGTHS), previous)
        base_logits, _, _ = super(PointerGenerator,
                                  m).decode(super(PointerGenerator, m).encode(INPUTS, LENGTHS), previous)
    assert log_p.shape == (2, 3, V)
    torch.testing.assert_close(log_p, torch.log_softmax(base_logits, 2), atol=1e-12, rtol=0)


def test_coverage_term_changes_the_attention_only_where_there_is_coverage():
    torch.manual_seed(1)
    att = Attention("additive", 4, 4, coverage=True).double()
    query, keys, mask = torch.randn(2, 1, 4).double(), torch.randn(2, 5, 4).double(), torch.ones(2, 5, dtype=torch.bool)
    plain = Attention("additive", 4, 4).double()
    plain.load_state_dict({k: v for k, v in att.state_dict().items() if "coverage" not in k})
    _, w0 = att(query, keys, mask, torch.zeros(2, 1, 5, dtype=torch.float64))
    _, w_plain = plain(query, keys, mask)
    torch.testing.assert_close(w0, w_plain)  # zero coverage: the additive score (1) exactly
    _, w1 = att(query, keys, mask, torch.tensor([[[1.0, 0, 0, 0, 0]], [[0, 0, 0, 0, 0.0]]], dtype=torch.float64))
    assert not torch.allclose(w1[0], w0[0])
    torch.testing.assert_close(w1[1], w0[1])
    with pytest.raises(ValueError, match="coverage enters the additive score"):
        Attention("dot", 4, 4, coverage=True)
    with pytest.raises(ValueError, match="pass coverage exactly when"):
        plain(query, keys, mask, torch.zeros(2, 1, 5, dtype=torch.float64))


def test_beam_search_can_emit_a_copied_word():
    m = model()
    with torch.no_grad():  # make copying certain: p_gen = sigmoid(-50)
        assert m.gen is not None
        m.gen.weight.zero_()
        m.gen.bias.fill_(-50.0)
        hyps = m.beam_search(INPUTS, LENGTHS, beam_width=3, max_length=3, source_ext=SOURCE_EXT)
        tokens, _ = m.greedy(INPUTS, LENGTHS, 3, SOURCE_EXT)
    # only source words, whatever attention picks
    assert all(t in SOURCE_EXT[0, :5].tolist() for t in hyps[0][0].tokens)
    assert all(t in SOURCE_EXT[1, :3].tolist() for t in tokens[1].tolist())


def test_config_errors():
    with pytest.raises(ValueError, match="share one vocabulary"):
        PointerGenerator(PointerGeneratorConfig(vocab_size=6, input_vocab_size=7))
    with pytest.raises(ValueError, match="need attention"):
        PointerGenerator(PointerGeneratorConfig(vocab_size=6, input_vocab_size=6, attention="none"))
    m = model()
    with pytest.raises(ValueError, match=r"^PointerGenerator: target ids must be in \[0, 8\), got 2..9"):
        m(INPUTS, torch.tensor([[9, 2], [2, 2]]), LENGTHS, None, SOURCE_EXT)
