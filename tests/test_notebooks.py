"""The analyst notebooks under notebooks/ run top to bottom against the demo warehouse, from their own
folder as Jupyter runs them, and `make notebooks` serves them as notebooks paired with an .ipynb."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import LATE_MAY

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.py"))
CHOICES = ("TURNOVER_DB", "TURNOVER_RUN", "TURNOVER_CONFIG", "TURNOVER_WAREHOUSE_PATH", "TURNOVER_LOCATION", "TURNOVER_DRUG")


@pytest.fixture
def kernel_env(monkeypatch):
    """The environment the kernel inherits: none of the notebooks' choices set."""
    # Older jupyter_core 5.x releases warn (DeprecationWarning, an error here) that Jupyter is moving
    # its paths to platformdirs unless this is set; opting in avoids it (5.9 no longer warns).
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    for name in CHOICES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def execute(path: Path, folder: Path):
    """The notebook at ``path`` after running every cell with its kernel started in ``folder``."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def outputs(nb) -> list:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.extended  # make test runs one notebook: the own-folder test below
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_executes_against_the_demo_warehouse_and_draws_its_plots(path, demo_warehouse, kernel_env):
    kernel_env.setenv("TURNOVER_DB", str(demo_warehouse["path"]))
    nb = execute(path, FOLDER)  # the folder Jupyter starts the kernel in

    assert not [out for out in outputs(nb) if out.output_type == "error"]
    assert any(out.output_type == "display_data" and "image/png" in out.get("data", {}) for out in outputs(nb)), (
        f"{path.name} drew no plot"
    )


@pytest.mark.slow
def test_a_notebook_in_its_own_folder_finds_the_warehouse_of_the_turnover_toml_above_it(demo_warehouse, kernel_env, tmp_path):
    # A project laid out as the repository, without TURNOVER_DB: turnover.toml at the root names the warehouse
    # by a path relative to the root, and the kernel starts in notebooks/.
    (tmp_path / "turnover.toml").write_text('warehouse_path = "data/warehouse.duckdb"\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "warehouse.duckdb").symlink_to(demo_warehouse["path"])
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = Path(shutil.copy(FOLDER / "drug_explorer.py", folder))
    kernel_env.setenv("TURNOVER_RUN", f"run-{LATE_MAY:%Y-%m}")  # the first characters of the May run's id

    nb = execute(notebook, folder)

    printed = "".join(out.get("text", "") for out in outputs(nb) if out.output_type == "stream")
    assert f"run run-{LATE_MAY} (as of {LATE_MAY}" in printed


def test_jupytext_pairs_every_notebook_with_an_ipynb_and_saves_it_back_unchanged():
    jupytext = pytest.importorskip("jupytext")
    from jupytext.config import load_jupytext_config

    for path in NOTEBOOKS:
        config = load_jupytext_config(str(path))  # found from the notebook's folder, as Jupyter finds it
        assert config is not None and config.default_formats(str(path)) == "ipynb,py:percent"
        text = path.read_text(encoding="utf-8")
        as_ipynb = jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="ipynb")
        # A notebook opened and saved without an edit leaves its .py as committed (no version stamp added).
        assert jupytext.writes(jupytext.reads(as_ipynb, fmt="ipynb"), fmt="py:percent", config=config) == text


def test_the_ipynb_files_jupyterlab_pairs_with_the_notebooks_are_ignored_by_git():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [str(p.with_suffix(".ipynb").relative_to(REPO)) for p in NOTEBOOKS] + ["notebooks/.ipynb_checkpoints/x.ipynb"]
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert ignored == paths


def makefile_commands(venv: Path, port: int) -> dict[str, list[str]]:
    """The jupytext-config and jupyter commands `make notebooks` runs with ``VENV=venv`` (read with make -n)."""
    printed = subprocess.run(["make", "-n", "-s", "notebooks", f"VENV={venv}", f"JUPYTER_PORT={port}"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.replace("\\\n", " ")
    return {name: shlex.split(next(line for line in printed.splitlines() if line.startswith(f"{venv}/bin/{name} ")))
            for name in ("jupytext-config", "jupyter")}


def get_json(url: str, token: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"},
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.slow
@pytest.mark.extended  # needs the notebooks extra, which make test-extended installs
def test_make_notebooks_serves_a_notebook_py_as_a_notebook_and_saves_its_paired_ipynb(tmp_path):
    pytest.importorskip("jupyterlab", reason="the notebooks extra (make notebooks installs it)")
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    # The Makefile's own commands, with VENV pointing at a folder whose bin/ links to this interpreter's tools and
    # whose etc/jupyter is on the config path: the default-viewer setting lands there, not in the real venv.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for tool in ("jupytext-config", "jupyter"):
        (venv / "bin" / tool).symlink_to(Path(sys.executable).parent / tool)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    commands = makefile_commands(venv, port)
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(venv / "etc" / "jupyter"), "JUPYTER_PLATFORM_DIRS": "1",
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_TOKEN": "test-token"}
    subprocess.run(commands["jupytext-config"], env=env, check=True, capture_output=True)
    overrides = json.loads((venv / "etc" / "jupyter" / "labconfig" / "default_setting_overrides.json").read_text())
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"] == {"python": "Jupytext Notebook"}
    # A copy of notebooks/ where the Makefile expects it (root_dir=notebooks): saving writes there, not in the tree.
    shutil.copytree(FOLDER, tmp_path / "notebooks", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    base = f"http://127.0.0.1:{port}"
    assert commands["jupyter"][1:3] == ["lab", "--no-browser"] and "--ip=127.0.0.1" in commands["jupyter"]
    log = tmp_path / "jupyterlab.log"
    with log.open("w") as log_file:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen(commands["jupyter"], cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                get_json(f"{base}/api", "test-token")
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on port {port}:\n{log.read_text()}")
                time.sleep(0.5)

        model = get_json(f"{base}/api/contents/drug_explorer.py?content=1", "test-token")
        assert model["type"] == "notebook" and model["format"] == "json"
        assert model["content"]["cells"][0]["source"].startswith("# Drug explorer")
        viewers = get_json(f"{base}/lab/api/settings/@jupyterlab/docmanager-extension:plugin", "test-token")
        assert viewers["schema"]["properties"]["defaultViewers"]["default"]["python"] == "Jupytext Notebook"

        saved = {"type": "notebook", "format": "json", "content": model["content"]}
        get_json(f"{base}/api/contents/drug_explorer.py", "test-token", method="PUT", body=saved)
        assert (tmp_path / "notebooks" / "drug_explorer.ipynb").is_file()  # the pair, with outputs once run
        assert (tmp_path / "notebooks" / "drug_explorer.py").read_text() == (FOLDER / "drug_explorer.py").read_text()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
