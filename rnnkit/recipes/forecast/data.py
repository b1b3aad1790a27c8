"""Real-valued series for the forecast recipe: five built-in real series and user CSV files.

Built-in series (all offline, shipped inside PyPI packages):
    sunspots  yearly sunspot numbers 1700-2008 (statsmodels), period 11 (the solar cycle)
    co2       Mauna Loa CO2, weekly 1958-2001 averaged to months (statsmodels), period 12
    elnino    monthly Pacific sea-surface temperature 1950-2010 (statsmodels), period 12
    stocks    monthly closing price of one stock 2000-2010 (vega_datasets, AAPL by default), period 12
    seattle   Seattle daily maximum temperature 2012-2015 averaged to weeks (vega_datasets), period 52

A series with missing values is an error unless ``fill="interpolate"`` is asked for: a
gap silently turned into a number would leak into every window that covers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.utils.reading import DataFormatError, csv_rows, decode_utf8

BUILTIN = ("sunspots", "co2", "elnino", "stocks", "seattle")


@dataclass(frozen=True)
class Series:
    """One univariate series with its seasonal period (1 = no seasonality) and time labels."""

    name: str
    values: np.ndarray  # (N,) float64
    period: int
    labels: tuple[str, ...]  # one time label per value, for plots


def _needs(package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(package) is None:
        raise ValueError(f"forecast: the built-in series need the {package!r} package; `pip install {package}`.")


def load_builtin(name: str, symbol: str = "AAPL") -> Series:
    """Load one of ``BUILTIN`` (see the module docstring for where each comes from)."""
    if name in ("sunspots", "co2", "elnino"):
        _needs("statsmodels")
        import statsmodels.api as sm
    if name == "sunspots":
        d = sm.datasets.sunspots.load_pandas().data
        return Series(name, d["SUNACTIVITY"].to_numpy(float), 11, tuple(str(int(y)) for y in d["YEAR"]))
    if name == "co2":
        # the weekly record has gaps; monthly means still leave 5 empty months, filled linearly (this series only)
        monthly = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
        return Series(name, monthly.to_numpy(float), 12, tuple(f"{t:%Y-%m}" for t in monthly.index))
    if name == "elnino":
        d = sm.datasets.elnino.load_pandas().data
        months = d.drop(columns="YEAR").to_numpy(float).reshape(-1)  # rows are years, columns months
        return Series(name, months, 12, tuple(f"{int(y)}-{m:02d}" for y in d["YEAR"] for m in range(1, 13)))
    if name in ("stocks", "seattle"):
        _needs("vega_datasets")
        from vega_datasets import local_data
    if name == "stocks":
        s = local_data.stocks()
        s = s[s["symbol"] == symbol]
        if s.empty:
            raise ValueError(f"forecast: no stock {symbol!r} in vega_datasets; choose one of AAPL, AMZN, GOOG, IBM, "
                             "MSFT.")
        return Series(f"stocks-{symbol}", s["price"].to_numpy(float), 12, tuple(f"{t:%Y-%m}" for t in s["date"]))
    if name == "seattle":
        w = local_data.seattle_weather().set_index("date")["temp_max"].resample("W").mean()
        return Series(name, w.to_numpy(float), 52, tuple(f"{t:%Y-%m-%d}" for t in w.index))
    raise ValueError(f"forecast: unknown series {name!r}; built-in series are {', '.join(BUILTIN)}, or pass --csv "
                     "FILE.")


MISSING = ("", "na", "nan", "null")  # cells that mean "no value here" (compared in lower case)
MIN_LENGTH = 8  # values a series needs at least


def load_csv(path: str | Path, column: str | None = None, period: int = 1, fill: str = "error") -> Series:
    """Read one numeric column of a UTF-8 CSV file with a header row (the last column by default).

    An empty cell, "NA", "nan" or "null" is a missing value: an error naming its line, unless
    ``fill="interpolate"`` (linear between neighbours, ends held constant). Any other cell must
    be a finite number, and every row must have the header's number of fields. Blank lines are skipped.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"forecast: no file {path}.")
    name = str(path)
    records = [(n, row) for n, row in csv_rows(decode_utf8(path.read_bytes(), name), name) if row]
    if not records:
        raise DataFormatError(name, "the file is empty", "a header row, then one value per line", line=1)
    header = [h.strip() for h in records[0][1]]
    col = header[-1] if column is None else column
    if col not in header:
        raise DataFormatError(name, f"forecast: {path} has no column {col!r}; its columns are {header}",
                              "a header row naming the column (--column)", line=records[0][0])
    j = header.index(col)
    values: list[float] = []
    labels: list[str] = []
    missing: list[int] = []
    for n, row in records[1:]:
        if len(row) != len(header):
            raise DataFormatError(name, f"{len(row)} fields, but the header has {len(header)}",
                                  f"{len(header)} fields like the header {header}", line=n)
        cell = row[j].strip()
        labels.append(row[0].strip() if j != 0 else str(len(labels) + 1))
        if cell.lower() in MISSING:
            values.append(np.nan)
            missing.append(n)
            continue
        try:
            values.append(float(cell))
        except ValueError:
            raise DataFormatError(name,
                                  f"forecast: {path} column {col!r} has non-numeric values, e.g. line {n}: {cell!r}",
                                  "a number, or an empty cell / NA for a missing value", line=n) from None
        if not np.isfinite(values[-1]):
            raise DataFormatError(name, f"column {col!r} holds {cell!r}",
                                  "a finite number, or an empty cell / NA for a missing value", line=n)
    end = records[-1][0] + 1
    if missing and fill == "error":
        where = ", ".join(labels[i] for i in np.flatnonzero(np.isnan(values))[:5])
        raise DataFormatError(
            name, f"forecast: series {path.stem!r} has {len(missing)} missing value(s) (at {where}"
            f"{', ...' if len(missing) > 5 else ''}), the first on this line", "a number in every row",
            line=missing[0],
            hint="Fill or drop them in the file, or pass --fill interpolate to interpolate linearly between "
                 "neighbours.",
        )
    if len(values) < MIN_LENGTH:
        raise DataFormatError(name, f"forecast: series {path.stem!r} has {len(values)} values; need at least "
                              f"{MIN_LENGTH}", f"at least {MIN_LENGTH} values", line=end)
    if len(missing) == len(values):
        raise DataFormatError(name, f"every value of column {col!r} is missing", "some numbers", line=end)
    return check_series(Series(path.stem, np.asarray(values, dtype=float), period, tuple(labels)), fill)


def check_series(series: Series, fill: str = "error") -> Series:
    """Reject (or, with ``fill="interpolate"``, fill) missing values; require a minimum length."""
    if fill not in ("error", "interpolate"):
        raise ValueError(f"forecast: fill must be 'error' or 'interpolate', got {fill!r}.")
    v = series.values
    missing = np.flatnonzero(~np.isfinite(v))
    if missing.size and fill == "error":
        where = ", ".join(series.labels[i] for i in missing[:5])
        raise ValueError(
            f"forecast: series {series.name!r} has {missing.size} missing value(s) (at {where}"
            f"{', ...' if missing.size > 5 else ''}). Fill or drop them in the file, or pass --fill interpolate "
            "to interpolate linearly between neighbours."
        )
    if missing.size:
        known = np.flatnonzero(np.isfinite(v))
        if known.size == 0:
            raise ValueError(f"forecast: series {series.name!r} has no values at all.")
        v = v.copy()
        v[missing] = np.interp(missing, known, v[known])
        series = Series(series.name, v, series.period, series.labels)
    if len(v) < MIN_LENGTH:
        raise ValueError(f"forecast: series {series.name!r} has {len(v)} values; need at least {MIN_LENGTH}.")
    if series.period < 1:
        raise ValueError(f"forecast: period must be >= 1, got {series.period}.")
    return series


def make_windows(values: np.ndarray, window: int, horizon: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """All (input, future) pairs whose future ends at or before index ``end`` (exclusive).

    Returns inputs (N, window) and targets (N, horizon): x = values[s:s+window], y = values[s+window:s+window+horizon].
    """
    starts = np.arange(0, end - window - horizon + 1)
    if starts.size == 0:
        raise ValueError(
            f"forecast: {end} training values are too few for window={window} and horizon={horizon}; "
            "lower --window or --horizon, or use a longer series."
        )
    w = values[starts[:, None] + np.arange(window + horizon)[None, :]]  # (N, window + horizon)
    return w[:, :window], w[:, window:]
