"""turnover: seasonal demand forecasts and par levels for pharmacy inventory.

The package holds the domain logic and the warehouse I/O; it never imports Prefect. Its folders are the stages of a
run, and imports point down this list (``tests/test_boundaries.py`` checks it):

- ``settings``, ``schema``, ``calendar``, ``panel``: one typed settings object, table and column names, period
  arithmetic, the demand panel; they import nothing else of the package.
- ``io``: the only code that touches DuckDB, files and CSV layouts; it imports only the modules above.
- ``forecasting``: demand series to classes, censoring, models, backtests, calibration, simulated paths.
- ``inventory``: stock by lot, expiry, recalls, shortages, tiers and fill-rate targets, ordering, par policy, KPIs.
- ``simulation``: the day-by-day inventory simulator, the replay and its efficient frontiers.
- ``reporting``: forecast tracking, the run digest, the HTML report and its charts.
- ``demo``: the synthetic pharmacy and chain, and the files they write (it may use ``io``).
- ``pipeline``: one function per step of a run, over ``io`` and the stages.

The stages (``forecasting`` .. ``reporting``) are arithmetic: they never import ``io``, ``demo`` or ``pipeline``.
The Prefect flows and the command line live in the top-level ``flows`` package, the application's edge.
"""

__version__ = "0.1.0"
