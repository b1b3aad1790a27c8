"""Forecast recipe: CSV loading and its errors, windows, baselines and metrics, a smoke run, and one
command training a model per series with one table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.recipes.forecast import baselines as fe
from rnnkit.recipes.forecast import recipe as forecast
from rnnkit.recipes.forecast.data import Series, check_series, load_csv, make_windows
from rnnkit.utils.checkpoint import load_checkpoint

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes2"
OLD_CHECKPOINT = Path(__file__).parents[2] / "fixtures" / "checkpoints" / "forecast-2026-11.pt"
SMOKE = ["--period", "4", "--horizon", "2", "--window", "8", "--epochs", "2", "--no-arima", "--no-progress",
         "--threads", "1"]


def test_load_csv_reads_the_last_column_with_labels():
    s = load_csv(FIXTURES / "series.csv", period=4)
    assert len(s.values) == 48
    assert s.period == 4
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


def test_a_series_too_short_for_its_period_says_so_without_negative_counts():
    series = load_csv(FIXTURES / "series.csv", period=40)  # 48 values
    config = forecast.ForecastConfig(csv=str(FIXTURES / "series.csv"), period=40, horizon=2)
    # the test part is one period plus the horizon (42); the default window, period + horizon, is 42 too
    with pytest.raises(ValueError, match="too few") as caught:
        forecast.prepare_series(series, config)
    message = str(caught.value)
    assert message == ("forecast: series 'series' has 48 values, too few: its test part takes 42 (one period of 40 "
                       "plus the horizon 2), and 5 training windows of 42 values (the default: period + horizon, at "
                       "least 24) with the 2 after each need 48 more. Lower --period/--window/--horizon, or use a "
                       "longer series.")
    assert "-" not in message.replace("--", "")  # no negative count


def test_a_long_window_is_named_and_period_is_not_blamed():
    series = load_csv(FIXTURES / "series.csv", period=4)
    config = forecast.ForecastConfig(csv=str(FIXTURES / "series.csv"), period=4, horizon=2, window=34)
    with pytest.raises(ValueError, match=r"takes 10 \(--test-fraction 0.2 of 48\), and 5 training windows of 34 "
                                         r"values with the 2 after each need 40 more\. Lower "
                                         r"--window/--horizon/--test-fraction, or use a longer series\.$"):
        forecast.prepare_series(series, config)


@pytest.mark.parametrize(("setting", "message"), [
    ({"window": 0}, r"forecast: --window must be at least 1 value, got 0; leave it out for the default"),
    ({"test_fraction": 1.0}, r"forecast: --test-fraction must be at least 0 .* and below 1, got 1\.0\."),
    ({"period": 0}, r"forecast: --period must be at least 1 \(1: no seasonality\), got 0\."),
])
def test_out_of_range_settings_are_refused_before_the_data_is_read(tmp_path, setting, message):
    config = forecast.ForecastConfig(csv=str(tmp_path / "missing.csv"), **setting)
    with pytest.raises(ValueError, match=message):  # not "no file": the data is never looked at
        forecast.ForecastRecipe().prepare_data(config)


def test_windows_match_slicing_by_hand():
    v = np.arange(10.0)
    x, y = make_windows(v, window=3, horizon=2, end=8)
    assert x.tolist()[0] == [0, 1, 2]
    assert y.tolist()[0] == [3, 4]
    assert x.tolist()[-1] == [3, 4, 5]
    assert y.tolist()[-1] == [6, 7]
    assert len(x) == 4


def test_baselines_and_metrics_by_hand():
    history = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert fe.naive(history, 3).tolist() == [6.0, 6.0, 6.0]
    assert fe.seasonal_naive(4)(history, 6).tolist() == [3.0, 4.0, 5.0, 6.0, 3.0, 4.0]
    # |y_t - y_{t-2}| = 2 everywhere
    assert fe.mase_scale(history, 2) == 2.0
    s = fe.scores(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[2.0, 2.0], [3.0, 6.0]]), scale=2.0)
    assert s["mae"] == pytest.approx(0.75)
    assert s["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert s["mase"] == pytest.approx(0.375)
    assert s["mae_1"] == pytest.approx(0.5)


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


def test_smoke_run_and_predict(tmp_path, capsys):
    assert main(["recipe", "forecast", "--csv", str(FIXTURES / "series.csv"), *SMOKE, "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    assert set(summary["test"]) == {"mae", "rmse", "mase", "mae_1", "rmse_1", "mase_1"}
    assert set(summary["baselines"]) == {"naive", "seasonal_naive"}
    # the fixture is seasonal
    assert summary["baselines"]["seasonal_naive"]["mase"] < summary["baselines"]["naive"]["mase"]
    assert (tmp_path / "series.png").exists()  # truth and every method's forecasts
    checkpoint = load_checkpoint(tmp_path / "best.pt")
    assert checkpoint["kind"] == "forecast"
    assert checkpoint["meta"]["horizon"] == 2
    assert checkpoint["meta"]["window"] == 8
    capsys.readouterr()
    assert main(["predict", str(tmp_path), str(FIXTURES / "series.csv")]) == 0
    assert len(capsys.readouterr().out.split()) == 2
    assert main(["predict", str(tmp_path), "1", "2", "3"]) != 0
    assert "reads the last 8 values; got 3" in capsys.readouterr().err


def test_series_all_trains_one_model_per_series_and_prints_one_table(tmp_path, capsys, monkeypatch):
    """Two stand-in "built-in" series (the fixture, and the fixture doubled): two runs in OUT/<series>/, one table."""
    monkeypatch.setattr(forecast, "BUILTIN", ("first", "second"))
    fixture = load_csv(FIXTURES / "series.csv", period=4)
    stand_ins = {"first": Series("first", fixture.values, 4, fixture.labels),
                 "second": Series("second", 2 * fixture.values, 4, fixture.labels)}
    monkeypatch.setattr(forecast, "load_builtin", lambda name: stand_ins[name])
    assert main(["recipe", "forecast", "--series", "all", *SMOKE, "--no-plot", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in table] == ["| series", "| first", "| second"]
    combined = json.loads((tmp_path / "results.json").read_text())
    assert [r["series"] for r in combined["rows"]] == ["first", "second"]
    for name, row in zip(("first", "second"), combined["rows"], strict=True):
        own = json.loads((tmp_path / name / "results.json").read_text())
        assert row["scores"] == {"rnn": own["test"], **own["baselines"]}
        assert load_checkpoint(tmp_path / name / "best.pt")["meta"]["series"] == name
    # MASE divides by the series' own scale: doubling the series leaves the seasonal-naive MASE as it was
    first, second = (r["scores"]["seasonal_naive"]["mase"] for r in combined["rows"])
    assert first == pytest.approx(second)
    wins = sum(r["scores"]["rnn"]["mase"] < r["scores"]["seasonal_naive"]["mase"] for r in combined["rows"])
    assert combined["rnn_beats_seasonal_naive"] == f"{wins}/2"
    assert f"RNN below seasonal naive (MASE over all horizons) on {wins} of 2 series" in out


def test_a_checkpoint_from_before_the_contract_forecasts_as_the_old_code_did(capsys):
    """forecast-2026-11.pt was written by `rnnkit recipe forecast` at ad9bf49 (tests/fixtures/checkpoints/README.md);
    that commit's `rnnkit predict` printed "11.91 11.43" for tests/fixtures/recipes2/series.csv and
    "9.642 9.796" for the history 1 2 ... 10."""
    capsys.readouterr()
    assert main(["predict", str(OLD_CHECKPOINT), str(FIXTURES / "series.csv")]) == 0
    assert main(["predict", str(OLD_CHECKPOINT), *[str(k) for k in range(1, 11)]]) == 0
    assert capsys.readouterr().out == "11.91 11.43\n9.642 9.796\n"


def test_builtin_series_load_without_gaps():
    pytest.importorskip("statsmodels")
    from rnnkit.recipes.forecast.data import load_builtin

    sun = load_builtin("sunspots")
    assert len(sun.values) == 309
    assert sun.period == 11
    co2 = load_builtin("co2")
    assert np.isfinite(co2.values).all()
    assert co2.labels[0] == "1958-03"
