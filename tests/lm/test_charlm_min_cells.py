"""The char-LM with minGRU/minLSTM cells: it learns, samples step by step exactly as the whole-sequence
forward predicts, and trains, saves, loads and samples from the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.layers import MinGRU, MinLSTM
from rnnkit.lm import CharLM, CharLMConfig, CharVocab, TrainConfig, load_model, sample, train

PANGRAM = "the quick brown fox jumps over the lazy dog.\n"


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "pangrams.txt"
    path.write_text(PANGRAM * 40)
    return path


def tiny_lm(cell: str) -> CharLM:
    """An untrained char-LM with a min cell over the pangram's characters."""
    vocab = CharVocab(PANGRAM)
    return CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=8, embedding_size=4, cell=cell), vocab)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_greedy_sampling_matches_argmax_of_full_forward(cell):
    # the step-by-step path (MinStepper) and the prime's warm-up must agree with the scan over the whole text
    torch.manual_seed(0)
    vocab = CharVocab(PANGRAM)
    model = CharLM(CharLMConfig(vocab_size=len(vocab), hidden_size=16, embedding_size=8, num_layers=2, cell=cell),
                   vocab).eval()
    assert isinstance(model.rnn, MinGRU if cell == "mingru" else MinLSTM)
    out = sample(model, "the lazy ", 40, greedy=True)
    ids = vocab.encode("the lazy ")
    for _ in range(40):
        logits, _ = model(torch.tensor([ids]))
        ids.append(int(logits[0, -1].argmax()))
    assert out == vocab.decode(ids[len("the lazy "):])


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_tiny_model_learns_a_short_text(text_file, cell):
    config = TrainConfig(batch_size=4, bptt=16, lr=2e-2, warmup_steps=5, eval_every=1000, log_every=1, max_steps=100)
    result = train(config, {"hidden_size": 32, "embedding_size": 8, "cell": cell}, text=str(text_file), progress=False)
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert losses[0] > 2.5  # ln(27) = 3.3: knows nothing
    assert np.mean(losses[-10:]) < 0.3  # the repeated sentence, learnt (measured: about 0.02 at 150 steps)
    assert result.last_val_loss < 0.3


def test_cli_trains_saves_loads_and_samples_a_mingru(text_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "charlm", "--cell", "mingru", "--text", str(text_file), "--out", str(run), "--max-steps", "8",
                 "--eval-every", "4", "--hidden-size", "16", "--embedding-size", "8", "--num-layers", "2",
                 "--batch-size", "4", "--bptt", "16", "--input-dropout", "0.1", "--no-progress"]) == 0
    model, _, meta = load_model(run)
    assert meta["config"]["cell"] == "mingru"
    assert meta["config"]["input_dropout"] == 0.1
    assert isinstance(model.rnn, MinGRU)
    capsys.readouterr()
    assert main(["sample", str(run), "--prime", "the ", "--length", "30", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert main(["sample", str(run), "--prime", "the ", "--length", "30", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first
    assert len(first) == 4 + 30 + 1
    with pytest.raises(SystemExit):  # argparse: not among the choices
        main(["train", "charlm", "--cell", "minrnn", "--no-progress"])
    assert "invalid choice: 'minrnn'" in capsys.readouterr().err


def test_export_refuses_a_min_cell_model_by_name():
    pytest.importorskip("onnx")
    from rnnkit.export.charlm import charlm_onnx

    with pytest.raises(ValueError,
                       match="export: supports char-LMs with cell lstm, gru or rnn; this one has cell='minlstm'"):
        charlm_onnx(tiny_lm("minlstm"))


def test_serve_refuses_a_min_cell_model_when_it_loads():
    pytest.importorskip("fastapi")
    from rnnkit.serve.batching import Batcher

    with pytest.raises(ValueError,
                       match="rnnkit serve: supports char-LMs with cell lstm, gru or rnn; this one has cell='mingru'"):
        Batcher(tiny_lm("mingru"))


def test_serve_and_inspect_refuse_a_saved_min_cell_run_before_any_work(text_file, tmp_path, capsys):
    # both measure units with record(), which only the LSTM/GRU/RNN layers have: the refusal must come first and
    # name the command and the cell, not a trace_text TypeError from inside the unit search
    pytest.importorskip("fastapi")
    from rnnkit.serve.models import load_models

    run = tmp_path / "run"
    assert main(["train", "charlm", "--cell", "mingru", "--text", str(text_file), "--out", str(run), "--max-steps", "2",
                 "--hidden-size", "8", "--embedding-size", "4", "--batch-size", "4", "--bptt", "16",
                 "--no-progress"]) == 0
    with pytest.raises(ValueError,
                       match="rnnkit serve: supports char-LMs with cell lstm, gru or rnn; this one has cell='mingru'"):
        load_models([str(run)])
    capsys.readouterr()
    assert main(["inspect", str(run), "--out", str(tmp_path / "page")]) != 0
    assert ("rnnkit inspect: supports char-LMs with cell lstm, gru or rnn; this one has cell='mingru'"
            in capsys.readouterr().err)
    assert not (tmp_path / "page").exists()
