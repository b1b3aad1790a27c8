"""The long-term dependency lab: train each cell at each gap length T on a fixed budget.

``run_long_term(config)`` trains a ``ProbeModel`` per (cell, T, seed) with Adam and gradient
clipping for budget / T steps (at most ``max_steps``), so that every run may process the
same number of time steps, scores it on a fixed held-out batch, and writes ``results.csv`` (one row per run),
``results.md`` (a table per cell and T, with
the trivial baseline and where each cell stops learning) and ``results.png`` (metric
against T per cell, baseline drawn). The files are rewritten after every run, so an
interrupted lab keeps what it measured.

A run stops early once its held-out metric falls below ``early_stop`` times the task's
"solved" bar; a cell that fails ``skip_after_fails`` lengths in a row is not run at longer
ones (a memory that cannot bridge T = 100 will not bridge T = 400 either, and the budget
is better spent elsewhere). Both choices are written into the table.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.lab.model import LAYERS, ProbeModel
from rnnkit.lab.problems import TASKS, make_task
from rnnkit.utils.config import option
from rnnkit.utils.plotting import new_figure
from rnnkit.utils.training import check_clip


@dataclass(frozen=True)
class LongTermConfig:
    task: str = option("adding", "adding, copy or recall", choices=sorted(TASKS))
    cells: str = option("rnn,lstm,gru", "comma-separated cells to compare")
    lengths: str = option("10,50,100,200,400", "comma-separated gap lengths T")
    seeds: str = option("0", "comma-separated seeds; each seed fixes init and data")
    hidden_size: int = option(32, "hidden units H")  # ample for one sum; 64 needed more steps, each 2-3x dearer
    batch_size: int = option(64, "sequences per step")
    # every long run costs the same; ~25 min in all on 2 busy cores
    budget: int = option(300_000, "training budget per run in time steps (steps x T): 1500 steps at T = 200")
    max_steps: int = option(2000, "at most this many steps per run, however short T is")  # caps the short lengths
    lr: float = option(1e-2, "Adam learning rate")  # with clipping, 2x fewer steps to solve T = 100 than 3e-3
    clip: float = option(1.0, "gradient-norm clipping threshold (0 = off)")  # tames the RNN's explosions
    forget_bias: float = option(1.0, "LSTM forget-gate bias at init")  # start out remembering
    eval_every: int = option(100, "steps between held-out evaluations")
    eval_size: int = option(512, "held-out sequences per evaluation")
    early_stop: float = option(0.25, "stop a run below this fraction of the solved bar; 0 never")
    skip_after_fails: int = option(2, "skip longer T after this many failures in a row; 0 never")
    # tiny models: 1 thread ran 3x faster than 2 on a busy 2-core machine
    threads: int = option(1, "torch threads (0: torch's default)")
    out: str = option("lab-long-term", "output directory")


@dataclass
class RunResult:
    """One trained (cell, T, seed): what it reached and what it cost."""

    task: str
    cell: str
    length: int
    seed: int
    steps: int  # steps actually trained (fewer than the budget after an early stop)
    budget_steps: int  # steps the budget allowed at this length
    seconds: float
    metric: float  # held-out loss at the end (MSE or cross-entropy per scored step)
    accuracy: float | None
    baseline: float
    solved_below: float
    solved_at: int | None  # first evaluated step whose metric was below the solved bar
    status: str  # "solved", "not solved", "diverged" or "skipped"


CSV_FIELDS = [f.name for f in dataclasses.fields(RunResult)]


def parse_ints(name: str, text: str, minimum: int = 0) -> list[int]:
    """'10,50,100' -> [10, 50, 100], with an error that names the flag."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{name} must be comma-separated integers, got {text!r}.") from None
    if not values or min(values) < minimum:
        raise ValueError(f"--{name} needs integers >= {minimum}, got {text!r}.")
    return values


def parse_cells(text: str) -> list[str]:
    cells = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cells if c not in LAYERS]
    if not cells or unknown:
        raise ValueError(f"long-term: --cells must name cells among {sorted(LAYERS)}, got {text!r}.")
    return cells


def steps_for(config: LongTermConfig, length: int) -> int:
    """The step budget at gap length T: budget // T, at most max_steps (and at least one step)."""
    return max(1, min(config.max_steps, config.budget // length))


def train_one(config: LongTermConfig, cell: str, length: int, seed: int) -> RunResult:
    """Train one probe model on one task length and score it on a held-out batch."""
    task = make_task(config.task, length)
    torch.manual_seed(seed)  # the initial weights
    model = ProbeModel(task, cell, config.hidden_size, config.forget_bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    data = torch.Generator().manual_seed(seed)  # the training stream
    x_eval, y_eval = task.sample(config.eval_size, torch.Generator().manual_seed(10_000 + seed))  # held out
    stop_below = config.early_stop * task.solved_below()

    def evaluate() -> tuple[float, float | None]:
        model.eval()
        with torch.no_grad():
            output, loss = model(x_eval, y_eval)
        model.train()
        assert loss is not None
        return loss.item(), model.accuracy(output, y_eval)

    start, step, solved_at, status = time.perf_counter(), 0, None, "not solved"
    metric, accuracy = evaluate()
    steps = steps_for(config, length)
    while step < steps:
        model.learn(optimizer, config.batch_size, data, config.clip)
        step += 1
        if step % config.eval_every and step != steps:
            continue
        metric, accuracy = evaluate()
        if not math.isfinite(metric):
            status = "diverged"
            break
        if solved_at is None and metric < task.solved_below():
            solved_at = step
        if metric < stop_below:
            break
    if status != "diverged":
        status = "solved" if metric < task.solved_below() else "not solved"
    return RunResult(
        config.task, cell, length, seed, step, steps, round(time.perf_counter() - start, 1), metric, accuracy,
        task.baseline(), task.solved_below(), solved_at, status,
    )


def run_long_term(config: LongTermConfig, log: Callable[[str], None] = print) -> list[RunResult]:
    """Every cell at every length (shortest first) and seed; writes the CSV, table and plot after each run."""
    cells = parse_cells(config.cells)
    lengths = sorted(parse_ints("lengths", config.lengths, minimum=1))
    seeds = parse_ints("seeds", config.seeds)
    for name, value in (("budget", config.budget), ("max_steps", config.max_steps), ("batch_size", config.batch_size),
                        ("hidden_size", config.hidden_size),
                        ("eval_every", config.eval_every), ("eval_size", config.eval_size)):
        if value < 1:
            raise ValueError(f"long-term: --{name.replace('_', '-')} must be >= 1, got {value}.")
    check_clip(config.clip, "long-term")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    for cell in cells:
        fails_in_a_row = 0
        for length in lengths:
            task = make_task(config.task, length)
            if config.skip_after_fails and fails_in_a_row >= config.skip_after_fails:
                for seed in seeds:
                    results.append(RunResult(config.task, cell, length, seed, 0, steps_for(config, length), 0.0,
                                             math.nan, None, task.baseline(), task.solved_below(), None, "skipped"))
                log(f"{cell:>4} T={length:<4} skipped: failed {fails_in_a_row} shorter lengths in a row")
                write_results(results, config, out)
                continue
            runs = []
            for seed in seeds:
                r = train_one(config, cell, length, seed)
                runs.append(r)
                results.append(r)
                acc = "" if r.accuracy is None else f" accuracy {r.accuracy:.3f}"
                log(f"{cell:>4} T={length:<4} seed {seed}: {task.metric} {r.metric:.4f}{acc} (baseline "
                    f"{r.baseline:.4f}) after {r.steps} steps, {r.seconds:.0f}s: {r.status}")
                write_results(results, config, out)
            # a length counts as learned if any seed learned it
            fails_in_a_row = 0 if any(r.status == "solved" for r in runs) else fails_in_a_row + 1
    return results


def write_results(results: list[RunResult], config: LongTermConfig, out: Path) -> None:
    """results.csv, results.md and results.png in ``out``."""
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerow(dataclasses.asdict(r))
    (out / "results.md").write_text(markdown_table(results, config))
    plot_results(results, out / "results.png")


def markdown_table(results: list[RunResult], config: LongTermConfig) -> str:
    """One row per (cell, T): the held-out metric (mean over seeds), the baseline and the verdict."""
    task = results[0].task if results else config.task
    metric = make_task(task, 10).metric
    lines = [
        f"| cell | T | {metric} | baseline | accuracy | solved (< bar) | steps / budget | seconds |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for (cell, length), runs in _grouped(results).items():
        ran = [r for r in runs if r.status != "skipped"]
        if not ran:
            lines.append(f"| {cell} | {length} | – | {runs[0].baseline:.4f} | – | not run (failed shorter T) | – | – |")
            continue
        mean = sum(r.metric for r in ran) / len(ran)
        accs = [r.accuracy for r in ran if r.accuracy is not None]
        acc = f"{sum(accs) / len(accs):.3f}" if accs else "–"
        n_solved = sum(r.status == "solved" for r in ran)
        at = [str(r.solved_at) for r in ran if r.solved_at is not None]
        verdict = f"{n_solved}/{len(ran)}" + (f" (at step {', '.join(at)})" if at else "")
        steps = ", ".join(f"{r.steps} / {r.budget_steps}" for r in ran)
        seconds = sum(r.seconds for r in ran)
        lines.append(f"| {cell} | {length} | {mean:.4f} | {ran[0].baseline:.4f} | {acc} | {verdict} | {steps} | "
                     f"{seconds:.0f} |")
    lines += ["", "Where each cell stops learning (longest T solved, first T not solved within the budget):", ""]
    for cell in dict.fromkeys(r.cell for r in results):
        ran = [r for r in results if r.cell == cell and r.status != "skipped"]
        solved = sorted({r.length for r in ran if r.status == "solved"})
        failed = sorted({r.length for r in ran if r.status != "solved"})
        longest = f"T = {solved[-1]}" if solved else "none"
        first_fail = f"T = {failed[0]}" if failed else "none up to the longest T tried"
        lines.append(f"- **{cell}**: longest solved {longest}; first not solved {first_fail}.")
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("out", "threads")}
    lines += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()) + ".", ""]
    return "\n".join(lines)


def plot_results(results: list[RunResult], path: Path) -> None:
    """Held-out metric against T per cell (log scale), with the trivial baseline and the solved bar."""
    fig = new_figure((6.0, 4.0))
    ax = fig.subplots()
    groups = _grouped(results)
    for cell in dict.fromkeys(r.cell for r in results):
        points = [(length, sum(r.metric for r in runs) / len(runs))
                  for (c, length), runs0 in groups.items() if c == cell
                  for runs in [[r for r in runs0 if r.status != "skipped"]] if runs]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=cell)
    by_length = sorted({r.length: r for r in results}.values(), key=lambda r: r.length)
    lengths = [r.length for r in by_length]
    ax.plot(lengths, [r.baseline for r in by_length], "k--", label="trivial baseline")
    ax.plot(lengths, [r.solved_below for r in by_length], "k:", label="solved bar")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(lengths, [str(t) for t in lengths])
    ax.minorticks_off()
    task = results[0].task if results else ""
    metric = make_task(task, 10).metric if task else "metric"
    ax.set_xlabel("gap length T")
    ax.set_ylabel(f"held-out {metric}")
    ax.set_title(f"{task} problem: what each cell learns within a fixed budget")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _grouped(results: list[RunResult]) -> dict[tuple[str, int], list[RunResult]]:
    groups: dict[tuple[str, int], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.cell, r.length), []).append(r)
    return groups
