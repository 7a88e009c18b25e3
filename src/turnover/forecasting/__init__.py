"""The forecasting engine: a demand panel in, simulated demand, quantiles and the models' reasons out.

Censoring (``censoring``), demand classes (``classify``), candidate lists (``candidates``), the models
(``models/``, fitted a group of series at a time by ``fitting``), rolling-origin backtests (``backtest``, each fold
seeing only its own past: ``folds``), quantile recalibration (``calibration``), and the passes over batches of
series (``forecast.forecast_panel``: ``work``, ``select``, ``simulate``, ``protection``, ``global_model``);
``signals`` says what an external signal had published by a date, ``peaks`` the most demand seen over a window.

Imports only ``settings``, ``schema``, ``calendar`` and ``panel`` below it: no ``io``, no inventory policy.
"""
