"""Forecast recipe: CSV loading and its errors, windows, baselines and metrics, and a smoke run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.tasks import forecast
from rnnkit.tasks import forecast_eval as fe
from rnnkit.tasks.forecast_data import Series, check_series, load_csv, make_windows

FIXTURES = Path(__file__).parent / "fixtures" / "recipes2"


def test_load_csv_reads_the_last_column_with_labels():
    s = load_csv(FIXTURES / "series.csv", period=4)
    assert len(s.values) == 48 and s.period == 4
    assert s.values[:3].tolist() == [10.0, 13.1, 10.2]  # the first rows of the file
    assert s.labels[:2] == ("1", "2")


def test_missing_values_are_an_error_that_says_what_to_do():
    with pytest.raises(ValueError, match=r"2 missing value\(s\) \(at 2, 4\).*--fill interpolate"):
        load_csv(FIXTURES / "series_missing.csv")


def test_interpolate_fills_linearly_between_neighbours():
    s = load_csv(FIXTURES / "series_missing.csv", fill="interpolate")
    assert s.values[:5].tolist() == [3.0, 4.0, 5.0, 7.0, 9.0]


def test_unknown_column_and_non_numbers_are_errors(tmp_path):
    with pytest.raises(ValueError, match="no column 'price'.*'day', 'temp'"):
        load_csv(FIXTURES / "series_missing.csv", column="price")
    bad = tmp_path / "bad.csv"
    bad.write_text("t,v\n1,2.0\n2,abc\n")
    with pytest.raises(ValueError, match="non-numeric values, e.g. line 3: 'abc'"):
        load_csv(bad)


def test_a_too_short_series_is_rejected():
    with pytest.raises(ValueError, match="has 3 values; need at least 8"):
        check_series(Series("tiny", np.array([1.0, 2.0, 3.0]), 1, ("a", "b", "c")))


def test_windows_match_slicing_by_hand():
    v = np.arange(10.0)
    x, y = make_windows(v, window=3, horizon=2, end=8)
    assert x.tolist()[0] == [0, 1, 2] and y.tolist()[0] == [3, 4]
    assert x.tolist()[-1] == [3, 4, 5] and y.tolist()[-1] == [6, 7]  # the last future ends at index 7 < end
    assert len(x) == 4


def test_baselines_and_metrics_by_hand():
    history = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert fe.naive(history, 3).tolist() == [6.0, 6.0, 6.0]
    assert fe.seasonal_naive(4)(history, 6).tolist() == [3.0, 4.0, 5.0, 6.0, 3.0, 4.0]
    # |y_t - y_{t-2}| = 2 everywhere
    assert fe.mase_scale(history, 2) == 2.0
    s = fe.scores(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[2.0, 2.0], [3.0, 6.0]]), scale=2.0)
    assert s["mae"] == pytest.approx(0.75) and s["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert s["mase"] == pytest.approx(0.375) and s["mae_1"] == pytest.approx(0.5)


def test_rolling_origin_never_shows_the_future():
    v = np.arange(20.0)
    seen = []

    def spy(history, horizon):
        seen.append(len(history))
        return np.zeros(horizon)

    starts = fe.origins(20, 6, 2)
    assert starts.tolist() == [14, 15, 16, 17, 18]
    fe.rolling_forecasts(v, starts, 2, spy)
    assert seen == starts.tolist()
    assert fe.truths(v, starts, 2)[0].tolist() == [14.0, 15.0]


def test_arima_baseline_beats_naive_on_a_seasonal_series():
    pytest.importorskip("statsmodels")
    v = load_csv(FIXTURES / "series.csv", period=4).values
    f, label = fe.arima(v[:36], 4)
    assert label.startswith("ARIMA")
    starts = fe.origins(48, 12, 1)
    truth = fe.truths(v, starts, 1)
    arima_mae = fe.scores(fe.rolling_forecasts(v, starts, 1, f), truth, 1.0)["mae"]
    naive_mae = fe.scores(fe.rolling_forecasts(v, starts, 1, fe.naive), truth, 1.0)["mae"]
    assert arima_mae < 0.5 * naive_mae


def _args(**flags):
    parser = argparse.ArgumentParser()
    forecast.add_arguments(parser)
    argv = []
    for k, v in flags.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [f"--no-{k.replace('_', '-')}"] if v is False else [flag, str(v)]
    return parser.parse_args(argv)


def test_smoke_run_and_predict(tmp_path, capsys):
    torch.manual_seed(0)
    args = _args(csv=FIXTURES / "series.csv", period=4, horizon=2, window=8, epochs=2, arima=False, plot=False,
                 progress=False, out_dir=tmp_path)
    assert forecast.run(args) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    row = result["rows"][0]
    assert set(row["scores"]) == {"rnn", "naive", "seasonal_naive"}
    assert row["scores"]["seasonal_naive"]["mase"] < row["scores"]["naive"]["mase"]  # the fixture is seasonal
    checkpoint = torch.load(tmp_path / "series" / "best.pt", weights_only=True)
    assert checkpoint["task"] == "forecast" and checkpoint["horizon"] == 2
    capsys.readouterr()
    forecast.predict(checkpoint, [str(FIXTURES / "series.csv")], argparse.Namespace())
    assert len(capsys.readouterr().out.split()) == 2
    with pytest.raises(ValueError, match="reads the last 8 values; got 3"):
        forecast.predict(checkpoint, ["1", "2", "3"], argparse.Namespace())


def test_builtin_series_load_without_gaps():
    pytest.importorskip("statsmodels")
    from rnnkit.tasks.forecast_data import load_builtin

    sun = load_builtin("sunspots")
    assert len(sun.values) == 309 and sun.period == 11
    co2 = load_builtin("co2")
    assert np.isfinite(co2.values).all() and co2.labels[0] == "1958-03"
