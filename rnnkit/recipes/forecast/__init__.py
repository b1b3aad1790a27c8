"""Forecasting real series: recipe.py (the many-to-one forecaster and the contract), data.py (the series), baselines.py
(rolling-origin scores and the naive, seasonal-naive and ARIMA forecasts)."""
