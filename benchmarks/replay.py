"""Inventory replay over the last 52 weeks: turnover vs min/max from a flat 365-day average vs 30 days
of supply, on the demo pharmacy and on the real pharmacy in ../shared/datasets/pharma_sales.

    .venv/bin/python benchmarks/replay.py [--weeks 52] [--only demo|real] [--reselect-every 13]

Prints each data set's side-by-side table and the issue's targets: fill rate >= 95%; average on
hand at least 25% below the min/max baseline at equal or better fill rate; fewer units expired than
either baseline. The real data has no catalog: it is replayed with an assumed one (pack 1, lead time
2 days, 180 days of shelf life at receipt, unit cost 1, so values are units), said in the output.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from flows.cli_commands import format_totals  # noqa: E402
from turnover import pipeline  # noqa: E402
from turnover.demo.files import write_demo  # noqa: E402
from turnover.demo.synthetic import generate_pharmacy  # noqa: E402
from turnover.settings import load_settings  # noqa: E402
from turnover.simulation.replay import ReplaySettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "datasets" / "pharma_sales" / "salesdaily.csv"
REAL_GROUPS = ("M01AB", "M01AE", "N02BA", "N02BE", "N05B", "N05C", "R03", "R06")
DEMO_END = date(2026, 11, 22)
REAL_END = date(2018, 9, 30)  # the last day of the file (a Sunday)


def run(name: str, root: Path, load, end: date, weeks: int, reselect: int, higher: float | None) -> dict:
    settings = load_settings(REPO / "turnover.toml", warehouse_path=root / f"{name}.duckdb", output_dir=root / "out")
    load(settings)
    start = end - timedelta(weeks=weeks) + timedelta(days=1)
    began = time.perf_counter()
    result, _ = pipeline.replay(settings, start, end, ReplaySettings(reselect_every_weeks=reselect))
    seconds = time.perf_counter() - began
    table = result.totals
    if higher:
        # The same replay with every drug at one higher service level: turnover's point at a higher fill rate.
        raised = settings.model_copy(update={"policy": settings.policy.model_copy(update={"service_level": higher})})
        again, _ = pipeline.replay(raised, start, end, ReplaySettings(reselect_every_weeks=reselect))
        table = pd.concat([table, again.totals.iloc[:1].assign(policy=f"turnover@{higher:.1%}")], ignore_index=True)
    print(f"\n== {name}: {start} .. {end}, {result.weeks} weekly reviews, {len(result.per_series) // 3} series, "
          f"{seconds:.0f} s per replay")
    print(format_totals(table))
    check(table.set_index("policy"), f"turnover@{higher:.1%}" if higher else None)
    return {"name": name, "seconds": seconds}


def check(t: pd.DataFrame, higher: str | None = None) -> None:
    ours, minmax, dos = t.loc["turnover"], t.loc["minmax_flat365"], t.loc["days_of_supply"]
    on_hand_cut = 1 - ours["avg_on_hand_units"] / minmax["avg_on_hand_units"]
    value_cut = 1 - ours["avg_on_hand_value"] / minmax["avg_on_hand_value"]
    lines = [
        (f"fill rate {ours['fill_rate']:.1%} >= 95%", ours["fill_rate"] >= 0.95),
        (f"avg on hand {on_hand_cut:+.0%} units / {value_cut:+.0%} value below min/max (target >= 25%) "
         f"at fill rate {ours['fill_rate']:.1%} vs {minmax['fill_rate']:.1%}",
         on_hand_cut >= 0.25 and ours["fill_rate"] >= minmax["fill_rate"]),
        (f"units expired {ours['expired_units']:.0f} vs {minmax['expired_units']:.0f} (min/max) and "
         f"{dos['expired_units']:.0f} (days of supply)",
         ours["expired_units"] < min(minmax["expired_units"], dos["expired_units"])
         or ours["expired_units"] == minmax["expired_units"] == dos["expired_units"] == 0),
    ]
    if higher:
        raised = t.loc[higher]
        cut = 1 - raised["avg_on_hand_units"] / minmax["avg_on_hand_units"]
        value = 1 - raised["avg_on_hand_value"] / minmax["avg_on_hand_value"]
        lines.append((f"{higher}: avg on hand {cut:+.0%} units / {value:+.0%} value below min/max at fill rate "
                      f"{raised['fill_rate']:.1%} vs {minmax['fill_rate']:.1%}",
                      cut >= 0.25 and raised["fill_rate"] >= minmax["fill_rate"]))
    for text, ok in lines:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")


def load_demo(root: Path):
    def load(settings) -> None:
        files = write_demo(generate_pharmacy(DEMO_END), root / "demo")
        pipeline.load_history(settings, files.history)
        pipeline.load_reference(settings, catalog=files.catalog, on_hand=files.on_hand, stockouts=files.stockouts,
                                closures=files.closures, recalls=files.recalls, shortages=files.shortages)
        pipeline.load_signals(settings, {"ilinet": files.ilinet})
    return load


def load_real(root: Path):
    def load(settings) -> None:
        catalog = root / "real_catalog.csv"
        pd.DataFrame({"drug_id": REAL_GROUPS, "pack_size_units": 1.0, "lead_time_days": 2, "shelf_life_days": 180,
                      "unit_cost": 1.0, "criticality": "essential"}).to_csv(catalog, index=False)
        pipeline.load_history(settings, [REAL])
        pipeline.load_reference(settings, catalog=catalog)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--only", choices=["demo", "real"])
    parser.add_argument("--reselect-every", type=int, default=13)
    parser.add_argument("--higher-service-level", type=float, default=0.99,
                        help="also replay turnover with every drug at this level (0 to skip)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.only != "real":
            run("demo", root, load_demo(root), DEMO_END, args.weeks, args.reselect_every, args.higher_service_level)
        if args.only != "demo":
            if REAL.is_file():
                print("\n(real data: assumed catalog, pack 1, lead 2 d, shelf life 180 d, unit cost 1)")
                run("real pharmacy", root, load_real(root), REAL_END, args.weeks, args.reselect_every,
                    args.higher_service_level)
            else:
                print(f"\nreal data not found at {REAL}: skipped")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
