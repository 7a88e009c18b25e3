"""Which Prefect API ``turnover run`` uses (flows/local.py), and that ``turnover runs`` starts none of it."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flows import local


@pytest.fixture
def no_prefect_configured(monkeypatch, tmp_path):
    """No API in the environment or the profile, and no Prefect imported as far as the module can tell."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "profiles.toml"))
    monkeypatch.setattr(local, "_configured_api_url", lambda: None)


@pytest.fixture
def health_server():
    """A stand-in for ``prefect server start``: answers ``/api/health`` with 200 on a free loopback port."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_a_configured_api_is_used_as_it_is_and_nothing_is_started(monkeypatch):
    monkeypatch.setattr(local, "_configured_api_url", lambda: "http://prefect.example:4200/api")
    with local.server_for_run() as server:
        assert (server.kind, server.api_url, server.process) == ("configured", "http://prefect.example:4200/api", None)
    assert "prefect.example" in server.describe() and "configured" in server.describe()


def test_the_profile_api_url_counts_as_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://10.0.0.5:4200/api"\n')
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))
    assert local._profile_api_url() == "http://10.0.0.5:4200/api"
    profiles.write_text('active = "ephemeral"\n[profiles.ephemeral]\n')
    assert local._profile_api_url() is None


def test_a_server_already_running_at_the_default_address_is_reused(no_prefect_configured, health_server, monkeypatch):
    monkeypatch.setattr(local, "DEFAULT_SERVER_API", health_server)
    with local.server_for_run() as server:
        assert (server.kind, server.process) == ("running", None)
        assert local.os.environ["PREFECT_API_URL"] == health_server
        local.wait_until_ready(server, 1)  # nothing to wait for
    assert "PREFECT_API_URL" not in local.os.environ


def test_a_temporary_server_that_dies_is_reported_not_waited_for(no_prefect_configured, monkeypatch, tmp_path):
    monkeypatch.setattr(local, "DEFAULT_SERVER_API", "http://127.0.0.1:9/api")  # discard port: nothing answers
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    monkeypatch.setattr(local, "_start_temporary",
                        lambda log_path: local.PrefectServer("temporary", "http://127.0.0.1:9/api", dead, 0.0))
    with local.server_for_run(tmp_path / "w.log") as server:
        with pytest.raises(RuntimeError, match="exited with code 3"):
            local.wait_until_ready(server, 60)


@pytest.mark.slow
@pytest.mark.extended
def test_the_temporary_server_answers_and_is_stopped_when_the_run_ends(no_prefect_configured, monkeypatch, tmp_path):
    monkeypatch.setattr(local, "DEFAULT_SERVER_API", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))  # its own database
    log = tmp_path / "w.log"
    with local.server_for_run(log) as server:
        assert server.kind == "temporary" and server.process is not None
        local.wait_until_ready(server, 300)
        assert local.healthy(server.api_url, 5)
        assert "temporary" in server.describe() and "prefect server start" in server.describe()
    assert server.process.poll() is not None  # stopped
    assert not local.healthy(server.api_url)


def test_the_run_log_sits_beside_the_warehouse_and_takes_info_lines(tmp_path):
    path = local.log_path_for(tmp_path / "data" / "warehouse.duckdb")
    assert path == tmp_path / "data" / "warehouse.log"
    logger = local.logging.getLogger("turnover.test_local_server")
    logger.setLevel(local.logging.INFO)
    with local.log_to_file(path):
        logger.info("loaded 3 files")
    logger.info("after the block: not in the file")
    text = path.read_text()
    assert "loaded 3 files" in text and "after the block" not in text


def test_turnover_runs_imports_neither_prefect_nor_the_forecasting_stack(tmp_path):
    from turnover.io.warehouse import connect

    connect(tmp_path / "w.duckdb").close()  # a warehouse with no run yet
    code = (
        "import sys\n"
        "from flows import cli\n"
        f"assert cli.main(['runs', '--db', {str(tmp_path / 'w.duckdb')!r}]) == 0\n"
        "heavy = sorted(m for m in sys.modules if m == 'prefect' or m.startswith(('turnover.forecasting', 'statsmodels',"
        " 'sklearn', 'flows.weekly', 'flows.execution', 'flows.local')))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2],
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "no runs recorded" in done.stdout
