"""What ``rnnkit serve`` shares with ``rnnkit sample``: the row-wise draw and the prime's warm-up.

``draw_rows`` is held to ``torch.multinomial`` called row by row (the independent reference), characters and
generator states both; ``warm_up`` to the model's own forward over the prime, on both of its branches.
"""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers import RecurrentBase
from rnnkit.layers.stepper import Stepper
from rnnkit.lm import CharLM, CharLMConfig, CharVocab
from rnnkit.lm.sample import STEPPED_PRIME, draw_rows, warm_up


@pytest.mark.parametrize("rows", [1, 3, 32])
def test_draw_rows_is_multinomial_row_by_row(rows):
    torch.manual_seed(0)
    V = 41
    seeds = [100 + r for r in range(rows)]
    ours = [torch.Generator().manual_seed(s) for s in seeds]
    reference = [torch.Generator().manual_seed(s) for s in seeds]
    noise = torch.empty(rows + 5, V)  # a larger buffer, as the server keeps one per batch size
    for step in range(20):
        logits = torch.randn(rows, V) * (1 + step % 4)
        logits[:, step % 7 :: 5] = float("-inf")  # some characters filtered out (top-k / top-p)
        probs = logits.softmax(-1)
        want = [int(torch.multinomial(probs[r : r + 1], 1, generator=reference[r])[0, 0]) for r in range(rows)]
        assert draw_rows(probs, ours, noise if step % 2 else None) == want
        assert all(probs[r, k] > 0 for r, k in enumerate(want))  # never a filtered-out character
    # the generators advanced exactly as multinomial advances them
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(ours, reference, strict=True))


def test_draw_rows_needs_one_generator_per_row():
    with pytest.raises(ValueError, match="3 rows of probabilities but 2 generators"):
        draw_rows(torch.full((3, 4), 0.25), [torch.Generator(), torch.Generator()])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("length", [0, 1, 7, STEPPED_PRIME, STEPPED_PRIME + 9])
def test_warm_up_leaves_the_state_the_forward_reaches(cell, length):
    """Stepped (short primes) or read in one call (long ones): the state after the prime is the forward's."""
    torch.manual_seed(0)
    vocab = CharVocab("abcdefgh \n")
    model = CharLM(CharLMConfig(vocab_size=len(vocab), cell=cell, hidden_size=24, embedding_size=8, num_layers=2),
                   vocab).eval()
    ids = torch.randint(0, len(vocab), (length,)).tolist()
    assert isinstance(model.rnn, RecurrentBase)  # an LSTM or GRU stack, which the Stepper steps
    stepper = Stepper(model.rnn, batch_size=1)
    stepper.step(torch.randn(1, 8))  # a state left over from before: warm_up must start from zero
    with torch.no_grad():
        warm_up(model, stepper, ids)
        if length:
            model(torch.tensor([ids]))
            want = model.final_state
        else:
            want = model.zero_state(1)
    got = stepper.state
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,),
                    strict=True):
        torch.testing.assert_close(g, w)
