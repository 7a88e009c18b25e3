"""Two weekly runs a week apart, for real through ``turnover run`` under a Prefect server: the run history,
the second run scoring the first's forecasts, the report, the markdown artifact and the run logs; and the
same run on a local Dask cluster giving the same files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flows import cli
from tests.conftest import REPO
from turnover import schema
from turnover.demo.synthetic import DRUGS
from turnover.io.warehouse import open_warehouse

pytestmark = [pytest.mark.slow, pytest.mark.extended]  # two CLI runs: minutes on a busy machine
CONFIG = str(REPO / "turnover.toml")
WEEK_ONE, WEEK_TWO = "2026-11-15", "2026-11-22"


def run_cli(*args: str) -> int:
    return cli.main(["run", "--config", CONFIG, *args])


async def artifact_and_logs(flow_run_id: str) -> tuple[list, list]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, LogFilter, LogFilterFlowRunId

    async with get_client() as client:
        artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["weekly-par-levels"])))
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [a for a in artifacts if str(a.flow_run_id) == flow_run_id], logs


@pytest.fixture(scope="module")
def two_weeks(prefect_server, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("two_weeks")
    db, out = root / "w.duckdb", root / "out"
    demo = ["--demo", "--db", str(db), "--out", str(out)]
    import os

    cwd = Path.cwd()
    os.chdir(root)  # the demo is generated under ./data/demo
    try:
        assert run_cli(*demo, "--as-of", WEEK_ONE) == 0
        assert run_cli(*demo, "--as-of", WEEK_TWO) == 0
    finally:
        os.chdir(cwd)
    with open_warehouse(db, read_only=True) as con:
        runs = con.execute(f"select run_id, as_of::varchar, rows_read, rows_loaded, rows_rejected, inputs, step_seconds, "
                           f"models, package_version, scored from {schema.RUNS} order by as_of").fetchall()
        scores = con.execute(f"select forecast_run_id, scored_by_run_id, period_start::varchar, horizon_periods, "
                             f"count(*) from {schema.FORECAST_ACCURACY} group by all").fetchall()
    return {"db": db, "out": out, "runs": runs, "scores": scores}


def test_turnover_runs_lists_both_runs_and_the_second_scored_the_first(two_weeks, capsys):
    (first, *_), (second, *_) = two_weeks["runs"]
    assert cli.main(["runs", "--db", str(two_weeks["db"]), "--config", CONFIG]) == 0
    listing = capsys.readouterr().out
    assert first[:12] in listing and second[:12] in listing and WEEK_ONE in listing and WEEK_TWO in listing
    assert f"{3 * len(DRUGS)} from 1 run(s)" in listing
    # One scored week (16-22 Nov) per series, of the first run's forecast, by the second run.
    assert two_weeks["scores"] == [(first, second, "2026-11-16", 1, 3 * len(DRUGS))]


def test_each_run_records_what_it_read_did_and_wrote(two_weeks):
    (_, _, read, loaded, rejected, inputs, steps, models, version, _), second = two_weeks["runs"]
    assert read == loaded + rejected and read > 200_000
    assert second[2:5] == (0, 0, 0)  # the same files again: skipped, nothing read
    inputs = json.loads(inputs)
    kinds = {item["kind"] for item in inputs}
    assert {"dispensing", "catalog", "on_hand", "recalls", "shortages"} <= kinds
    assert all(len(item["sha256"]) == 64 for item in inputs)
    assert {"load history", "build demand", "score forecasts", "forecast", "par levels", "export"} <= set(json.loads(steps))
    assert sum(json.loads(models).values()) == 3 * len(DRUGS)
    assert version
    assert cli.main(["runs", "--db", str(two_weeks["db"]), "--config", CONFIG, "--show", second[0][:8]]) == 0


def test_the_report_and_the_markdown_summary_compare_with_the_week_before(two_weeks):
    report = (two_weeks["out"] / f"report_{WEEK_TWO}.html").read_text()
    assert WEEK_ONE in report and 'class="plot"' in report
    second = two_weeks["runs"][1][0]
    artifacts, logs = asyncio.run(artifact_and_logs(second))
    assert len(artifacts) == 1
    markdown = artifacts[0].data
    assert f"# Par levels as of {WEEK_TWO} (changes since {WEEK_ONE})" in markdown
    for section in ("## Totals", "## Biggest par moves, by value", f"moved since the run of {WEEK_ONE}",
                    "## Strongest seasonal swings, next 4 weeks", "## Flags", "recall", "shortage", f"report_{WEEK_TWO}.html"):
        assert section in markdown
    # Domain modules' log records reach the flow run's logs in Prefect.
    assert any(log.name.startswith("turnover.") and "forecast vs actual" in log.message for log in logs)


@pytest.mark.dask
def test_a_local_dask_cluster_writes_the_same_files_as_the_default_path(two_weeks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db, out = tmp_path / "w.duckdb", tmp_path / "out"
    assert run_cli("--demo", "--db", str(db), "--out", str(out), "--as-of", WEEK_ONE, "--dask-workers", "2") == 0
    default_out = two_weeks["out"]
    names = sorted(p.relative_to(out) for p in out.rglob(f"*{WEEK_ONE}*.csv") if p.relative_to(out).parts[0] != "runs")
    assert len(names) >= 6
    for name in names:
        assert (out / name).read_bytes() == (default_out / name).read_bytes(), name
