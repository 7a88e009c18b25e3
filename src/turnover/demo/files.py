"""Writing the synthetic pharmacy as the files a real one would send."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from turnover.demo.synthetic import DEMO_RECALLS, DEMO_SHORTAGES, DRUGS, Pharmacy
from turnover.io.signals import mmwr_week_start


@dataclass(frozen=True)
class DemoFiles:
    history: list[Path]
    catalog: Path
    on_hand: Path
    stockouts: Path
    closures: Path
    ilinet: Path
    recalls: Path
    shortages: Path

    def exist(self) -> bool:
        return all(p.is_file() for p in [*self.history, self.catalog, self.on_hand, self.stockouts, self.closures,
                                          self.ilinet, self.recalls, self.shortages])


def demo_files(demo_dir: str | Path) -> DemoFiles:
    """Where the demo's files are (or will be) in ``demo_dir``."""
    d = Path(demo_dir)
    return DemoFiles(
        history=[d / "dispensing_store01.csv", d / "dispensing_store02.parquet", d / "rxsys_export_store03.csv"],
        catalog=d / "catalog.csv",
        on_hand=d / "on_hand.csv",
        stockouts=d / "stockouts.csv",
        closures=d / "closures.csv",
        ilinet=d / "ilinet_demo.csv",
        recalls=d / "fda_drug_enforcement.json",
        shortages=d / "fda_drug_shortages.json",
    )


def write_demo(pharmacy: Pharmacy, demo_dir: str | Path) -> DemoFiles:
    """Write the three stores' exports, the catalog and the on-hand snapshot; returns their paths."""
    files = demo_files(demo_dir)
    Path(demo_dir).mkdir(parents=True, exist_ok=True)
    fills = pharmacy.dispensing
    by_store = {loc: rows for loc, rows in fills.groupby("location_id", sort=True)}

    store01 = by_store["STORE-01"][["dispensed_at", "location_id", "drug_id", "drug_name", "quantity", "rx_number", "patient_id"]]
    store01.to_csv(files.history[0], index=False, date_format="%Y-%m-%d %H:%M:%S")

    store02 = by_store["STORE-02"][["dispensed_at", "location_id", "drug_id", "drug_name", "quantity"]].reset_index(drop=True)
    con = duckdb.connect()
    try:
        con.from_df(store02).write_parquet(str(files.history[1]))
    finally:
        con.close()

    ndc10 = dict(zip(pharmacy.catalog["drug_id"], [d.ndc10 for d in DRUGS], strict=True))
    store03 = by_store["STORE-03"]
    rng = np.random.default_rng(3)
    pd.DataFrame({
        "Rx Number": store03["rx_number"].to_numpy(),
        "Fill Date": store03["dispensed_at"].dt.strftime("%m/%d/%Y").to_numpy(),
        "Store": "STORE-03",
        "NDC": store03["drug_id"].map(ndc10).to_numpy(),
        "Drug Description": store03["drug_name"].to_numpy(),
        "Qty Dispensed": store03["quantity"].to_numpy(),
        "Patient Name": [f"Patient {p}" for p in store03["patient_id"]],
        "Patient DOB": pd.to_datetime(rng.integers(-20000, 15000, len(store03)), unit="D").strftime("%m/%d/%Y"),
        "Prescriber NPI": rng.integers(1_000_000_000, 1_999_999_999, len(store03)).astype(str),
    }).to_csv(files.history[2], index=False)

    pharmacy.catalog.to_csv(files.catalog, index=False)
    pharmacy.on_hand.to_csv(files.on_hand, index=False)
    pharmacy.stockouts.to_csv(files.stockouts, index=False)
    pharmacy.closures.to_csv(files.closures, index=False)
    write_fluview(pharmacy.flu_signal, files.ilinet)
    write_openfda(list(DEMO_RECALLS), files.recalls)
    write_openfda(list(DEMO_SHORTAGES), files.shortages)
    return files


def write_openfda(records: list[dict], path: Path) -> None:
    """Records as an openFDA API response (``meta`` + ``results``)."""
    meta = {"disclaimer": "Synthetic demo file in the openFDA form; records from openFDA (CC0).",
            "results": {"skip": 0, "limit": len(records), "total": len(records)}}
    path.write_text(json.dumps({"meta": meta, "results": records}, indent=2), encoding="utf-8")


def write_fluview(flu: pd.Series, path: Path) -> None:
    """The demo's flu signal as a CDC FluView ILINet export: title line, MMWR weeks, % weighted ILI
    (about 1% between seasons, up to ~8% at a big peak, as national ILI runs)."""
    weekly = flu.resample("W-SAT").mean()  # MMWR weeks end on Saturday
    weekly = weekly[weekly.index - pd.Timedelta(days=6) >= flu.index[0]]  # whole weeks only
    rows = []
    for end, value in weekly.items():
        start = (end - pd.Timedelta(days=6)).date()
        year = (start + timedelta(days=3)).year
        week = (start - mmwr_week_start(year, 1)).days // 7 + 1
        rows.append(("National", "X", year, week, round(1.0 + 4.5 * float(value), 5)))
    frame = pd.DataFrame(rows, columns=["REGION TYPE", "REGION", "YEAR", "WEEK", "% WEIGHTED ILI"])
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("PERCENTAGE OF VISITS FOR INFLUENZA-LIKE-ILLNESS REPORTED BY SENTINEL PROVIDERS (SYNTHETIC DEMO)\n")
        frame.to_csv(handle, index=False)
