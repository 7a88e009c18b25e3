"""The export step: the purchasing files (par levels, calendar, forecast, flags) per run and per location, the run's
digest and HTML report, all written or none.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

from turnover import schema
from turnover.io import files as file_io
from turnover.io import outputs, publish, spreadsheet
from turnover.pipeline.digest import read_digest
from turnover.pipeline.runs import warehouse
from turnover.reporting.digest import RunDigest
from turnover.reporting.report import render_html
from turnover.settings import Settings


def export(settings: Settings, run_id: str, as_of: date) -> list[Path]:
    """Write the purchasing CSVs: par levels (all and per location), forecast, par calendar, expiry risk by
    lot, transfers before expiry, quarantine list and shortages, each named with ``as_of``; and the HTML run report beside them.

    They are published as one set (``io.publish``: a run folder, then the manifest ``latest.json`` switched
    at once, then the top-level files), and the run is recorded completed only after: a run that fails or is
    killed here leaves the previous set, whole.
    """
    return export_digest(settings, run_id, as_of)[0]


def export_digest(settings: Settings, run_id: str, as_of: date) -> tuple[list[Path], RunDigest]:
    """:func:`export`, and the run's digest the report was made from, as the run is then recorded (its outputs:
    every file written): what the run summary is made of, without reading it again."""
    out = Path(settings.output_dir)
    stamp = as_of.isoformat()
    with warehouse(settings) as con:
        stored_pars = outputs.read_run_table(con, schema.PAR_LEVELS, run_id)
        names = stored_pars[["location_id", "drug_id", "drug_name"]]
        pars = stored_pars[list(schema.PAR_LEVEL_CSV_COLUMNS)]
        fc = outputs.read_forecast_csv_rows(con, run_id)
        calendar_rows = outputs.read_run_table(con, schema.PAR_CALENDAR, run_id,
                                               ["location_id", "drug_id", "week_start", "par_level_units"])
        tables = {name: outputs.read_run_table(con, name, run_id)
                  for name in (schema.LOTS, schema.QUARANTINE, schema.SHORTAGE_FLAGS)}
        lots = tables[schema.LOTS].merge(names, on=["location_id", "drug_id"], how="left")
        quarantine = tables[schema.QUARANTINE].merge(names, on=["location_id", "drug_id"], how="left")
        shortages = tables[schema.SHORTAGE_FLAGS]
        transfers = outputs.read_run_table(con, schema.TRANSFERS, run_id).merge(
            names.rename(columns={"location_id": "from_location_id"}), on=["from_location_id", "drug_id"], how="left")
        frames = {  # after the par levels, which are written whole and by location below
            f"forecast_{stamp}.csv": fc,
            f"par_calendar_{stamp}.csv": wide_calendar(calendar_rows, names),
            f"expiry_risk_{stamp}.csv": lots[list(schema.LOTS_CSV_COLUMNS)],
            f"transfers_{stamp}.csv": transfers[list(schema.TRANSFER_CSV_COLUMNS)],
            f"quarantine_{stamp}.csv": quarantine[list(schema.QUARANTINE_CSV_COLUMNS)],
            f"shortages_{stamp}.csv": shortages[list(schema.SHORTAGE_CSV_COLUMNS)],
        }
        digest = read_digest(con, run_id, {schema.PAR_LEVELS: stored_pars, **tables},
                             seasonal_strength=settings.forecast.seasonal_strength_threshold)
    # The whole par-level file and one per location, each row formatted once.
    whole_pars, by_location = spreadsheet.write_csv_by(pars, "location_id")
    files = {f"par_levels_{stamp}.csv": whole_pars} | {name: spreadsheet.write_csv(frame) for name, frame in frames.items()}
    # File names from data (location ids) are reduced to one safe name component: never a path.
    parts = file_io.file_parts([str(location) for location in by_location])
    for location, writer in by_location.items():
        files[f"by_location/par_levels_{stamp}_{parts[str(location)]}.csv"] = writer
    digest = replace(digest, outputs=tuple(str(out / name) for name in files))
    files[f"report_{stamp}.html"] = spreadsheet.write_text(render_html(digest))
    written = publish.publish_set(out, stamp, files, run_id)
    with warehouse(settings) as con:
        outputs.finish_run(con, run_id, len(pars), [str(p) for p in written])
    return written, replace(digest, outputs=tuple(str(p) for p in written))


def wide_calendar(calendar_rows: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """One row per location x drug, one ``par_<week start>`` column per week ahead (the spreadsheet view)."""
    wide = calendar_rows.pivot_table(index=["location_id", "drug_id"], columns="week_start", values="par_level_units",
                                     aggfunc="first")
    wide.columns = [schema.PAR_WEEK_COLUMN.format(week_start=pd.Timestamp(c).date().isoformat()) for c in wide.columns]
    return names.merge(wide.reset_index(), on=["location_id", "drug_id"], how="inner")
