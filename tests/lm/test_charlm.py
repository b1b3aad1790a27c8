"""The character-level LM: learning, sampling, exact resume, checkpoints, data loading, and its error messages.

Every training run here is tiny (a few thousand parameters, tens of steps) so the file runs in seconds.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.lm import CharLM, CharLMConfig, CharVocab, TrainConfig, load_model, sample, train
from rnnkit.lm.checkpoint import make_checkpoint
from rnnkit.lm.data import RandomWindows, StreamBatches, iter_text, load_corpus
from rnnkit.lm.sample import next_char_distribution
from rnnkit.utils.checkpoint import CheckpointError, atomic_save

PANGRAM = "the quick brown fox jumps over the lazy dog.\n"
TINY = {"hidden_size": 32, "embedding_size": 8}  # model options for a model that trains in a blink


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def tiny_config(**overrides) -> TrainConfig:
    settings = {"batch_size": 4, "bptt": 16, "lr": 1e-2, "warmup_steps": 5, "eval_every": 1000, "log_every": 1,
                "val_fraction": 0.1, "max_steps": 30}
    return TrainConfig(**{**settings, **overrides})


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "pangrams.txt"
    path.write_text(PANGRAM * 40)
    return path


def random_model(seed: int = 0, cell: str = "lstm", num_layers: int = 2) -> CharLM:
    torch.manual_seed(seed)
    vocab = CharVocab(PANGRAM)
    return CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=16, embedding_size=8, num_layers=num_layers,
                               cell=cell), vocab).eval()


# ---- learning ------------------------------------------------------------------------------------


def test_tiny_model_overfits_a_short_text(text_file):
    # a repeated 45-character sentence is fully predictable after its first few characters
    result = train(tiny_config(max_steps=250, lr=2e-2), TINY, text=str(text_file), progress=False)
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert losses[0] > 2.5  # starts near ln(27) = 3.3, i.e. knows nothing
    assert np.mean(losses[-10:]) < 0.15
    assert result.last_val_loss < 0.15


def test_learning_rate_warms_up_then_follows_the_cosine_by_step(text_file):
    # with --max-steps only: lr * (k + 1) / W for the first W steps, then, with progress p = (k - W) / (N - W),
    # lr * (f + (1 - f) * (1 + cos(pi * p)) / 2), from lr down to lr * f at the last step (k counted from 0)
    lr, W, N, f = 1e-2, 5, 30, 0.02
    config = tiny_config(max_steps=N, warmup_steps=W, final_lr_fraction=f)
    logged = [r["lr"] for r in train(config, TINY, text=str(text_file), progress=False).history if "lr" in r]
    closed = [lr * (k + 1) / W if k < W else lr * (f + (1 - f) * (1 + math.cos(math.pi * (k - W) / (N - W))) / 2)
              for k in range(N)]
    assert logged == pytest.approx(closed, rel=1e-12)
    assert logged[W] == pytest.approx(lr)  # the peak right after the warm-up
    assert logged[-1] == pytest.approx(lr * (f + (1 - f) * (1 + math.cos(math.pi * 24 / 25)) / 2))  # near lr * f


def test_forward_contract_and_final_state():
    model = random_model()
    ids = torch.tensor([CharVocab(PANGRAM).encode(PANGRAM)])  # (1, T)
    logits, loss = model(ids[:, :-1], ids[:, 1:])
    assert logits.shape == (1, ids.size(1) - 1, model.config.vocab_size)
    assert torch.isclose(loss, torch.nn.functional.cross_entropy(logits[0], ids[0, 1:]))
    # the final state of one call continues exactly where a single longer call would be
    _, _ = model(ids[:, :20])
    first = model.final_state
    logits_b, _ = model(ids[:, 20:], state=first)
    whole, _ = model(ids)
    torch.testing.assert_close(logits_b, whole[:, 20:])


# ---- sampling ------------------------------------------------------------------------------------


def test_seeded_sampling_is_reproducible():
    model = random_model()
    a = sample(model, "the ", 100, generator=torch.Generator().manual_seed(7))
    b = sample(model, "the ", 100, generator=torch.Generator().manual_seed(7))
    c = sample(model, "the ", 100, generator=torch.Generator().manual_seed(8))
    assert a == b
    assert len(a) == 100
    assert a != c


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_greedy_sampling_matches_argmax_of_full_forward(cell):
    # the batch-1 Stepper path and the warm-up must agree with running the whole text through forward()
    model = random_model(cell=cell)
    vocab = model.vocab
    assert vocab is not None
    prime = "the lazy "
    out = sample(model, prime, 40, greedy=True)
    ids = vocab.encode(prime)
    for _ in range(40):
        logits, _ = model(torch.tensor([ids]))
        ids.append(int(logits[0, -1].argmax()))
    assert out == vocab.decode(ids[len(prime):])


def test_temperature_to_zero_equals_greedy():
    model = random_model(1)
    greedy = sample(model, "over ", 80, greedy=True)
    cold = sample(model, "over ", 80, temperature=1e-6, generator=torch.Generator().manual_seed(3))
    assert cold == greedy


@pytest.mark.parametrize(("top_k", "top_p"), [(3, None), (None, 0.5), (1, None), (None, 1e-9)])
def test_top_k_and_top_p_never_emit_excluded_characters(top_k, top_p):
    model = random_model(2)
    vocab = model.vocab
    assert vocab is not None
    prime = "jumps "
    out = sample(model, prime, 150, temperature=3.0, top_k=top_k, top_p=top_p,
                 generator=torch.Generator().manual_seed(0))
    ids = vocab.encode(prime + out)
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:-1]]))
    probs = torch.softmax(logits[0] / 3.0, dim=-1)  # (T, V): the tempered distribution at each step
    for t in range(len(prime) - 1, len(ids) - 1):
        chosen = ids[t + 1]
        rank = int((probs[t] > probs[t, chosen]).sum())  # how many characters were strictly more likely
        if top_k is not None:
            assert rank < top_k
        if top_p is not None:
            mass_before = float(probs[t][probs[t] > probs[t, chosen]].sum())
            assert mass_before < top_p + 1e-6
    if top_k == 1 or top_p == 1e-9:  # a single survivor is greedy decoding
        assert out == sample(model, prime, 150, greedy=True)


def test_next_char_distribution_cuts_exactly():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    torch.testing.assert_close(next_char_distribution(logits, top_k=2), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    # 0.5 < 0.7, 0.5 + 0.3 >= 0.7: the nucleus is the first two characters
    torch.testing.assert_close(next_char_distribution(logits, top_p=0.7), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    torch.testing.assert_close(next_char_distribution(logits, top_p=0.85), torch.tensor([[0.5, 0.3, 0.15, 0.0]]) / 0.95)


def test_prime_with_unknown_characters():
    model = random_model()
    with pytest.raises(ValueError, match=r"not in the vocabulary: 'Z'.*skip-unknown"):
        sample(model, "Zebra", 5)
    skipped = sample(model, "Zebra", 20, greedy=True, skip_unknown=True)
    assert skipped == sample(model, "ebra", 20, greedy=True)


# ---- exact resume, checkpoints ---------------------------------------------------------------------


def test_interrupted_and_resumed_run_equals_uninterrupted(text_file, tmp_path):
    # two layers with dropout, so the dropout generator and the optimizer state must be restored too
    options = {**TINY, "num_layers": 2, "dropout": 0.2}
    config = tiny_config(max_steps=24, eval_every=8)
    whole = train(config, options, text=str(text_file), out=tmp_path / "whole", progress=False)
    stop_at_13 = lambda row: row["step"] == 13  # noqa: E731  (what Ctrl-C does: finish the step, checkpoint, stop)
    first = train(config, options, text=str(text_file), out=tmp_path / "split", progress=False, callback=stop_at_13)
    assert first.stopped == "interrupted"
    assert first.step == 13
    resumed = train(config, {}, text=None, out=tmp_path / "split", resume=tmp_path / "split", progress=False)
    assert resumed.step == 24

    def losses(rows):
        return [(r["step"], r["loss"]) for r in rows if "loss" in r]

    def val_at(rows, steps):
        return [r["val_loss"] for r in rows if "val_loss" in r and r["step"] in steps]

    assert losses(resumed.history) == losses(whole.history)  # to the last digit
    assert val_at(resumed.history, {8, 16, 24}) == val_at(whole.history, {8, 16, 24})
    logged = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert losses(logged) == losses(whole.history)
    for name, p in whole.model.state_dict().items():
        assert torch.equal(p, resumed.model.state_dict()[name]), name


def test_checkpoint_describes_itself_and_loads(text_file, tmp_path):
    result = train(tiny_config(max_steps=10, eval_every=5), TINY, text=str(text_file), out=tmp_path / "run",
                   progress=False)
    model, vocab, meta = load_model(tmp_path / "run", map_location="cpu")
    assert vocab == result.vocab
    assert model.config == result.model.config
    assert meta["step"] == 10
    assert meta["config"]["hidden_size"] == 32
    assert meta["rnnkit_version"]
    assert math.isfinite(meta["metrics"]["best_val_loss"])
    assert meta["train_config"]["batch_size"] == 4
    assert (tmp_path / "run" / "last.pt").exists()
    assert (tmp_path / "run" / "best.pt").exists()
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "run").iterdir())


def test_weights_that_do_not_fit_are_named(tmp_path):
    """A char-LM file whose weights do not fit the model its config builds (another version wrote it) is a
    CheckpointError naming the file, the parameters and the command to train again, not a load_state_dict traceback."""
    model = random_model(0)
    assert model.vocab is not None
    checkpoint = make_checkpoint(model, model.vocab, step=1)
    name = next(iter(checkpoint["model"]))
    checkpoint["model"][name] = checkpoint["model"][name][:1]  # a shape this config does not build
    atomic_save(checkpoint, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match=rf"last.pt: its weights do not fit the character-LM model .*missing: "
                                              rf"{re.escape(name)}; not expected: none.*`rnnkit train charlm`"):
        load_model(tmp_path / "last.pt")


def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    old = random_model(0)
    assert old.vocab is not None
    atomic_save(make_checkpoint(old, old.vocab, step=1), path)

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # some bytes reach the disk, then the process "dies"
        raise OSError("simulated crash: disk full")

    monkeypatch.setattr(torch, "save", dies_halfway)
    new = random_model(1)
    assert new.vocab is not None
    with pytest.raises(OSError, match="simulated crash"):
        atomic_save(make_checkpoint(new, new.vocab, step=2), path)
    monkeypatch.undo()
    loaded, _, meta = load_model(path)
    assert meta["step"] == 1
    for name, p in old.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], p)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no half-written file left behind


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(text_file, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(max_steps=10, eval_every=5), TINY, text=str(text_file), out=run, progress=False)
    before = load_model(run)[0].state_dict()
    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(ValueError, match=r"loss became nan at step 11.*last good checkpoint.*last\.pt"):
        train(tiny_config(max_steps=20, eval_every=5), {}, out=run, resume=run, progress=False)
    monkeypatch.undo()
    model, _, meta = load_model(run / "last.pt")
    assert meta["step"] == 10
    for name, p in model.state_dict().items():
        assert torch.equal(p, before[name])


def test_resume_with_other_settings_or_vocabulary_names_both(text_file, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(max_steps=5, eval_every=5), TINY, text=str(text_file), out=run, progress=False)
    with pytest.raises(ValueError, match=r"hidden_size: asked for 64, the checkpoint has 32"):
        train(tiny_config(max_steps=10), {"hidden_size": 64}, out=run, resume=run, progress=False)
    with pytest.raises(ValueError, match=r"bptt: asked for 8, the checkpoint has 16"):
        train(tiny_config(max_steps=10, bptt=8), {}, out=run, resume=run, progress=False)
    other = tmp_path / "other.txt"
    other.write_text("THE QUICK BROWN FOX! " * 100)
    with pytest.raises(ValueError, match=r"outside the model's vocabulary of 29"):
        train(tiny_config(max_steps=10), {}, text=str(other), out=run, resume=run, progress=False)
    notours = tmp_path / "recipe.pt"
    torch.save({"task": "sentiment"}, notours)
    with pytest.raises(ValueError,
                       match=r"not a character-LM checkpoint: it holds a .sentiment. recipe model; use .rnnkit "
                             r"predict."):
        load_model(notours)


# ---- data ----------------------------------------------------------------------------------------


def test_streaming_loader_gives_the_same_batches_as_in_memory(tmp_path):
    text = ("naïve café — ünïcödé 🙂 text\n" * 50) + PANGRAM * 20  # multi-byte characters straddle the 7-byte reads
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    memory = load_corpus(path)
    streamed = load_corpus(path, stream=True, cache_dir=tmp_path / "cache", chunk_bytes=7)
    assert isinstance(streamed.ids, np.memmap)
    assert not isinstance(memory.ids, np.memmap)
    assert streamed.vocab == memory.vocab
    np.testing.assert_array_equal(np.asarray(streamed.ids), memory.ids)
    assert memory.vocab.decode(memory.ids) == text
    for a, b in ((memory.ids, streamed.ids), memory.split(0.1)[:1] + streamed.split(0.1)[:1]):
        sa, sb = StreamBatches(a, 6, 10), StreamBatches(b, 6, 10)
        ra, rb = RandomWindows(a, 6, 10, seed=3), RandomWindows(b, 6, 10, seed=3)
        for k in range(sa.chunks_per_epoch + 2):
            for x, y in zip(sa.batch(k) + ra.batch(k), sb.batch(k) + rb.batch(k), strict=True):
                assert torch.equal(x, y)


def test_stream_batches_are_char_rnn_streams():
    ids = np.arange(103) % 251
    batches = StreamBatches(ids.astype(np.uint8), batch_size=4, bptt=5)
    # independent reference: 4 rows of 25 consecutive ids (plus the next one as the last target)
    rows = [ids[b * 25 : b * 25 + 26] for b in range(4)]
    assert batches.chunks_per_epoch == 5
    for k in range(7):
        x, y = batches.batch(k)
        j = k % 5
        np.testing.assert_array_equal(x.numpy(), np.stack([r[j * 5 : j * 5 + 5] for r in rows]))
        np.testing.assert_array_equal(y.numpy(), np.stack([r[j * 5 + 1 : j * 5 + 6] for r in rows]))
    # two ranks split the same global batch
    halves = [StreamBatches(ids.astype(np.uint8), 4, 5, rank=r, world_size=2).batch(3)[0] for r in (0, 1)]
    assert torch.equal(torch.cat(halves), batches.batch(3)[0])


def test_undecodable_bytes_name_their_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("héllo wörld ".encode() * 3 + b"\xff rest")  # 'é' and 'ö' are two bytes each: 14 bytes per copy
    for chunk in (5, 1 << 20):
        with pytest.raises(ValueError, match=r"byte 42 \(0xff\) is not valid UTF-8.*--errors replace"):
            list(iter_text(path, chunk_bytes=chunk))
    assert "".join(iter_text(path, errors="replace", chunk_bytes=5)).endswith("\ufffd rest")
    with pytest.raises(ValueError, match=r"byte 42"):
        train(tiny_config(), TINY, text=str(path), progress=False)


def test_too_small_corpus_says_how_to_fix_it(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("just a few words, not enough for a batch\n")
    with pytest.raises(ValueError, match=r"needs 65\. Use a smaller --batch-size \(at most 2 at --bptt 16\)"):
        train(tiny_config(), TINY, text=str(path), progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        train(tiny_config(), TINY, text=str(empty), progress=False)
    with pytest.raises(ValueError, match="validation split has 0 characters"):
        train(tiny_config(val_fraction=0.0, batch_size=1, bptt=4), TINY, text=str(path), progress=False)
    # not even one stream fits: "at most 0 at --bptt 64" was the advice
    with pytest.raises(ValueError, match=r"Use a smaller --bptt \(at most 36, with --batch-size 1\), a smaller"):
        train(tiny_config(bptt=64), TINY, text=str(path), progress=False)


# ---- the command line ----------------------------------------------------------------------------


def test_cli_train_eval_sample(text_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "charlm", "--text", str(text_file), "--out", str(run), "--max-steps", "12", "--eval-every",
                 "6", "--hidden-size", "32", "--embedding-size", "8", "--batch-size", "4", "--bptt", "16",
                 "--no-progress"]) == 0
    assert main(["eval", str(run), "--text", str(text_file)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    val_loss, bpc = (float(part.split("=")[1]) for part in last.split())
    assert last.startswith("val_loss=")
    assert bpc == pytest.approx(val_loss / math.log(2), abs=1e-3)
    assert main(["sample", str(run), "--prime", "the ", "--length", "30", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert main(["sample", str(run), "--prime", "the ", "--length", "30", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("the ")
    assert len(first) == 4 + 30 + 1
    assert main(["sample", str(run), "--prime", "ZZ"]) == 2
    refused = capsys.readouterr()
    assert "--skip-unknown" in refused.err
    assert refused.out == ""  # the prime was printed before the error
    # a resumed CLI run keeps its settings without repeating them
    assert main(["train", "charlm", "--resume", str(run), "--max-steps", "14", "--no-progress"]) == 0
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 14
    assert main(["train", "charlm", "--resume", str(run), "--no-progress"]) == 2
    assert "already reached its bounds (step 14" in capsys.readouterr().err


def test_charlm_checkpoints_use_the_one_layout(text_file, tmp_path):
    from rnnkit.utils.checkpoint import FORMAT, load_checkpoint

    train(tiny_config(max_steps=2, eval_every=2), TINY, text=str(text_file), out=tmp_path, progress=False)
    raw = load_checkpoint(tmp_path / "last.pt")
    assert (raw["format"], raw["version"], raw["kind"]) == (FORMAT, 1, "charlm")
    model, vocab, meta = load_model(tmp_path / "last.pt")
    assert raw["meta"]["vocab"] == vocab.to_list()
    assert meta["step"] == 2
    digits = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "digits-2026-11.pt"
    with pytest.raises(ValueError, match="not a character-LM checkpoint: it holds a 'digits' recipe model"):
        load_model(digits)
