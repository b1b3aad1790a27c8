"""Beam search and the sampling filters: hand-made decoders with known answers, and real models."""

import itertools
import math

import pytest
import torch

from rnnkit.models import OneToMany, OneToManyConfig, Seq2Seq, Seq2SeqConfig
from rnnkit.models.beam import beam_search
from rnnkit.models.decoding import filter_logits, generate_tokens, next_token

EOS, A, B_, BOS = 0, 1, 2, 3  # a 4-token vocabulary for hand-made decoders

# p(next | prefix): greedy takes A (0.6) and then ends (0.5), total 0.30; but B (0.4) then end (0.9) is 0.36.
TABLE = {(): [0.0, 0.6, 0.4], (A,): [0.5, 0.25, 0.25], (B_,): [0.9, 0.05, 0.05]}
FALLBACK = [0.8, 0.1, 0.1]  # any longer prefix: mostly end


def table_step(tokens: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A decoder whose state is the prefix so far (N, t); logits are the log of TABLE (bos never emitted)."""
    if tokens[0] != BOS:
        history = torch.cat([history, tokens.unsqueeze(1)], dim=1)
    rows = []
    for prefix in history.tolist():
        probs = TABLE.get(tuple(prefix), FALLBACK)
        rows.append([math.log(p) if p > 0 else float("-inf") for p in probs] + [float("-inf")])
    return torch.tensor(rows), history


def table_select(history: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return history.index_select(0, index)


def run_beam(width: int, n_best: int = 1, batch: int = 1, **kw):
    history = torch.empty(batch, 0, dtype=torch.long)
    return beam_search(table_step, table_select, history, batch, BOS, EOS, width, 5, n_best=n_best, **kw)


def test_greedy_is_suboptimal_and_a_wider_beam_finds_the_better_output():
    tokens, lengths, _ = generate_tokens(table_step, torch.empty(1, 0, dtype=torch.long), 1, BOS, EOS, 5,
                                         torch.device("cpu"))
    assert tokens[0, : int(lengths[0])].tolist() == [A, EOS]
    narrow, wide = run_beam(1)[0][0], run_beam(2)[0][0]
    assert narrow.tokens == [A, EOS]
    assert narrow.log_prob == pytest.approx(math.log(0.30))
    assert wide.tokens == [B_, EOS]
    assert wide.log_prob == pytest.approx(math.log(0.36))
    assert wide.score > narrow.score


def test_n_best_is_sorted_and_batched_over_sentences():
    results = run_beam(3, n_best=3, batch=2)
    assert len(results) == 2
    assert results[0] == results[1]
    hyps = results[0]
    assert [h.tokens for h in hyps[:2]] == [[B_, EOS], [A, EOS]]
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert len(hyps) == 3


def test_length_penalty_divides_by_length():
    (hyp,) = run_beam(2, length_penalty=1.0)[0]
    assert hyp.score == pytest.approx(hyp.log_prob / len(hyp.tokens))


def test_max_length_cuts_off_unfinished_hypotheses():
    history = torch.empty(1, 0, dtype=torch.long)
    (hyp,) = beam_search(table_step, table_select, history, 1, BOS, EOS, 2, 1)[0]
    assert not hyp.finished
    assert hyp.tokens == [A]


def test_bad_beam_arguments():
    with pytest.raises(ValueError, match="n_best=3 exceeds beam_width=2"):
        run_beam(2, n_best=3)
    with pytest.raises(ValueError, match="beam_width must be a positive integer"):
        run_beam(0)


@pytest.fixture
def seq2seq() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(vocab_size=7, input_vocab_size=6, input_size=8, embed_size=8, hidden_size=16,
                                 max_length=6)).eval()


def test_width_one_equals_greedy_on_a_model(seq2seq):
    src = torch.randint(0, 6, (4, 5), generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([5, 4, 2, 1])
    tokens, out_lengths, _ = seq2seq.generate(src, lengths)
    beams = seq2seq.beam_search(src, lengths, beam_width=1)
    for b in range(4):
        assert beams[b][0].tokens == tokens[b, : int(out_lengths[b])].tolist()


def test_hypothesis_scores_are_the_model_log_probabilities(seq2seq):
    """Re-score each n-best output with teacher forcing: the sum of its tokens' log-probabilities."""
    src = torch.randint(0, 6, (2, 5), generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor([5, 3])
    results = seq2seq.beam_search(src, lengths, beam_width=4, n_best=4)
    for b in range(2):
        hyps = results[b]
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            target = torch.tensor([h.tokens])
            with torch.no_grad():
                logits, _ = seq2seq(src[b : b + 1, : int(lengths[b])], target)
            logp = logits.log_softmax(-1)[0, torch.arange(len(h.tokens)), target[0]].sum()
            assert h.log_prob == pytest.approx(float(logp), abs=1e-4)
    # batched decoding gives each sentence what it would get alone
    alone = seq2seq.beam_search(src[1:, :3], beam_width=4, n_best=4)[0]
    assert [h.tokens for h in alone] == [h.tokens for h in results[1]]


def test_one_to_many_width_one_equals_greedy():
    torch.manual_seed(0)
    model = OneToMany(OneToManyConfig(vocab_size=6, input_size=3, embed_size=8, hidden_size=16, max_length=7)).eval()
    u = torch.randn(3, 3)
    tokens, lengths = model.generate(u, greedy=True)
    for b, hyps in enumerate(model.beam_search(u, beam_width=1)):
        assert hyps[0].tokens == tokens[b, : int(lengths[b])].tolist()


def test_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert torch.isfinite(filter_logits(logits, top_k=2)[0, :2]).all()
    # top-p 0.7: 0.5 alone is short of 0.7, so 0.3 joins; the rest goes
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))[0].tolist()
    assert kept == [True, True, False, False]
    assert torch.isfinite(filter_logits(logits, top_p=0.4))[0].tolist() == [True, False, False, False]
    # temperature 0.5 squares the probabilities before renormalising
    p = filter_logits(logits, temperature=0.5).softmax(-1)
    q = torch.tensor([[0.25, 0.09, 0.0225, 0.0025]])
    torch.testing.assert_close(p, q / q.sum())


def test_sampling_is_seeded_and_respects_filters():
    logits = torch.zeros(1000, 5)
    draw = lambda seed: next_token(logits, False, top_k=2, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(0), draw(0))
    logits[:, 3] = 1.0
    logits[:, 1] = 0.5
    assert set(draw(1).tolist()) == {1, 3}
    assert torch.equal(next_token(logits, True), torch.full((1000,), 3))


# ---- n-gram repeat blocking and streaming ------------------------------------------------------


@pytest.mark.parametrize(("prefix", "n", "banned"), [
    ([5, 6, 5], 2, {6}),  # (5, 6) is in the prefix, which ends in 5: 6 would repeat it
    ([1, 2, 3, 1, 2], 3, {3}),  # (1, 2, 3) again after "1 2"
    ([1, 2, 3, 1, 2], 2, {3}),  # (2, 3) again after "2"
    ([4, 4, 7], 1, {4, 7}),  # n = 1: no token twice
    ([1, 2], 3, set()),  # no complete trigram yet
    ([], 2, set()),
])
def test_repeat_bans_by_hand(prefix, n, banned):
    from rnnkit.models.beam import repeat_bans

    assert repeat_bans(prefix, n) == banned


def loop_step(tokens: torch.Tensor, state: None) -> tuple[torch.Tensor, None]:
    """A decoder that loops A B A B ...: after A it says B (0.7), after B or bos it says A (0.7); the end is 0.1."""
    after_a = torch.log(torch.tensor([0.1, 0.2, 0.7, 1e-9]))  # EOS, A, B, BOS
    after_b = torch.log(torch.tensor([0.1, 0.7, 0.2, 1e-9]))
    return torch.where((tokens == A).unsqueeze(1), after_a, after_b), state


def test_repeat_blocking_stops_a_loop_that_beam_search_prefers():
    def run(n: int):  # averaged per token (length_penalty 1): ending at once (0.1) scores below the loop (0.7 a token)
        return beam_search(loop_step, lambda s, i: s, None, 1, BOS, EOS, 3, 8, length_penalty=1.0,
                           no_repeat_ngram=n)[0][0]

    looped = run(0)
    assert looped.tokens == [A, B_, A, B_, A, B_, A, B_]  # cut off at max_length, unfinished
    assert not looped.finished
    blocked = run(2)
    assert blocked.finished
    bigrams = list(itertools.pairwise(blocked.tokens))
    assert len(bigrams) == len(set(bigrams))
    # brute force: every A/B word without a repeated bigram, then the end, scored by its mean log-probability
    probs = {(BOS, A): 0.7, (BOS, B_): 0.2, (A, B_): 0.7, (B_, A): 0.7, (A, A): 0.2, (B_, B_): 0.2, (A, EOS): 0.1,
             (B_, EOS): 0.1, (BOS, EOS): 0.1}

    def mean_logp(tokens: tuple[int, ...]) -> float:
        path = [BOS, *tokens]
        return sum(math.log(probs[pair]) for pair in itertools.pairwise(path)) / len(tokens)

    words = [w for n in range(8) for w in itertools.product([A, B_], repeat=n)
             if len(set(itertools.pairwise(w))) == len(w) - 1]
    best = max(words, key=lambda w: mean_logp((*w, EOS)))
    assert blocked.tokens == [*best, EOS] == [A, B_, A, EOS]
    assert blocked.score == pytest.approx(mean_logp((*best, EOS)), rel=1e-5)


def test_bad_repeat_block_argument():
    with pytest.raises(ValueError, match="no_repeat_ngram must be an integer >= 0"):
        beam_search(loop_step, lambda s, i: s, None, 1, BOS, EOS, 3, 8, no_repeat_ngram=-1)


def test_decode_steps_streams_what_generate_tokens_returns():
    from rnnkit.models.decoding import decode_steps

    calls = []

    def counting_step(tokens, state):
        calls.append(1)
        return table_step(tokens, state)

    history = torch.empty(1, 0, dtype=torch.long)
    steps = decode_steps(counting_step, history, 1, BOS, EOS, 5, torch.device("cpu"))
    first, _ = next(steps)
    assert first.tolist() == [A]
    assert len(calls) == 1  # the first token comes out before the decoder runs a second step
    rest = [t.item() for t, _ in steps]
    tokens, lengths, _ = generate_tokens(table_step, history, 1, BOS, EOS, 5, torch.device("cpu"))
    assert [A, *rest] == tokens[0, : int(lengths[0])].tolist() == [A, EOS]
