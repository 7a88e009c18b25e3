"""Shared fixtures: a demo pharmacy on disk and a warehouse built from it (without Prefect)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

# Prefect, for the flow tests: no analytics calls (no internet here) and patience for the
# temporary server on a busy machine. Set before anything imports Prefect.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "turnover")
# The package also logs outside flows (unit tests, notebooks): those records stay local.
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

from turnover import pipeline  # noqa: E402
from turnover.demo.files import DemoFiles, write_demo  # noqa: E402
from turnover.demo.synthetic import generate_pharmacy  # noqa: E402
from turnover.settings import Settings, load_settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEMO_END = date(2026, 11, 22)  # a Sunday: the demo's last day of dispensing
LATE_NOVEMBER, LATE_MAY = date(2026, 11, 22), date(2026, 5, 24)
LATE_OCTOBER = date(2026, 10, 25)  # the par calendar from here runs through the November ramp


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory) -> DemoFiles:
    """The demo pharmacy's exports, catalog and on-hand, ending on ``DEMO_END``."""
    return write_demo(generate_pharmacy(DEMO_END), tmp_path_factory.mktemp("demo"))


def make_settings(root: Path, **overrides) -> Settings:
    """Settings from the committed turnover.toml with the warehouse and outputs under ``root``."""
    return load_settings(
        REPO / "turnover.toml", warehouse_path=root / "warehouse.duckdb", output_dir=root / "out", demo_dir=root / "demo",
        **overrides,
    )


def run_pipeline(settings: Settings, as_of: date, run_id: str) -> list[Path]:
    """Every step of the weekly run after loading, as the flow calls them."""
    pipeline.start_run(settings, run_id, as_of)
    pipeline.build_demand(settings, as_of)
    pipeline.forecast(settings, run_id, as_of)
    pipeline.set_par_levels(settings, run_id, as_of)
    return pipeline.export(settings, run_id, as_of)


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory, demo_files) -> dict:
    """A warehouse with the demo loaded and three runs: late May, late October and late November."""
    root = tmp_path_factory.mktemp("warehouse")
    settings = make_settings(root)
    pipeline.load_history(settings, demo_files.history)
    pipeline.load_reference(settings, catalog=demo_files.catalog, on_hand=demo_files.on_hand, recalls=demo_files.recalls, shortages=demo_files.shortages,
                            stockouts=demo_files.stockouts, closures=demo_files.closures)
    pipeline.load_signals(settings, {"ilinet": demo_files.ilinet})
    outputs = {as_of: run_pipeline(settings, as_of, f"run-{as_of}") for as_of in (LATE_MAY, LATE_OCTOBER, LATE_NOVEMBER)}
    return {"settings": settings, "outputs": outputs, "path": settings.warehouse_path}


#: Markers of the tests ``make test`` leaves to ``make test-extended`` (CI runs both).
EXTENDED = ("extended", "deployment", "dask")


def pytest_addoption(parser):
    parser.addoption("--extended", action="store_true",
                     help="run the extended tests too (make test-extended: pytest --extended -m 'extended or ...')")


def pytest_collection_modifyitems(config, items):
    """Without ``--extended``, the extended tests are skipped, saying where they run. The tests that run flows in
    this process (fixture ``prefect_server``) run last, in their own order.

    A flow run leaves Prefect's client services (log and event workers) running on background threads for
    the rest of the process; a test after them could depend on what those threads do (Hypothesis, for one,
    sees the global ``random`` change under it). Run last, no other test shares the process with them.
    """
    if not config.getoption("--extended"):
        skip = pytest.mark.skip(reason="extended test: make test-extended runs it (CI does, after make test)")
        for item in items:
            if any(item.get_closest_marker(name) for name in EXTENDED):
                item.add_marker(skip)
    items.sort(key=lambda item: "prefect_server" in getattr(item, "fixturenames", ()))
