"""How a command-line run talks to Prefect: which server, and where the log lines go.

A flow run needs a Prefect API. ``turnover run`` takes, in this order:

1. the server the user configured (``PREFECT_API_URL``, in the environment or the Prefect profile);
2. a server already running on this machine at Prefect's default address (``prefect server start``,
   ``http://127.0.0.1:4200``), found with one quick health check;
3. otherwise a temporary server of its own, started at once in a child process, so that it boots while
   this process imports the forecasting stack (the two used to run one after the other), and stopped
   when the command ends. This is what Prefect itself does when no API is configured (its "ephemeral"
   server: same app, no UI, no background services), only started earlier.

Nothing here is imported by the domain package. :func:`server_for_run` runs before Prefect is imported:
it sets ``PREFECT_API_URL`` in the environment, which Prefect reads when it starts (worker threads and
Dask processes included).

:func:`log_to_file` sends Prefect's and the steps' log lines to a file beside the warehouse, and :func:`console`
keeps them off the terminal, where ``turnover run`` prints one summary screen (``--verbose`` shows them again).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Where ``prefect server start`` listens by default.
DEFAULT_SERVER_API = "http://127.0.0.1:4200/api"
#: How long the check for a running server may take: it is made on every run that has none configured.
PROBE_SECONDS = 0.3
LOG_BYTES, LOG_BACKUPS = 5_000_000, 3


@dataclass
class PrefectServer:
    """The Prefect API a run uses: ``kind`` is "configured", "running" or "temporary"."""

    kind: str
    api_url: str
    process: subprocess.Popen | None = None
    started: float = 0.0  # perf_counter when the temporary server was started
    wait_seconds: float = 0.0  # how long the run then waited for it to answer

    def describe(self) -> str:
        """One line for the run summary."""
        if self.kind == "temporary":
            return (f"temporary Prefect server, ready after {self.wait_seconds:.1f} s of waiting; "
                    "`prefect server start` in another terminal skips that wait")
        return f"Prefect server at {self.api_url.removesuffix('/api')} ({self.kind})"


def healthy(api_url: str, timeout_seconds: float = PROBE_SECONDS) -> bool:
    """Whether a Prefect API answers its health check at ``api_url``."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout_seconds) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def create_temporary_app():
    """The app of the temporary server (``uvicorn --factory``): Prefect's API as its own temporary server
    serves it, without the UI and background services."""
    from prefect.server.api.server import create_app

    return create_app(ephemeral=True, final=True)


def _start_temporary(log_path: Path | None) -> PrefectServer:
    port = _free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "false", "PREFECT_API_BLOCKS_REGISTER_ON_START": "false"}
    env.pop("PREFECT_API_URL", None)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "flows.local:create_temporary_app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
    finally:
        if log_path:
            log.close()
    return PrefectServer("temporary", f"http://127.0.0.1:{port}/api", process, time.perf_counter())


def wait_until_ready(server: PrefectServer, timeout_seconds: float) -> None:
    """Block until a temporary server answers (no-op for the others).

    Raises:
        RuntimeError: it exited, or did not answer within ``timeout_seconds`` (then it is stopped).
    """
    if server.process is None:
        return
    waited = time.perf_counter()
    while not healthy(server.api_url, 1.0):
        if server.process.poll() is not None:
            raise RuntimeError(f"the temporary Prefect server exited with code {server.process.returncode} "
                               "(its messages are in the run log)")
        if time.perf_counter() - server.started > timeout_seconds:
            stop(server)
            raise RuntimeError(f"the temporary Prefect server did not answer within {timeout_seconds:.0f} s "
                               "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
        time.sleep(0.1)
    server.wait_seconds = time.perf_counter() - waited


def stop(server: PrefectServer) -> None:
    """Stop a temporary server (no-op for the others)."""
    if server.process is None or server.process.poll() is not None:
        return
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextmanager
def server_for_run(log_path: Path | None = None) -> Iterator[PrefectServer]:
    """The Prefect API for this command (module docstring), set as ``PREFECT_API_URL`` while the block runs.

    Call it before Prefect is imported. A temporary server is started at once and stopped when the block
    ends; call :func:`wait_until_ready` before the first flow run.
    """
    configured = _configured_api_url()
    if configured:
        yield PrefectServer("configured", configured)
        return
    if healthy(DEFAULT_SERVER_API):
        server = PrefectServer("running", DEFAULT_SERVER_API)
    else:
        server = _start_temporary(log_path)
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield server
    finally:
        _drain(server)
        os.environ.pop("PREFECT_API_URL", None)
        stop(server)


def _drain(server: PrefectServer) -> None:
    """Send the log lines and events Prefect still holds to a temporary server before it stops (they would
    otherwise fail at exit, with an error on the terminal)."""
    if server.process is None or "prefect.logging.handlers" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=5)


def _configured_api_url() -> str | None:
    """The API the user configured: Prefect's own setting when Prefect is imported already (a test harness
    sets it so), else the environment or the active profile."""
    if "prefect.settings" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    return os.environ.get("PREFECT_API_URL") or _profile_api_url()


def _profile_api_url() -> str | None:
    """``PREFECT_API_URL`` from the active Prefect profile (``prefect config set PREFECT_API_URL=...``), read
    without importing Prefect: the profiles file is TOML."""
    import tomllib

    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL") or None


def log_path_for(warehouse_path: Path) -> Path:
    """The run log beside the warehouse: ``data/warehouse.duckdb`` logs to ``data/warehouse.log``."""
    return Path(warehouse_path).with_suffix(".log")


@contextmanager
def console(verbose: bool) -> Iterator[None]:
    """Prefect's console handler silenced unless ``verbose`` (CRITICAL only: a failure is the CLI's one line, its
    traceback in the run log; what a user must see is on the run's screen), while the block runs (enter it
    before Prefect is imported: its console handler is configured then). The environment is restored after,
    so that a process this one starts later (a test's) chooses for itself."""
    name = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"
    before = os.environ.get(name)
    if not verbose:
        os.environ[name] = "CRITICAL"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Every log line of the run at INFO and above (Prefect's flow and task runs, the steps') appended to
    ``path``, rotated at 5 MB, while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
