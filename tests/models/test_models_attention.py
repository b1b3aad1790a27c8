"""Attention weights: shape (B, T_out, T_in), rows summing to 1, exactly zero on padding; scores as in the papers."""

import pytest
import torch

from rnnkit.models import Seq2Seq, Seq2SeqConfig
from rnnkit.models.attention import Attention

B, T_OUT, T_IN, H = 3, 4, 6, 5
LENGTHS = torch.tensor([6, 3, 1])


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    query = torch.randn(B, T_OUT, H, generator=g, dtype=torch.float64)
    keys = torch.randn(B, T_IN, H, generator=g, dtype=torch.float64)
    mask = torch.arange(T_IN).unsqueeze(0) < LENGTHS.unsqueeze(1)  # (B, T_in)
    return query, keys, mask


def reference_score(att: Attention, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """One (query, key) pair at a time, straight from the formulas."""
    if att.kind == "additive":
        return att.v.weight[0] @ torch.tanh(att.w_query.weight @ q + att.w_key.weight @ k + att.w_key.bias)
    if att.kind == "dot":
        return q @ k
    return q @ (att.w_key.weight @ k)


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_weights_match_the_formulas_and_ignore_padding(kind):
    torch.manual_seed(0)
    att = Attention(kind, H, H).double()
    query, keys, mask = inputs()
    context, weights = att(query, keys, mask)
    assert weights.shape == (B, T_OUT, T_IN)
    assert context.shape == (B, T_OUT, H)
    torch.testing.assert_close(weights.sum(2), torch.ones(B, T_OUT, dtype=torch.float64))
    assert (weights.masked_select(~mask.unsqueeze(1).expand_as(weights)) == 0).all()
    for b in range(B):
        n = int(LENGTHS[b])
        for t in range(T_OUT):
            scores = torch.stack([reference_score(att, query[b, t], keys[b, s]) for s in range(n)])
            expected = torch.softmax(scores, 0)
            torch.testing.assert_close(weights[b, t, :n], expected)
            torch.testing.assert_close(context[b, t], expected @ keys[b, :n])


def test_dot_needs_equal_sizes():
    with pytest.raises(ValueError, match="kind='general'"):
        Attention("dot", 4, 6)
    with pytest.raises(ValueError, match="kind must be one of"):
        Attention("cosine", 4, 4)


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_seq2seq_returns_attention_for_inspection(kind):
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(vocab_size=7, input_size=3, embed_size=4, hidden_size=8, attention=kind)).eval()
    src = torch.randn(B, T_IN, 3)
    encoded = model.encode(src, LENGTHS)
    _, weights, _ = model.decode(encoded, torch.randint(0, 7, (B, T_OUT)))
    assert weights is not None
    assert weights.shape == (B, T_OUT, T_IN)
    torch.testing.assert_close(weights.sum(2), torch.ones(B, T_OUT))
    pad = ~encoded.mask.unsqueeze(1).expand_as(weights)
    assert (weights[pad] == 0).all()
    tokens, _, generated = model.generate(src, LENGTHS, max_length=5)
    assert generated is not None
    assert generated.shape == (B, tokens.size(1), T_IN)
    assert (generated[~encoded.mask.unsqueeze(1).expand_as(generated)] == 0).all()


def test_no_attention_returns_none():
    model = Seq2Seq(Seq2SeqConfig(vocab_size=7, input_size=3, hidden_size=8, attention="none"))
    _, weights, _ = model.decode(model.encode(torch.randn(2, 3, 3)), torch.zeros(2, 2, dtype=torch.long))
    assert weights is None
    assert model.generate(torch.randn(2, 3, 3), max_length=3)[2] is None
