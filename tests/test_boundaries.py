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


# --- The layout's import rules (issue 18): each folder of src/turnover imports only what is below it. ---------------
BASE = {"turnover", "turnover.settings", "turnover.schema", "turnover.calendar", "turnover.panel"}
#: What each part may import from the package (besides itself). The stages are arithmetic: no io, demo or pipeline.
MAY_IMPORT = {
    "base": {"base"},
    "io": {"base"},
    "forecasting": {"base"},
    "inventory": {"base", "forecasting"},
    "simulation": {"base", "forecasting", "inventory"},
    "reporting": {"base", "forecasting", "inventory"},
    "demo": {"base", "io"},
    "pipeline": {"base", "io", "forecasting", "inventory", "simulation", "reporting", "demo"},
}
#: The longest a module may grow (about 400 lines: split it along its responsibilities beyond that).
MAX_MODULE_LINES = 420


def part_of(module: str) -> str:
    """The part of the layout a dotted module name belongs to ("base", "io", a stage, "demo", "pipeline")."""
    if module in BASE or module.startswith("turnover.settings."):
        return "base"
    parts = module.split(".")
    if parts[0] != "turnover" or len(parts) < 2 or parts[1] not in MAY_IMPORT:
        raise ValueError(f"{module} is in no part of the layout: add it to a package or to BASE")
    return parts[1]


def imports_of(path) -> list[tuple[int, str]]:
    """Every module a file imports (at the top or inside a function), with its line, absolute and dotted."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: a relative import (the layout's rules read absolute ones)"
            found.append((node.lineno, node.module))
            # ``from turnover import calendar`` / ``from turnover.io import demand`` import modules, not names
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if (REPO / "src" / node.module.replace(".", "/") / f"{alias.name}.py").exists()
                      or (REPO / "src" / node.module.replace(".", "/") / alias.name).is_dir()]
    return found


def package_modules():
    src = REPO / "src"
    for path in sorted((src / "turnover").rglob("*.py")):
        name = ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        yield path, name


def upward_imports(part: str, imports: list[tuple[int, str]]) -> list[str]:
    """The imports of a module of ``part`` that break the layout's rules, each in words."""
    wrong = []
    for line, imported in imports:
        top = imported.split(".")[0]
        if top in ("flows", "prefect", "prefect_dask"):
            wrong.append(f"{line}: imports {imported}: the domain never imports the Prefect layer")
        elif top == "turnover" and imported != "turnover":
            target = part_of(imported)
            if target != part and target not in MAY_IMPORT[part]:
                wrong.append(f"{line}: imports {imported}: {part} may import only {sorted(MAY_IMPORT[part])}")
    return wrong


def test_every_import_in_the_package_points_down_the_layout():
    wrong = [f"{path.relative_to(REPO)}:{words}" for path, name in package_modules()
             for words in upward_imports(part_of(name), imports_of(path))]
    assert not wrong, "\n".join(wrong)


def test_the_layout_rules_catch_an_upward_import(tmp_path):
    """The check above can fail: a module importing the forecast, io, a stage above it or flows is reported."""
    module = tmp_path / "probe.py"
    module.write_text("from turnover.forecasting import forecast\nimport flows.cli\nfrom turnover import calendar\n"
                      "def late():\n    from turnover.io import warehouse\n")
    imports = imports_of(module)
    assert [m for _, m in imports] == ["turnover.forecasting", "turnover.forecasting.forecast", "flows.cli",
                                       "turnover", "turnover.calendar", "turnover.io", "turnover.io.warehouse"]
    assert [w.split(":")[0] for w in upward_imports("io", imports)] == ["1", "1", "2"]
    assert [w.split(":")[0] for w in upward_imports("inventory", imports)] == ["2", "5", "5"]
    assert upward_imports("pipeline", imports) == ["2: imports flows.cli: the domain never imports the Prefect layer"]
    assert part_of("turnover.forecasting.models.batch") == "forecasting" and part_of("turnover.panel") == "base"


def test_no_module_is_a_grab_bag_of_more_than_about_400_lines():
    files = [path for path, _ in package_modules()] + sorted((REPO / "flows").glob("*.py"))
    long = {str(p.relative_to(REPO)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these along their responsibilities: {long}"


def test_the_command_line_lives_in_flows_and_the_package_has_no_module_of_the_old_flat_layout():
    src = REPO / "src" / "turnover"
    assert (REPO / "flows" / "cli.py").exists() and not (src / "cli.py").exists()
    flat = {p.stem for p in src.glob("*.py")} - {"__init__", "settings", "schema", "calendar", "panel"}
    assert not flat, f"modules outside a package: {sorted(flat)}"
