"""Forecast real-valued series one and several steps ahead with a many-to-one RNN.

Each series is split in time: the last ``test_fraction`` (at least one period plus the
horizon) is the test part, scored by rolling origin (baselines.py) against naive,
seasonal-naive and ARIMA forecasts that see exactly the same history. The RNN reads the
last ``window`` values and emits all ``horizon`` future values at once (direct multi-step
forecasting); the first of them is the one-step forecast.

Inputs are made scale- and level-free: each window is expressed relative to its last value
and divided by the training part's mean absolute one-step change, so a trending series
(CO2, stock prices) never shows the network a level it has not seen. A second feature, the
z-scored level, keeps what mean-reverting series (sunspots, El Nino) need.

One model per series: ``--series all`` (the default) makes one run per built-in series, in
``OUT/<series>/``, then prints one table of every series against the baselines and writes
it to ``OUT/results.json``; ``--series NAME`` or ``--csv FILE`` is one run in ``OUT/``.

Target (``rnnkit recipe forecast --series all``, defaults): MASE below seasonal naive on
at least 3 of the 5 series (docs/results.md has the table against ARIMA).

    rnnkit recipe forecast --series all
    rnnkit predict runs/forecast/co2 history.csv      # or the last WINDOW values as numbers
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.models import ManyToOne, ManyToOneConfig
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.forecast import baselines as fe
from rnnkit.recipes.forecast.data import BUILTIN, Series, check_series, load_builtin, load_csv, make_windows
from rnnkit.utils.config import option
from rnnkit.utils.plotting import figure


@dataclass(frozen=True)
class ForecastConfig(RecipeConfig):
    """Data, model, evaluation and training settings of the forecast recipe."""

    series: str = option("all", f"built-in series: {', '.join(BUILTIN)}, or all (one model each, one table; "
                                "ignored with --csv)")
    csv: str | None = option(None, "forecast one column of this CSV file instead")
    column: str | None = option(None, "CSV column to forecast (default: the last)")
    period: int = option(1, "seasonal period of a --csv series (1 = none)")
    fill: str = option("error", "missing values: error or interpolate", choices=["error", "interpolate"])
    horizon: int = option(6, "steps ahead forecast from every origin")  # half a year on monthly data
    window: int | None = option(None, "past values the RNN reads (default: period + horizon, at least 24)")
    test_fraction: float = option(0.2, "share of the series kept for rolling-origin testing")
    hidden_size: int = option(64, "LSTM hidden units")  # a few hundred windows need no more
    num_layers: int = option(1, "stacked LSTM layers")  # small data: one layer
    cell: str = option("lstm", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])  # lstm: long windows
    dropout: float = option(0.1, "dropout before the output layer")  # some regularisation for tiny data
    batch_size: int = option(32, "windows per batch")  # many steps per epoch on small series
    arima: bool = option(True, "fit the ARIMA baseline (slow: a minute per series on 2 cores)")
    plot: bool = option(True, "save forecast-vs-truth plots (matplotlib)")
    # tiny data: many short epochs, stop on validation MAE
    epochs: int = option(150, "passes over the training windows (at most)")
    lr: float = option(3e-3, "AdamW learning rate")
    clip: float = option(1.0, "clip the gradient norm to this (0 = off)")
    patience: int = option(25, "stop after this many epochs without a lower validation MAE")
    out: str = option("runs/forecast",
                      "run directory (with --series all: one subfolder per series and the table's results.json)")


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


def prepare_series(series: Series, config: ForecastConfig) -> Prepared:
    """Check the series and fix the test split and scaling (from the training part only)."""
    series = check_series(series, config.fill)
    h, n = config.horizon, len(series.values)
    if h < 1:
        raise ValueError(f"forecast: horizon must be >= 1, got {h}.")
    window = config.window or max(24, series.period + h)
    floor = h + (series.period if series.period > 1 else 0)  # the test part holds one period plus the horizon
    n_test = max(int(round(config.test_fraction * n)), floor)
    n_train = n - n_test
    if n_train < window + h + 4:
        raise ValueError(too_short(series, config, window, n_test, floor))
    train = series.values[:n_train]
    step = float(np.mean(np.abs(np.diff(train)))) or 1.0
    return Prepared(series, n_train, window, h, step, float(train.mean()), float(train.std()) or 1.0)


def too_short(series: Series, config: ForecastConfig, window: int, n_test: int, floor: int) -> str:
    """Why ``series`` is too short for the test part and 5 training windows, and the flags that would make it do."""
    h, period = config.horizon, series.period
    if n_test > floor:
        why = f"--test-fraction {config.test_fraction} of {len(series.values)}"
    else:
        why = f"one period of {period} plus the horizon {h}" if period > 1 else f"the horizon {h}"
    default = " (the default: period + horizon, at least 24)" if config.window is None else ""
    # --period makes the test part or the default window long only where the user set it, for a CSV series
    lower = ["--period"] if config.csv is not None and period > 1 and (
        n_test == floor or (config.window is None and window == period + h)) else []
    lower += ["--window", "--horizon"] + (["--test-fraction"] if n_test > floor else [])
    return (f"forecast: series {series.name!r} has {len(series.values)} values, too few: its test part takes {n_test} "
            f"({why}), and 5 training windows of {window} values{default} with the {h} after each need "
            f"{window + h + 4} more. Lower {'/'.join(lower)}, or use a longer series.")


@dataclass
class ForecastData:
    """A prepared series, its training and validation windows, and the test forecasts once made."""

    p: Prepared
    inputs: torch.Tensor  # (N, W, 2) features of the training windows
    targets: torch.Tensor  # (N, h) their scaled futures
    x_val: np.ndarray  # (V, W) the last tenth of the windows (in time), raw, for the validation MAE
    y_val: np.ndarray  # (V, h)
    shuffle: torch.Generator  # orders the training windows, running on across epochs
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)  # method -> (O, h) rolling-origin forecasts
    labels: dict[str, str] = field(default_factory=dict)  # method -> its name in the plot


def features(p: Prepared, windows: np.ndarray) -> torch.Tensor:
    """(N, W) raw windows -> (N, W, 2): change relative to the window's last value, and the z-scored level."""
    relative = (windows - windows[:, -1:]) / p.step_scale
    level = (windows - p.mean) / p.std
    return torch.tensor(np.stack([relative, level], axis=2), dtype=torch.float32)  # (N, W, 2)


def rnn_forecaster(model: ManyToOne, p: Prepared) -> fe.Forecaster:
    """A forecaster for rolling_forecasts: the model applied to the last ``window`` values of the history."""
    return lambda history, horizon: forecast_batch(model, p, history[None, -p.window :])[0, :horizon]


@torch.no_grad()
def forecast_batch(model: ManyToOne, p: Prepared, windows: np.ndarray) -> np.ndarray:
    """(N, W) windows -> (N, h) forecasts in the series' own units."""
    model.eval()
    out, _ = model(features(p, windows))  # (N, h)
    return windows[:, -1:] + out.double().numpy() * p.step_scale


def rolling_test(p: Prepared) -> tuple[np.ndarray, np.ndarray, float]:
    """The rolling origins of the test part, the truth after each (O, h), and the MASE scale."""
    v = p.series.values
    starts = fe.origins(len(v), len(v) - p.n_train, p.horizon)
    return starts, fe.truths(v, starts, p.horizon), fe.mase_scale(v[: p.n_train], p.series.period)


def plot(data: ForecastData, starts: np.ndarray, scores: dict[str, dict[str, float]], path: Path) -> Path:
    """Truth and one-step forecasts over the test part, and the h-step forecasts from the last origin."""
    p, v = data.p, data.p.series.values
    with figure(path, size=(11, 3.4), dpi=80, ncols=2, gridspec_kw={"width_ratios": [3, 1]}) as (_, (a, b)):
        context = max(p.n_train - 3 * max(p.series.period, p.horizon), 0)
        a.plot(np.arange(context, len(v)), v[context:], color="black", lw=1.5, label="truth")
        for name, pred in data.forecasts.items():
            a.plot(starts, pred[:, 0], lw=1, label=f"{data.labels[name]} (MASE {scores[name]['mase_1']:.2f})")
        a.axvline(p.n_train, color="grey", ls=":", lw=1)
        a.set_title(f"{p.series.name}: one-step forecasts on the test part")
        a.legend(fontsize=7)
        last = starts[-1]
        span = np.arange(last - p.window, last + p.horizon)
        b.plot(span, v[span], color="black", lw=1.5)
        for pred in data.forecasts.values():
            b.plot(np.arange(last, last + p.horizon), pred[-1], lw=1)
        b.set_title(f"{p.horizon}-step forecast, last origin")
    return path


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of MASE (all horizons / one step) per series and method."""
    methods = ["rnn", "naive", "seasonal_naive", "arima"]
    head = "| series | " + " | ".join(f"{m} MASE (h=1..H / h=1)" for m in methods) + " |"
    lines = [head, "|" + "---|" * (len(methods) + 1)]
    for r in rows:
        cells = [f"{s['mase']:.3f} / {s['mase_1']:.3f}" if (s := r["scores"].get(m)) else "-" for m in methods]
        lines.append(f"| {r['series']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


class ForecastRecipe(Recipe[ForecastConfig, ForecastData]):
    """Forecast real series with a many-to-one LSTM, against naive, seasonal-naive and ARIMA forecasts."""

    name = "forecast"
    config_class = ForecastConfig
    monitor = "mae"
    mode = "min"
    inputs = "a history: its last WINDOW values as numbers, or one CSV file (the last column, or the model's series)"

    def runs(self, config: ForecastConfig) -> list[ForecastConfig] | None:
        """``--series all`` without ``--csv``: one run per built-in series, in OUT/<series>/."""
        if config.series != "all" or config.csv is not None:
            return None
        return [dataclasses.replace(config, series=name, out=str(Path(config.out) / name)) for name in BUILTIN]

    def combine(self, config: ForecastConfig, summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """One table of every series' MASE against the baselines (printed), and how often the RNN beat seasonal
        naive."""
        rows = [{"series": s["config"]["series"], "scores": {"rnn": s["test"], **s["baselines"]}} for s in summaries]
        wins = sum(r["scores"]["rnn"]["mase"] < r["scores"]["seasonal_naive"]["mase"] for r in rows)
        print(table(rows))
        print(f"RNN below seasonal naive (MASE over all horizons) on {wins} of {len(rows)} series; "
              f"results in {Path(config.out) / 'results.json'}")
        return {"recipe": self.name, "rows": rows, "rnn_beats_seasonal_naive": f"{wins}/{len(rows)}", "runs": summaries}

    def prepare_data(self, config: ForecastConfig) -> ForecastData:
        """Split the series in time; training windows from the training part, whose last tenth (in time) validates."""
        if config.period < 1:
            raise ValueError(f"forecast: --period must be at least 1 (1: no seasonality), got {config.period}.")
        if config.window is not None and config.window < 1:
            raise ValueError(f"forecast: --window must be at least 1 value, got {config.window}; leave it out for the "
                             "default (period + horizon, at least 24).")
        if not 0 <= config.test_fraction < 1:
            raise ValueError(f"forecast: --test-fraction must be at least 0 (the shortest test part: one period plus "
                             f"the horizon) and below 1, got {config.test_fraction}.")
        if config.csv is None and config.series not in BUILTIN:
            raise ValueError(f"forecast: unknown series {config.series!r}; expected one of {', '.join(BUILTIN)}, or "
                             "all.")
        series = (load_builtin(config.series) if config.csv is None
                  else load_csv(config.csv, config.column, config.period, config.fill))
        p = prepare_series(series, config)
        x_all, y_all = make_windows(p.series.values, p.window, p.horizon, p.n_train)
        n_val = max(1, len(x_all) // 10)  # prepare_series leaves at least 5 windows, so some train
        x_tr, y_tr = x_all[:-n_val], y_all[:-n_val]
        print(f"forecast: {p.series.name}: {len(p.series.values)} values, {p.n_train} for training "
              f"({len(x_tr)} windows of {p.window}, {n_val} validating), horizon {p.horizon}, period {p.series.period}")
        targets = torch.tensor((y_tr - x_tr[:, -1:]) / p.step_scale, dtype=torch.float32)  # (N, h), like features
        return ForecastData(p, features(p, x_tr), targets, x_all[-n_val:], y_all[-n_val:],
                            torch.Generator().manual_seed(config.seed))

    def describe(self, data: ForecastData) -> Meta:
        p = data.p
        return {"series": p.series.name, "period": p.series.period, "window": p.window, "horizon": p.horizon,
                "step_scale": p.step_scale, "mean": p.mean, "std": p.std, "n_train": p.n_train}

    def build_model(self, config: ForecastConfig, meta: Meta) -> ManyToOne:
        """A many-to-one regressor: reads a window (the scaled change and the z-scored level per step), emits the next
        ``horizon`` values at once."""
        return ManyToOne(ManyToOneConfig(
            num_outputs=int(meta["horizon"]), input_size=2, hidden_size=config.hidden_size,
            num_layers=config.num_layers, cell=config.cell, dropout=config.dropout, task="regression",
        ))

    def generators(self, data: ForecastData) -> list[torch.Generator]:
        return [data.shuffle]

    def batches(self, config: ForecastConfig, data: ForecastData,
                epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(data.inputs), generator=data.shuffle)
        return [(data.inputs[i], data.targets[i]) for i in order.split(config.batch_size)]

    def evaluate(self, model: nn.Module, config: ForecastConfig, data: ForecastData, split: str) -> dict[str, float]:
        """dev: MAE of the validation windows (in the series' units). test: rolling-origin scores on the test part."""
        regressor = self.model_as(model, ManyToOne)
        if split == "dev":
            return {"mae": float(np.mean(np.abs(forecast_batch(regressor, data.p, data.x_val) - data.y_val)))}
        starts, truth, scale = rolling_test(data.p)
        data.forecasts["rnn"] = fe.rolling_forecasts(data.p.series.values, starts, data.p.horizon,
                                                     rnn_forecaster(regressor, data.p))
        data.labels["rnn"] = regressor.config.cell.upper()
        return fe.scores(data.forecasts["rnn"], truth, scale)

    def baselines(self, config: ForecastConfig, data: ForecastData) -> dict[str, dict[str, float]]:
        """Naive, seasonal naive and (with --arima) ARIMA, fitted on the training part, on the same origins."""
        p = data.p
        v = p.series.values
        starts, truth, scale = rolling_test(p)
        methods: dict[str, fe.Forecaster] = {"naive": fe.naive, "seasonal_naive": fe.seasonal_naive(p.series.period)}
        data.labels |= {"naive": "naive", "seasonal_naive": f"seasonal naive (m={p.series.period})"}
        if config.arima:
            methods["arima"], data.labels["arima"] = fe.arima(v[: p.n_train], p.series.period)
        scores = {}
        for name, forecaster in methods.items():
            data.forecasts[name] = fe.rolling_forecasts(v, starts, p.horizon, forecaster)
            scores[name] = fe.scores(data.forecasts[name], truth, scale)
        return scores

    def report(self, model: nn.Module, config: ForecastConfig, data: ForecastData, out: Path) -> list[Path]:
        if not config.plot or "rnn" not in data.forecasts:
            return []
        starts, truth, scale = rolling_test(data.p)
        scores = {name: fe.scores(pred, truth, scale) for name, pred in data.forecasts.items()}
        return [plot(data, starts, scores, out / f"{data.p.series.name}.png")]

    def predict(self, model: nn.Module, config: ForecastConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        """The next ``horizon`` values after a history: numbers, or one CSV file."""
        if len(inputs) == 1 and Path(inputs[0]).exists():
            history = load_csv(inputs[0]).values
        else:
            try:
                history = np.array([float(x) for x in inputs])
            except ValueError:
                raise ValueError("predict forecast: inputs must be numbers or one CSV file, got "
                                 f"{list(inputs[:3])}...") from None
        window = int(meta["window"])
        if len(history) < window or not np.all(np.isfinite(history)):
            raise ValueError(f"predict forecast: this model reads the last {window} values; got {len(history)} "
                             f"({'with missing values' if not np.all(np.isfinite(history)) else 'too few'}).")
        p = Prepared(Series(meta["series"], history, int(meta["period"]), ()), len(history), window,
                     int(meta["horizon"]), meta["step_scale"], meta["mean"], meta["std"])
        pred = forecast_batch(self.model_as(model, ManyToOne), p, history[None, -window:])[0]
        return [{"series": meta["series"], "forecast": [float(x) for x in pred]}]

    def show(self, result: dict[str, Any]) -> str:
        return " ".join(f"{x:.4g}" for x in result["forecast"] if math.isfinite(x))

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: the series' window, horizon and scaling beside the config."""
        meta = {k: checkpoint[k]
                for k in ("series", "period", "window", "horizon", "step_scale", "mean", "std", "n_train")}
        return self.upgraded(checkpoint, meta, {"series": checkpoint["series"]})
