"""Rolling-origin evaluation of forecasts: metrics (MAE, RMSE, MASE) and the baselines
an RNN must beat (naive, seasonal naive, ARIMA).

Rolling origin: for every origin t in the test part, a forecaster sees values[:t] only and
predicts values[t : t + h]. Every method is scored on exactly the same origins.

MASE (Hyndman & Koehler, 2006) divides the MAE by the in-sample MAE of the one-step
seasonal-naive forecast on the training part, so 1.0 means "as good as seasonal naive
was in training", and it compares across series of different scales.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

# a forecaster maps the known history (t,) to the next h values (h,)
Forecaster = Callable[[np.ndarray, int], np.ndarray]


def origins(n: int, n_test: int, horizon: int) -> np.ndarray:
    """The forecast origins t (history = values[:t]) whose whole horizon lies in the last n_test values."""
    first = n - n_test
    if first < 2 or n_test < horizon:
        raise ValueError(f"forecast: a test part of {n_test} values cannot hold horizon {horizon} in a series of {n}.")
    return np.arange(first, n - horizon + 1)


def rolling_forecasts(values: np.ndarray, starts: np.ndarray, horizon: int, forecaster: Forecaster) -> np.ndarray:
    """Forecasts (O, h) from each origin, and nothing from the future leaks in."""
    return np.stack([np.asarray(forecaster(values[:t], horizon), dtype=float) for t in starts])


def truths(values: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """The true values (O, h) that rolling_forecasts aims at."""
    return np.stack([values[t : t + horizon] for t in starts])


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last value, repeated."""
    return np.full(horizon, history[-1])


def seasonal_naive(period: int) -> Forecaster:
    """The value one period earlier: y_hat[t+k] = y[t+k-m*ceil(k/m)] (plain naive for m = 1)."""
    return lambda history, horizon: history[-period:][np.arange(horizon) % period]


def mase_scale(train: np.ndarray, period: int) -> float:
    """In-sample MAE of the one-step seasonal-naive forecast: mean |y_t - y_{t-m}|."""
    m = period if len(train) > period else 1
    scale = float(np.mean(np.abs(train[m:] - train[:-m])))
    return scale if scale > 0 else 1.0


def scores(pred: np.ndarray, true: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE and MASE over all origins and horizons, and the same for the one-step forecast."""
    err = pred - true  # (O, h)
    one = err[:, 0]
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mase": float(np.mean(np.abs(err)) / scale),
        "mae_1": float(np.mean(np.abs(one))),
        "rmse_1": float(np.sqrt(np.mean(one**2))),
        "mase_1": float(np.mean(np.abs(one)) / scale),
    }


ARIMA_ORDERS = ((1, 0, 1), (2, 0, 1), (1, 1, 1), (2, 1, 1))


def arima(train: np.ndarray, period: int) -> tuple[Forecaster, str]:
    """An ARIMA baseline: orders from a small grid chosen by AIC on the training part
    (seasonal (0,1,1)_m added when the series has a period); parameters stay fixed while
    the state is re-filtered from each origin's history, so nothing is refitted on test data.
    """
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = (0, 1, 1, period) if 1 < period < len(train) // 3 else (0, 0, 0, 0)
    best, best_aic = None, np.inf
    with warnings.catch_warnings(action="ignore"):  # convergence chatter from statsmodels on the weaker orders
        for order in ARIMA_ORDERS:
            try:
                fitted = SARIMAX(train, order=order, seasonal_order=seasonal).fit(disp=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if fitted.aic < best_aic:
                best, best_aic = (order, fitted), fitted.aic
    if best is None:
        raise ValueError("forecast: no ARIMA order could be fitted to the training part; run with --no-arima.")
    order, fitted = best

    def forecast(history: np.ndarray, horizon: int) -> np.ndarray:
        with warnings.catch_warnings(action="ignore"):
            return np.asarray(fitted.apply(history).forecast(horizon))

    label = f"ARIMA{order}" + (f"x{seasonal[:3]}_{period}" if seasonal[3] else "")
    return forecast, label
