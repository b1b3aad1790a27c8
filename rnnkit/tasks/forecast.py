"""Forecast real-valued series one and several steps ahead with a many-to-one RNN.

Each series is split in time: the last ``test_fraction`` (at least one period plus the
horizon) is the test part, scored by rolling origin (rnnkit.tasks.forecast_eval) against
naive, seasonal-naive and ARIMA forecasts that see exactly the same history. The RNN reads
the last ``window`` values and emits all ``horizon`` future values at once (direct
multi-step forecasting); the first of them is the one-step forecast.

Inputs are made scale- and level-free: each window is expressed relative to its last value
and divided by the training part's mean absolute one-step change, so a trending series
(CO2, stock prices) never shows the network a level it has not seen. A second feature, the
z-scored level, keeps what mean-reverting series (sunspots, El Nino) need.

Target (``rnnkit recipe forecast --series all``, defaults): MASE below seasonal naive on
at least 3 of the 5 series; measured 4 of 5 (docs/results.md has the table against ARIMA).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.models import ManyToOne, ManyToOneConfig
from rnnkit.recipes.training import TrainConfig, fit
from rnnkit.tasks import forecast_eval as fe
from rnnkit.tasks.forecast_data import BUILTIN, Series, check_series, load_builtin, load_csv, make_windows
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args


@dataclass(frozen=True)
class ForecastConfig:
    """Data, model and evaluation settings of the forecast recipe."""

    series: str = field(default="all", metadata={"help": f"built-in series: {', '.join(BUILTIN)} or all (ignored with --csv)"})  # all five: the table
    csv: str | None = field(default=None, metadata={"help": "forecast one column of this CSV file instead"})  # any user series
    column: str | None = field(default=None, metadata={"help": "CSV column to forecast (default: the last)"})  # the usual layout is date,value
    period: int = field(default=1, metadata={"help": "seasonal period of a --csv series (1 = none)"})  # built-ins know their own
    fill: str = field(default="error", metadata={"help": "missing values: error or interpolate", "choices": ["error", "interpolate"]})  # never guess silently
    horizon: int = field(default=6, metadata={"help": "steps ahead forecast from every origin"})  # half a year on monthly data
    window: int | None = field(default=None, metadata={"help": "past values the RNN reads (default: period + horizon, at least 24)"})  # must cover one season
    test_fraction: float = field(default=0.2, metadata={"help": "share of the series kept for rolling-origin testing"})  # the last fifth
    hidden_size: int = field(default=64, metadata={"help": "LSTM hidden units"})  # a few hundred windows need no more
    num_layers: int = field(default=1, metadata={"help": "stacked LSTM layers"})  # small data: one layer
    cell: str = field(default="lstm", metadata={"help": "rnn, lstm or gru", "choices": ["rnn", "lstm", "gru"]})  # lstm: long windows
    dropout: float = field(default=0.1, metadata={"help": "dropout before the output layer"})  # some regularisation for tiny data
    batch_size: int = field(default=32, metadata={"help": "windows per batch"})  # many steps per epoch on small series
    arima: bool = field(default=True, metadata={"help": "fit the ARIMA baseline (slow: a minute per series on 2 cores)"})  # the baseline the issue asks for
    plot: bool = field(default=True, metadata={"help": "save forecast-vs-truth plots (matplotlib)"})  # the comparison figure
    out_dir: str = field(default="runs/forecast", metadata={"help": "directory for checkpoints, results.json and plots"})  # one subfolder per series


TRAIN_DEFAULTS = TrainConfig(epochs=150, lr=3e-3, patience=25, clip=1.0)  # tiny data: many short epochs, stop on validation MAE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the recipe's flags (ForecastConfig, then the shared TrainConfig) to ``parser``."""
    add_dataclass_flags(parser, ForecastConfig)
    add_dataclass_flags(parser, TrainConfig)


# ---- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A series split for training and testing, with the scaling learned on the training part."""

    series: Series
    n_train: int  # values[:n_train] are all the model and the baselines may fit on
    window: int
    horizon: int
    step_scale: float  # mean |y_t - y_{t-1}| on the training part
    mean: float
    std: float


def prepare_data(series: Series, config: ForecastConfig) -> Prepared:
    """Check the series and fix the test split and scaling (from the training part only)."""
    series = check_series(series, config.fill)
    h, n = config.horizon, len(series.values)
    if h < 1:
        raise ValueError(f"forecast: horizon must be >= 1, got {h}.")
    window = config.window or max(24, series.period + h)
    n_test = max(int(round(config.test_fraction * n)), h + (series.period if series.period > 1 else 0))
    n_train = n - n_test
    if n_train < window + h + 4:
        raise ValueError(
            f"forecast: series {series.name!r} has {n} values; after a test part of {n_test} the {n_train} left "
            f"cannot train a window of {window} with horizon {h}. Lower --window/--horizon/--test-fraction."
        )
    train = series.values[:n_train]
    step = float(np.mean(np.abs(np.diff(train)))) or 1.0
    return Prepared(series, n_train, window, h, step, float(train.mean()), float(train.std()) or 1.0)


def features(p: Prepared, windows: np.ndarray) -> torch.Tensor:
    """(N, W) raw windows -> (N, W, 2): change relative to the window's last value, and the z-scored level."""
    relative = (windows - windows[:, -1:]) / p.step_scale
    level = (windows - p.mean) / p.std
    return torch.tensor(np.stack([relative, level], axis=2), dtype=torch.float32)  # (N, W, 2)


def targets(p: Prepared, windows: np.ndarray, future: np.ndarray) -> torch.Tensor:
    """(N, h): the future relative to the window's last value, in units of step_scale."""
    return torch.tensor((future - windows[:, -1:]) / p.step_scale, dtype=torch.float32)


# ---- model -----------------------------------------------------------------------------------


def build_model(config: ForecastConfig, horizon: int) -> ManyToOne:
    """A many-to-one regressor: reads a window (the scaled change and the z-scored level per step), emits the next ``horizon`` values at once."""
    return ManyToOne(ManyToOneConfig(
        num_outputs=horizon, input_size=2, hidden_size=config.hidden_size, num_layers=config.num_layers,
        cell=config.cell, dropout=config.dropout, task="regression",
    ))


def rnn_forecaster(model: ManyToOne, p: Prepared) -> fe.Forecaster:
    """A forecaster for rolling_forecasts: the model applied to the last ``window`` values of the history."""

    def forecast(history: np.ndarray, horizon: int) -> np.ndarray:
        return forecast_batch(model, p, history[None, -p.window :])[0, :horizon]

    return forecast


@torch.no_grad()
def forecast_batch(model: ManyToOne, p: Prepared, windows: np.ndarray) -> np.ndarray:
    """(N, W) windows -> (N, h) forecasts in the series' own units."""
    model.eval()
    out, _ = model(features(p, windows))  # (N, h)
    return windows[:, -1:] + out.double().numpy() * p.step_scale


# ---- training and evaluation -----------------------------------------------------------------


def train(model: ManyToOne, p: Prepared, config: ForecastConfig, train_config: TrainConfig,
          out_dir: Path | None = None) -> dict[str, Any]:
    """Fit on windows from the training part; the last tenth of them (in time) is validation."""
    x_all, y_all = make_windows(p.series.values, p.window, p.horizon, p.n_train)
    n_val = max(1, len(x_all) // 10)
    x_tr, y_tr, x_va, y_va = x_all[:-n_val], y_all[:-n_val], x_all[-n_val:], y_all[-n_val:]
    if len(x_tr) == 0:
        raise ValueError(f"forecast: series {p.series.name!r} leaves no training windows; lower --window or --horizon.")
    inputs, target = features(p, x_tr), targets(p, x_tr, y_tr)
    generator = torch.Generator().manual_seed(train_config.seed)

    def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(inputs), generator=generator)
        return [(inputs[i], target[i]) for i in order.split(config.batch_size)]

    def validate(m: torch.nn.Module) -> dict[str, float]:
        pred = forecast_batch(m, p, x_va)  # type: ignore[arg-type]
        return {"val_mae": float(np.mean(np.abs(pred - y_va)))}

    def checkpoint(m: torch.nn.Module, info: dict[str, Any]) -> dict[str, Any]:
        return make_checkpoint(m, p, config, info)  # type: ignore[arg-type]

    result = fit(model, batches, train_config, evaluate=validate, monitor="val_mae", mode="min",
                 checkpoint=checkpoint if out_dir is not None else None, out_dir=out_dir)
    return {"epochs": result.epochs_run, "best_epoch": result.best_epoch, "seconds": result.seconds,
            "stopped": result.stopped_because, "val_mae": result.best_metric}


def evaluate(model: ManyToOne, p: Prepared, use_arima: bool = True) -> dict[str, Any]:
    """Rolling-origin scores of the RNN and the baselines on the test part, plus the forecasts."""
    v, h = p.series.values, p.horizon
    starts = fe.origins(len(v), len(v) - p.n_train, h)
    truth = fe.truths(v, starts, h)
    scale = fe.mase_scale(v[: p.n_train], p.series.period)
    methods: dict[str, fe.Forecaster] = {
        "rnn": rnn_forecaster(model, p), "naive": fe.naive, "seasonal_naive": fe.seasonal_naive(p.series.period),
    }
    labels = {"rnn": f"{model.config.cell.upper()}", "naive": "naive", "seasonal_naive": f"seasonal naive (m={p.series.period})"}
    if use_arima:
        methods["arima"], labels["arima"] = fe.arima(v[: p.n_train], p.series.period)
    forecasts = {name: fe.rolling_forecasts(v, starts, h, f) for name, f in methods.items()}
    return {
        "scores": {name: fe.scores(pred, truth, scale) for name, pred in forecasts.items()},
        "labels": labels, "origins": starts, "truth": truth, "forecasts": forecasts, "mase_scale": scale,
    }


def make_checkpoint(model: ManyToOne, p: Prepared, config: ForecastConfig, info: dict[str, Any]) -> dict[str, Any]:
    """The dict saved for a forecaster: configs, weights, and the series' window, horizon and scaling."""
    return {
        "task": "forecast", "config": asdict(config), "model_config": asdict(model.config),
        "model": model.state_dict(), "series": p.series.name, "period": p.series.period,
        "window": p.window, "horizon": p.horizon, "step_scale": p.step_scale, "mean": p.mean, "std": p.std,
        "n_train": p.n_train, **info,
    }


def plot(result: dict[str, Any], p: Prepared, path: Path) -> Path:
    """Truth and one-step forecasts over the test part, and the h-step forecasts from the last origin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v, starts = p.series.values, result["origins"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 1]})
    context = max(p.n_train - 3 * max(p.series.period, p.horizon), 0)
    a.plot(np.arange(context, len(v)), v[context:], color="black", lw=1.5, label="truth")
    for name, pred in result["forecasts"].items():
        a.plot(starts, pred[:, 0], lw=1, label=f"{result['labels'][name]} (MASE {result['scores'][name]['mase_1']:.2f})")
    a.axvline(p.n_train, color="grey", ls=":", lw=1)
    a.set_title(f"{p.series.name}: one-step forecasts on the test part")
    a.legend(fontsize=7)
    last = starts[-1]
    b.plot(np.arange(last - p.window, last + p.horizon), v[last - p.window : last + p.horizon], color="black", lw=1.5)
    for pred in result["forecasts"].values():
        b.plot(np.arange(last, last + p.horizon), pred[-1], lw=1)
    b.set_title(f"{p.horizon}-step forecast, last origin")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def run_series(series: Series, config: ForecastConfig, train_config: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Prepare, train, evaluate, plot and save one series; return its row of the results table."""
    p = prepare_data(series, config)
    torch.manual_seed(train_config.seed)
    model = build_model(config, p.horizon)
    trained = train(model, p, config, train_config, out_dir)
    start = time.perf_counter()
    result = evaluate(model, p, config.arima)
    row = {"series": series.name, "n": len(series.values), "n_train": p.n_train, "period": series.period,
           "window": p.window, "horizon": p.horizon, "train": trained, "eval_seconds": time.perf_counter() - start,
           "labels": result["labels"], "scores": result["scores"]}
    if config.plot:
        row["plot"] = str(plot(result, p, out_dir / f"{series.name}.png"))
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of MASE (all horizons / one step) per series and method."""
    methods = ["rnn", "naive", "seasonal_naive", "arima"]
    head = "| series | " + " | ".join(f"{m} MASE (h=1..H / h=1)" for m in methods) + " |"
    lines = [head, "|" + "---|" * (len(methods) + 1)]
    for r in rows:
        cells = []
        for m in methods:
            s = r["scores"].get(m)
            cells.append(f"{s['mase']:.3f} / {s['mase_1']:.3f}" if s else "-")
        lines.append(f"| {r['series']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """``rnnkit recipe forecast``: prepare the series, train, report the test errors against the baselines and plot; returns the exit code."""
    config = dataclass_from_args(ForecastConfig, args)
    train_config = dataclass_from_args(TrainConfig, args, **{k: v for k, v in asdict(TRAIN_DEFAULTS).items()
                                                              if getattr(args, k, None) is None})
    print(f"forecast: {config}\n{train_config}")
    if config.csv is not None:
        all_series = [load_csv(config.csv, config.column, config.period, config.fill)]
    elif config.series == "all":
        all_series = [load_builtin(name) for name in BUILTIN]
    else:
        all_series = [load_builtin(config.series)]
    out = Path(config.out_dir)
    rows = []
    for series in all_series:
        row = run_series(series, config, train_config, out / series.name)
        rows.append(row)
        s = row["scores"]
        beats = s["rnn"]["mase"] < s["seasonal_naive"]["mase"]
        print(f"{series.name}: RNN MASE {s['rnn']['mase']:.3f} (one-step {s['rnn']['mase_1']:.3f}) vs seasonal naive "
              f"{s['seasonal_naive']['mase']:.3f} -> {'better' if beats else 'not better'}; "
              f"trained {row['train']['seconds']:.0f}s")
    wins = sum(r["scores"]["rnn"]["mase"] < r["scores"]["seasonal_naive"]["mase"] for r in rows)
    summary = {"config": asdict(config), "train_config": asdict(train_config), "rows": rows,
               "rnn_beats_seasonal_naive": f"{wins}/{len(rows)}"}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=float))
    print(table(rows))
    print(f"RNN below seasonal naive (MASE over all horizons) on {wins} of {len(rows)} series; results in {out}")
    return 0


def predict(checkpoint: dict[str, Any], inputs: list[str], args: argparse.Namespace) -> int:
    """Forecast the next ``horizon`` values after a history: numbers on the command line or a CSV file."""
    if len(inputs) == 1 and Path(inputs[0]).exists():
        history = load_csv(inputs[0]).values
    else:
        try:
            history = np.array([float(x) for x in inputs])
        except ValueError:
            raise ValueError(f"forecast: inputs must be numbers or one CSV file, got {inputs[:3]}...") from None
    window = int(checkpoint["window"])
    if len(history) < window or not np.all(np.isfinite(history)):
        raise ValueError(f"forecast: this model reads the last {window} values; got {len(history)} "
                         f"({'with missing values' if not np.all(np.isfinite(history)) else 'too few'}).")
    config = ForecastConfig(**checkpoint["config"])
    model = build_model(config, int(checkpoint["horizon"]))
    model.load_state_dict(checkpoint["model"])
    dummy = Series(checkpoint["series"], history, int(checkpoint["period"]), tuple(str(i) for i in range(len(history))))
    p = Prepared(dummy, len(history), window, int(checkpoint["horizon"]), checkpoint["step_scale"],
                 checkpoint["mean"], checkpoint["std"])
    pred = forecast_batch(model, p, history[None, -window:])[0]
    print(" ".join(f"{x:.4g}" for x in pred if math.isfinite(x)))
    return 0
