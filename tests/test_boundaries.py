"""Architecture rules that keep the package usable without the orchestrator."""

import subprocess
import sys
import tomllib

from tests.conftest import REPO
from turnover.settings import PERIOD_DEFAULTS, Settings


def test_the_domain_package_never_imports_prefect():
    code = (
        "import pkgutil, importlib, sys, turnover\n"
        "for m in pkgutil.walk_packages(turnover.__path__, 'turnover.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('prefect' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_committed_turnover_toml_states_the_code_defaults():
    committed = tomllib.loads((REPO / "turnover.toml").read_text())
    defaults = Settings().model_dump(mode="json")
    # TOML has no null; a setting whose default follows the period (horizon, candidate lists) is commented out
    defaults["policy"] = {k: v for k, v in defaults["policy"].items() if v is not None}
    defaults["forecast"] = {k: v for k, v in defaults["forecast"].items()
                            if v is not None and k not in PERIOD_DEFAULTS["week"]}
    defaults["policy"]["abc_shares"] = list(defaults["policy"]["abc_shares"])
    for section in ("forecast", "policy"):
        assert committed[section] == defaults[section], section
    assert {k: str(v) for k, v in committed["ingest"].items() if k != "mappings"} == {
        k: str(v) for k, v in defaults["ingest"].items() if k != "mappings"
    }
