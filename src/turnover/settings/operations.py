"""``[execution]``, ``[retention]``, ``[tracking]``: where the work runs, what the warehouse keeps, when a
forecast's drift is flagged."""

from __future__ import annotations

from pydantic import Field

from turnover.settings.sections import (
    Section,
)


class ExecutionSettings(Section):
    """Where the per-series work runs: in this process (default) or on a Dask cluster through Prefect."""

    dask_address: str | None = Field(
        None, description="Address of an existing Dask scheduler (tcp://host:8786): batches of series run there."
    )
    dask_workers: int = Field(
        0, ge=0, le=256, description="Without an address: start a local Dask cluster with this many worker processes "
        "(0: no cluster, the batches run in the flow's process)."
    )
    threads: int = Field(
        0, ge=0, le=256, description="Without Dask: batches run in this many threads of the flow's process (0: one per "
        "core).")
    dask_timeout_seconds: float = Field(
        20.0, gt=0, le=600, description="How long to wait for the scheduler at dask_address to answer before the run "
        "stops with an error (an address that is not a Dask scheduler would otherwise hang the run).")
    batch_series: int = Field(
        1000, ge=1, le=100_000,
        description="Series per batch (one task per batch; series within a batch are fitted together).")
    duckdb_memory_limit: str = Field(
        "2GB", pattern=r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$",
        description="Memory DuckDB may use for the warehouse's queries (e.g. 2GB, 1500MB); beyond it, it spills to "
        "disk beside the warehouse (<warehouse>.tmp) instead of growing the run's memory.")
    duckdb_threads: int = Field(
        0, ge=0, le=256, description="Threads DuckDB uses for the warehouse's queries (0: one per core).")

    @property
    def uses_dask(self) -> bool:
        return bool(self.dask_address) or self.dask_workers > 0


class RetentionSettings(Section):
    """What the warehouse keeps of earlier runs (``turnover.io.retention``); the dispensing history is always kept."""

    detail_days: int = Field(
        28, ge=0, le=36_500, description="Runs with an as-of older than this lose their per-series tables (par levels, "
        "calendar, lots, classes ...) and their forecast of periods scored already; their record in marts.runs stays "
        "(0: keep every run's).")
    scores_days: int = Field(
        91, ge=0, le=36_500, description="Forecast-vs-actual scores of periods older than this are compacted into "
        "marts.accuracy_summary (sums and counts per run, model, class and horizon; 0: keep every row).")
    compact_growth: float = Field(
        0.25, ge=0, le=100, description="After retention, the warehouse file is rewritten without the space deleted "
        "rows left once it has grown by this share since its last rewrite (DuckDB never shrinks its file; 0: never).")


class TrackingSettings(Section):
    """Forecast-vs-actual tracking: how recent errors are compared with the backtest's."""

    drift_window_periods: int = Field(8, ge=1, le=104, description="Latest scored periods a drift flag looks at.")
    drift_min_periods: int = Field(4, ge=1, description="Scored periods a series needs before it can be flagged.")
    drift_ratio: float = Field(
        1.5, gt=1.0, description="Flag a drug whose recent MASE exceeds this multiple of its backtest MASE."
    )
    drift_min_mase: float = Field(
        1.0, ge=0, description="...and whose recent MASE is at least this (no flag while it beats the naive forecast)."
    )
