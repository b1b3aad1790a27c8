"""AWD-LSTM's regularisation in the char-LM (rnnkit.lm.awd): each does what it says, only in training,
and all of it is off by default."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers import reference
from rnnkit.lm import CharLM, CharLMConfig, CharVocab, TrainConfig, load_model, sample, train
from rnnkit.lm.awd import embedding_dropout, locked_dropout

PANGRAM = "the quick brown fox jumps over the lazy dog.\n"
VOCAB = CharVocab(PANGRAM)
IDS = torch.tensor([VOCAB.encode(PANGRAM[:30]), VOCAB.encode(PANGRAM[10:40])])  # (2, 30)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def model(cell: str = "lstm", seed: int = 0, **options) -> CharLM:
    torch.manual_seed(seed)
    settings = {"hidden_size": 16, "embedding_size": 8, "num_layers": 2, "cell": cell, **options}
    return CharLM(CharLMConfig(vocab_size=len(VOCAB), **settings), VOCAB)


def test_all_off_by_default_and_the_default_model_is_unchanged():
    c = CharLMConfig(vocab_size=10)
    assert (c.weight_dropout, c.embedding_dropout, c.input_dropout, c.output_dropout,
            c.tie_weights) == (0, 0, 0, 0, False)
    names = [n for n, _ in CharLM(c).named_parameters()]
    assert names == ["embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                     "head.weight", "head.bias"]
    m = model().train()
    train_mode, _ = m(IDS)  # nothing random is switched on, so training mode computes what eval mode does
    torch.testing.assert_close(train_mode, m.eval()(IDS)[0])


def test_locked_dropout_uses_one_mask_for_every_step():
    torch.manual_seed(0)
    y = locked_dropout(torch.ones(4, 50, 6), 0.5, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same at every step
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert not torch.equal(y[0], y[1])  # but its own mask for each sequence
    assert torch.equal(locked_dropout(torch.ones(4, 50, 6), 0.5, training=False), torch.ones(4, 50, 6))


def test_input_and_output_dropout_in_the_model_are_locked():
    m = model(input_dropout=0.5, output_dropout=0.5).train()
    seen: dict[str, torch.Tensor] = {}
    m.rnn.register_forward_pre_hook(lambda mod, args: seen.update(rnn_in=args[0]))
    m.rnn.register_forward_hook(lambda mod, args, out: seen.update(rnn_out=out[0]))
    m.head.register_forward_pre_hook(lambda mod, args: seen.update(head_in=args[0]))
    torch.manual_seed(1)
    m(IDS)
    for mask in (seen["rnn_in"] / m.embedding(IDS), seen["head_in"] / seen["rnn_out"]):  # (B, T, C): 0 or 2
        mask = torch.nan_to_num(mask, nan=0.0)
        assert set(mask.unique().tolist()) <= {0.0, 2.0}
        assert torch.equal(mask, mask[:, :1].expand_as(mask))


def test_embedding_dropout_drops_whole_rows():
    torch.manual_seed(2)
    emb = torch.nn.Embedding(len(VOCAB), 8)
    out = embedding_dropout(emb, IDS, 0.5, training=True)  # (B, T, E)
    kept = dropped = 0
    for c in IDS.unique().tolist():
        rows = out[IDS.eq(c)]  # every occurrence of this character in the batch
        assert torch.equal(rows, rows[:1].expand_as(rows))  # the same at every occurrence
        if torch.equal(rows[0], torch.zeros(8)):
            dropped += 1
        else:
            torch.testing.assert_close(rows[0], emb.weight[c] * 2)  # kept whole, scaled by 1 / (1 - p)
            kept += 1
    assert kept > 0
    assert dropped > 0
    assert torch.equal(embedding_dropout(emb, IDS, 0.5, training=False), emb(IDS))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_drop_connect_is_one_scaled_mask_per_batch_and_the_fast_kernel_runs_on_it(cell, monkeypatch):
    m = model(cell, weight_dropout=0.5).train()
    torch.manual_seed(3)
    fast, _ = m(IDS)  # the fused kernel (oneDNN for the LSTM, rnnkit's fused GRU) on the dropped weight
    # the same batch through the reference loop, watching the W_hh every step receives
    step_name = "lstm_step" if cell == "lstm" else "gru_step"
    real = getattr(reference, step_name)
    seen: list[torch.Tensor] = []

    def spy(x, h, *rest, **kw):
        seen.append(rest[2 if cell == "lstm" else 1])  # weight_hh
        return real(x, h, *rest, **kw)

    monkeypatch.setattr(reference, step_name, spy)
    m.rnn.fast = False
    torch.manual_seed(3)
    loop, _ = m(IDS)
    torch.testing.assert_close(fast, loop)
    T = IDS.size(1)
    assert len(seen) == 2 * T  # two layers
    for layer in range(2):
        weight = getattr(m.rnn, f"weight_hh_l{layer}").detach()
        mask = seen[layer * T]
        assert all(torch.equal(w, mask) for w in seen[layer * T : (layer + 1) * T])  # one mask for every step
        kept = mask != 0
        torch.testing.assert_close(mask[kept], weight[kept] * 2)  # kept entries scaled by 1 / (1 - p)
        assert 0.3 < 1 - kept.double().mean().item() < 0.7
    # the gradient reaches W_hh through the mask: zero exactly where it was dropped
    m.zero_grad()
    torch.manual_seed(3)
    seen.clear()
    m(IDS)[0].sum().backward()
    first = seen[0]
    grad = m.rnn.get_parameter("weight_hh_l0").grad
    assert grad is not None
    assert bool((grad[first == 0] == 0).all())
    assert bool((grad[first != 0] != 0).any())
    # the next batch draws a new mask; eval mode uses W_hh itself
    seen.clear()
    m(IDS)
    assert not torch.equal(seen[0], first)
    seen.clear()
    m.eval()(IDS)
    assert torch.equal(seen[0], m.rnn.get_parameter("weight_hh_l0"))


def test_eval_mode_ignores_every_regulariser():
    plain = model(seed=4).eval()
    awd = model(seed=4, weight_dropout=0.5, embedding_dropout=0.3, input_dropout=0.4, output_dropout=0.4).eval()
    awd.load_state_dict(plain.state_dict())
    torch.testing.assert_close(awd(IDS)[0], plain(IDS)[0])
    assert not torch.allclose(awd.train()(IDS)[0], plain(IDS)[0])  # and in training they do act


def test_tied_weights_are_one_parameter_and_survive_a_checkpoint(tmp_path):
    untied = model(embedding_size=16)
    tied = model(embedding_size=16, tie_weights=True)
    assert tied.head.weight is tied.embedding.weight
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(untied) - count(tied) == len(VOCAB) * 16
    text = tmp_path / "pangrams.txt"
    text.write_text(PANGRAM * 20)
    config = TrainConfig(batch_size=4, bptt=16, max_steps=6, eval_every=3, warmup_steps=2, log_every=1)
    options = {"hidden_size": 16, "embedding_size": 16, "tie_weights": True, "weight_dropout": 0.3,
               "embedding_dropout": 0.1, "input_dropout": 0.2, "output_dropout": 0.2}
    result = train(config, options, text=str(text), out=tmp_path / "run", progress=False)
    loaded, _, meta = load_model(tmp_path / "run" / "last.pt")
    assert meta["config"]["tie_weights"] is True
    assert loaded.head.weight is loaded.embedding.weight
    torch.testing.assert_close(loaded(IDS)[0], result.model.eval()(IDS)[0])
    assert len(sample(loaded, "the ", 20, generator=torch.Generator().manual_seed(0))) == 20


def test_resumed_run_with_every_regulariser_equals_uninterrupted(tmp_path):
    # every mask comes from the generator reseeded before each step, so a resumed run draws the same masks
    text = tmp_path / "pangrams.txt"
    text.write_text(PANGRAM * 20)
    options = {"hidden_size": 16, "embedding_size": 16, "tie_weights": True, "weight_dropout": 0.3,
               "embedding_dropout": 0.1, "input_dropout": 0.2, "output_dropout": 0.2}
    config = TrainConfig(batch_size=4, bptt=16, max_steps=10, eval_every=5, warmup_steps=2, log_every=1)
    whole = train(config, options, text=str(text), out=tmp_path / "whole", progress=False)
    train(config, options, text=str(text), out=tmp_path / "split", progress=False,
          callback=lambda row: row["step"] == 5)
    resumed = train(config, {}, out=tmp_path / "split", resume=tmp_path / "split", progress=False)
    losses = lambda rows: [(r["step"], r["loss"]) for r in rows if "loss" in r]  # noqa: E731
    assert losses(resumed.history) == losses(whole.history)


def test_bad_settings_say_how_to_fix_them():
    with pytest.raises(ValueError, match="tie_weights needs embedding_size == hidden_size"):
        CharLMConfig(vocab_size=10, hidden_size=16, embedding_size=8, tie_weights=True)
    with pytest.raises(ValueError, match="weight_dropout=0.5 needs hidden-to-hidden weights"):
        CharLMConfig(vocab_size=10, cell="mingru", weight_dropout=0.5)
    with pytest.raises(ValueError, match=r"input_dropout must be in \[0, 1\), got 1.0"):
        CharLMConfig(vocab_size=10, input_dropout=1.0)
