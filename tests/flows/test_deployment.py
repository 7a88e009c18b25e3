"""The committed ``prefect.yaml`` deployment, deployed and run for real.

``test_the_deployment_is_scheduled_and_a_worker_runs_it`` (marker ``deployment``):

1. starts a local Prefect server (``prefect server start``) with its own PREFECT_HOME and port;
2. creates the ``turnover-process`` work pool and runs ``prefect --no-prompt deploy --name
   weekly-par-levels`` from the project folder, as the README tells a user to;
3. reads the deployment back through the Python client: the schedule is prefect.yaml's (cron
   ``0 6 * * 1`` in its time zone) and active, and the scheduled runs the server created fall on
   Mondays at 06:00 in that zone;
4. triggers one run on the demo data with every file under ``tmp_path`` and has a process worker
   (``--run-once``) execute it: the run completes and writes the par-level CSV;
5. stops the server and worker process groups it started, pass or fail.

``test_serve_entry_point_matches_prefect_yaml`` (no server) checks that ``flows/serve.py`` serves
the same schedule and parameters as prefect.yaml, so the two ways of scheduling cannot drift apart.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from flows import serve

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")  # the venv's CLI, beside the test's python
POOL, DEPLOYMENT = "turnover-process", "weekly-par-levels"
FULL_NAME = f"{DEPLOYMENT}/{DEPLOYMENT}"  # <flow name>/<deployment name>

SERVER_START_TIMEOUT = 180  # a busy two-core machine: migrations on a fresh database can be slow
CLI_TIMEOUT = 300
SCHEDULED_RUNS_TIMEOUT = 90
RUN_TIMEOUT = 600
STOP_TIMEOUT = 20


def committed_deployment() -> dict:
    """The ``weekly-par-levels`` entry of prefect.yaml."""
    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    return next(d for d in config["deployments"] if d["name"] == DEPLOYMENT)


def test_serve_entry_point_matches_prefect_yaml():
    committed = committed_deployment()
    (schedule,) = committed["schedules"]
    assert schedule["cron"] == "0 6 * * 1" and schedule.get("active", True)
    assert (serve.DEPLOYMENT_NAME, serve.CRON, serve.TIMEZONE) == (committed["name"], schedule["cron"], schedule["timezone"])
    assert serve.PARAMETERS == committed["parameters"]


# --- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_* or TURNOVER_* setting (another server, profile or
    warehouse must not leak in), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TURNOVER_"))}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"} | extra


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:  # the whole group is gone already
        pass


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's group (it leads its own), SIGKILL if it is still there after STOP_TIMEOUT."""
    signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT)
    signal_group(proc.pid, signal.SIGKILL)  # any child left behind in the group


@pytest.fixture
def spawn():
    """``spawn(args, env, log)`` starts a process in a new process group, output appended to ``log``;
    every process started is stopped at teardown, whatever the test's outcome."""
    started: list[tuple[subprocess.Popen, object]] = []

    def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        out = log.open("ab")
        proc = subprocess.Popen(args, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        started.append((proc, out))
        return proc

    yield start
    for proc, out in reversed(started):
        stop(proc)
        out.close()


def cli(*args: str, env: dict[str, str]) -> str:
    """Run a ``prefect`` command to completion; its output, or a failed assertion showing it."""
    done = subprocess.run([PREFECT, "--no-prompt", *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT)
    assert done.returncode == 0, f"prefect {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def start_server(spawn, home: Path, log: Path) -> str:
    """A Prefect server on a free port; its API URL once /api/health answers. A new port if the first
    was taken meanwhile (the server exits at once)."""
    for _ in range(3):
        port = free_port()
        server = spawn([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                       clean_env(PREFECT_HOME=str(home)), log)
        api_url, deadline = f"http://127.0.0.1:{port}/api", time.monotonic() + SERVER_START_TIMEOUT
        while server.poll() is None and time.monotonic() < deadline:
            if healthy(api_url):
                return api_url
            time.sleep(1)
        if server.poll() is None:
            pytest.fail(f"no /api/health after {SERVER_START_TIMEOUT} s:\n{log.read_text(errors='replace')}")
    pytest.fail(f"the Prefect server exited at start-up three times:\n{log.read_text(errors='replace')}")


# --- the API ---------------------------------------------------------------------------------------


def scheduled_runs(client, deployment_id, timeout: float) -> list:
    """The runs the server's scheduler created for the deployment (waits up to ``timeout`` for the first)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    while True:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
        )
        if runs or time.monotonic() > deadline:
            return runs
        time.sleep(2)


def flow_run_logs(client, flow_run_id) -> str:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), sort=LogSort.TIMESTAMP_ASC)
    return "\n".join(f"{log.timestamp:%H:%M:%S} {log.level:>2} {log.name}: {log.message}" for log in logs)


def run_to_final_state(client, flow_run_id, start_worker):
    """Poll the flow run until it is final or RUN_TIMEOUT passes. A ``--run-once`` worker polls the pool
    once: if it exits while the run still waits (that one poll failed on a busy server), start another."""
    from prefect.client.schemas.objects import StateType

    worker, workers_started = start_worker(), 1
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        run = client.read_flow_run(flow_run_id)
        if (run.state is not None and run.state.is_final()) or time.monotonic() > deadline:
            return run
        if worker.poll() is not None and run.state_type in (StateType.SCHEDULED, StateType.PENDING) and workers_started < 5:
            worker, workers_started = start_worker(), workers_started + 1
        time.sleep(3)


# --- the test --------------------------------------------------------------------------------------


@pytest.mark.deployment
def test_the_deployment_is_scheduled_and_a_worker_runs_it(spawn, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    committed = committed_deployment()
    (committed_schedule,) = committed["schedules"]
    home, server_log, worker_log = tmp_path / "prefect-home", tmp_path / "server.log", tmp_path / "worker.log"
    api_url = start_server(spawn, home, server_log)
    # The CLI and the worker talk to this server only. `prefect deploy` (not the worker) resolves
    # prefect.yaml's {{ $TURNOVER_HOME }}: the deployment's pull step stores the repo's path.
    env = clean_env(PREFECT_HOME=str(home), PREFECT_API_URL=api_url, TURNOVER_HOME=str(REPO),
                    PREFECT_LOGGING_EXTRA_LOGGERS="turnover")

    cli("work-pool", "create", POOL, "--type", "process", env=env)
    cli("deploy", "--name", DEPLOYMENT, env=env)

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(FULL_NAME)
        assert deployment.work_pool_name == POOL and deployment.parameters == committed["parameters"]
        (schedule,) = deployment.schedules
        assert schedule.active
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 * * 1", committed_schedule["timezone"])

        upcoming = scheduled_runs(client, deployment.id, SCHEDULED_RUNS_TIMEOUT)
        assert upcoming, f"the scheduler created no runs within {SCHEDULED_RUNS_TIMEOUT} s"
        zone = ZoneInfo(committed_schedule["timezone"])
        local_starts = sorted(run.expected_start_time.astimezone(zone) for run in upcoming)
        assert all((t.weekday(), t.hour, t.minute) == (0, 6, 0) for t in local_starts), local_starts

        out = tmp_path / "out"
        parameters = {"demo": True, "overrides": {"warehouse_path": str(tmp_path / "warehouse.duckdb"),
                                                  "output_dir": str(out), "demo_dir": str(tmp_path / "demo")}}
        flow_run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        # Should the worker also pick up a scheduled run (Monday 06:00 is seconds away), its default
        # settings point under tmp_path too, never at the repo's data/.
        stray = tmp_path / "stray"
        worker_env = env | {"TURNOVER_WAREHOUSE_PATH": str(stray / "warehouse.duckdb"),
                            "TURNOVER_OUTPUT_DIR": str(stray / "out"), "TURNOVER_DEMO_DIR": str(stray / "demo")}
        worker_args = [PREFECT, "--no-prompt", "worker", "start", "--pool", POOL, "--type", "process", "--run-once",
                       "--install-policy", "never"]
        run = run_to_final_state(client, flow_run.id, lambda: spawn(worker_args, worker_env, worker_log))
        if run.state is None or not run.state.is_completed():
            state = f"{run.state.type.value} ({run.state.message})" if run.state else "without a state"
            state += "" if run.state and run.state.is_final() else f" after {RUN_TIMEOUT} s"
            pytest.fail(f"flow run {run.name} is {state}\n--- worker output ---\n{worker_log.read_text(errors='replace')}"
                        f"\n--- flow run logs ---\n{flow_run_logs(client, flow_run.id)}", pytrace=False)

    par_files = sorted(out.glob("par_levels_*.csv"))
    assert par_files, f"no par_levels_*.csv in {out}: {sorted(p.name for p in out.iterdir()) if out.exists() else 'absent'}"
    assert not (stray / "out").exists()  # the run's overrides won over the worker's environment
