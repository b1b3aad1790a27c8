"""The long-term lab: probe model contract, a short training run that learns, the table, the plot and the command."""

import argparse
import csv

import matplotlib.image
import pytest
import torch

from rnnkit.lab import commands
from rnnkit.lab.long_term import LongTermConfig, run_long_term, steps_for, train_one
from rnnkit.lab.model import ProbeModel
from rnnkit.lab.problems import AddingTask, CopyTask, RecallTask

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


@pytest.mark.parametrize("task", [AddingTask(6), CopyTask(4), RecallTask(3)])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_probe_model_contract(task, cell):
    torch.manual_seed(0)
    model = ProbeModel(task, cell, hidden_size=8)
    x, y = task.sample(5, torch.Generator().manual_seed(0))
    output, loss = model(x, y)
    assert output.shape == (5, x.size(1), task.output_size)
    assert loss is not None
    assert loss.dim() == 0
    assert torch.isfinite(loss)
    assert model(x)[1] is None


def test_probe_model_rejects_unknown_cell():
    with pytest.raises(ValueError, match="ProbeModel: unknown cell 'tcn'"):
        ProbeModel(AddingTask(5), "tcn", 8)


def test_lstm_learns_a_short_adding_problem():
    """At T = 8 an LSTM must beat the memoryless baseline (0.167) by far within 200 steps (it reaches ~0.017)."""
    config = LongTermConfig(hidden_size=16, batch_size=32, budget=200 * 8, eval_every=50, eval_size=256, lr=1e-2,
                            early_stop=0.0)
    result = train_one(config, "lstm", 8, seed=0)
    assert result.steps == 200
    assert result.metric < 0.25 * result.baseline, result


def test_run_writes_csv_table_plot_and_skips_after_failures(tmp_path):
    # one step cannot solve anything: two failures in a row, so T = 8 is skipped
    config = LongTermConfig(cells="rnn,gru", lengths="6,4,8", budget=1, eval_every=1, eval_size=16,
                            hidden_size=4, skip_after_fails=2, out=str(tmp_path))
    lines: list[str] = []
    results = run_long_term(config, log=lines.append)
    assert [(r.cell, r.length, r.status) for r in results] == [
        ("rnn", 4, "not solved"), ("rnn", 6, "not solved"), ("rnn", 8, "skipped"),
        ("gru", 4, "not solved"), ("gru", 6, "not solved"), ("gru", 8, "skipped"),
    ]
    assert any("skipped" in line for line in lines)
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert rows[0]["cell"] == "rnn"
    assert float(rows[0]["baseline"]) == pytest.approx(1 / 6)
    table = (tmp_path / "results.md").read_text()
    assert "| rnn | 8 | – | 0.1667 | – | not run (failed shorter T) |" in table
    assert "- **gru**: longest solved none; first not solved T = 4." in table
    image = matplotlib.image.imread(tmp_path / "results.png")
    assert image.ndim == 3
    assert image.shape[0] > 200


def test_early_stop_ends_a_run_at_the_first_evaluation_below_its_bar():
    # early_stop=1e9 puts the stopping bar far above any loss, so the first evaluation ends the run;
    # "solved" still means below the task's own bar (MSE 0.01), which 5 steps do not reach
    config = LongTermConfig(budget=150, eval_every=5, eval_size=16, hidden_size=4, early_stop=1e9)
    result = train_one(config, "rnn", 3, seed=0)
    assert result.steps == 5
    assert result.metric > 0.01
    assert result.status == "not solved"
    assert result.solved_at is None


def parse(argv):
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_command_runs_and_reports_bad_values(tmp_path, capsys):
    args = parse(["lab", "long-term", "--task", "copy", "--cells", "lstm", "--lengths", "3", "--budget", "6",
                  "--threads", "0", "--eval-every", "1", "--eval-size", "8", "--hidden-size", "4", "--out",
                  str(tmp_path)])
    assert args.run(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "results.md").exists()
    for flag, value, message in (("--cells", "lstm,tcn", "--cells must name cells"),
                                 ("--lengths", "10,x", "--lengths must be comma-separated integers")):
        args = parse(["lab", "long-term", flag, value, "--out", str(tmp_path)])
        with pytest.raises(ValueError, match=message):
            args.run(args)


def test_step_budget_is_budget_over_length_capped():
    config = LongTermConfig(budget=300_000, max_steps=2000)
    assert [steps_for(config, t) for t in (10, 50, 100, 200, 400)] == [2000, 2000, 2000, 1500, 750]
    assert steps_for(LongTermConfig(budget=5), 400) == 1
