"""What one run means for purchasing, in one object: totals, the biggest par changes, flags.

``RunDigest`` is what the Prefect markdown artifact and the HTML run report are both made from, so
the two never disagree. It holds small frames only: the series to plot are the ones that moved most
and every flagged one, and only the first ``MAX_PLOTS`` of them, the ones the report draws, come with
their history, forecast and par levels; never the whole panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

#: At most this many charts: the biggest movers first, then flagged series (``RunDigest.plotted_keys``).
#: 24 charts keep the report under ~1.5 MB and its render under a few seconds.
MAX_PLOTS = 24
#: Columns of ``RunDigest.changes``: one row per series whose par moved since the previous run.
CHANGE_COLUMNS = (
    "location_id", "drug_id", "drug_name", "previous_par_units", "par_level_units", "change_units", "change_pct",
    "binding_constraint", "reason",
)
#: Columns of ``RunDigest.flags``: one row per series and flag (recall, shortage, expiry, drift, overstock, ...).
FLAG_COLUMNS = ("location_id", "drug_id", "drug_name", "flag", "detail")
#: Columns of ``RunDigest.history``: the drawn series' demand per period (units).
HISTORY_COLUMNS = ("location_id", "drug_id", "period_start", "demand_units")
#: Columns of ``RunDigest.pars``: the drawn series' par levels this run.
PAR_COLUMNS = ("location_id", "drug_id", "drug_name", "reorder_point_units", "par_level_units",
               "usable_on_hand_units", "model", "binding_constraint", "reason")


@dataclass(frozen=True)
class RunDigest:
    """One run, summarised for people.

    ``history``, ``forecast`` and ``pars`` are those of the series drawn: the first ``MAX_PLOTS`` of
    :meth:`plotted_keys`. ``forecast`` has ``location_id, drug_id, period_start, mean, q50 .. q99``
    (``schema.QUANTILE_COLUMNS``); ``accuracy`` is forecast-vs-actual by model (empty until an earlier run's
    forecast weeks have been dispensed).
    """

    run_id: str
    as_of: date
    period: str  # "week" or "month"
    totals: dict
    changes: pd.DataFrame  # CHANGE_COLUMNS, biggest absolute change first
    flags: pd.DataFrame  # FLAG_COLUMNS
    history: pd.DataFrame  # HISTORY_COLUMNS
    forecast: pd.DataFrame
    pars: pd.DataFrame  # PAR_COLUMNS
    outputs: tuple[str, ...] = ()
    accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)
    previous_run_id: str | None = None
    previous_as_of: date | None = None

    def plotted_keys(self) -> list[tuple[str, str]]:
        """The series to draw: the biggest movers first, then every flagged series, each once (the report draws
        the first ``MAX_PLOTS`` and says how many there were)."""
        return plotted_keys(self.changes, self.flags)


def plotted_keys(changes: pd.DataFrame, flags: pd.DataFrame) -> list[tuple[str, str]]:
    """``(location_id, drug_id)`` of ``changes`` then of ``flags``, each once, in that order."""
    keys = list(zip(changes["location_id"], changes["drug_id"], strict=True))
    keys += list(zip(flags["location_id"], flags["drug_id"], strict=True))
    return list(dict.fromkeys(keys))


#: Totals in the markdown summary, in order, with their labels.
MARKDOWN_TOTALS = (
    ("series", "Series planned"), ("orders", "Orders suggested"), ("order_value", "Order value"),
    ("turns_at_par", "Turns a year at par"), ("turns_current", "Turns a year now"),
    ("days_on_hand_at_par", "Days on hand at par"), ("days_on_hand_current", "Days on hand now"),
    ("inventory_value_current", "Inventory value now"), ("inventory_value_at_par", "Inventory value at par"),
    ("slow_movers", "Slow movers"), ("overstock", "Overstocked"), ("expiry_capped", "Orders cut by expiry"),
    ("projected_waste_value", "Projected waste value"), ("quarantined_lots", "Lots quarantined (recalls)"),
    ("shortages", "Drugs in shortage"), ("forecast_periods_scored", "Forecast periods scored"),
    ("drift_flags", "Forecasts drifting"),
)


def _cell(value: object) -> str:
    """A markdown table cell: numbers readable, pipes and newlines from data escaped."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame[columns].itertuples(index=False)]
    return lines


def to_markdown(digest: RunDigest, report_path: str | None = None) -> str:
    """The run summary a purchasing lead reads in Prefect: totals, biggest par changes with their reasons,
    flags, forecast accuracy, and where the files are."""
    since = f" (changes since {digest.previous_as_of})" if digest.previous_as_of else ""
    lines = [f"# Par levels as of {digest.as_of}{since}", "", f"Run `{digest.run_id}`.", "", "## Totals", "",
             "| | |", "|---|---|"]
    lines += [f"| {label} | {_cell(digest.totals[key])} |" for key, label in MARKDOWN_TOTALS
              if digest.totals.get(key) is not None]
    lines += ["", "## Biggest par changes", ""]
    if digest.changes.empty:
        lines.append("No earlier run to compare with." if digest.previous_run_id is None else "No par level changed.")
    else:
        lines += _table(digest.changes, ["location_id", "drug_name", "previous_par_units", "par_level_units",
                                         "change_units", "reason"])
    lines += ["", "## Flags", ""]
    if digest.flags.empty:
        lines.append("No recall, shortage, expiry or drift flag.")
    else:
        counts = digest.flags["flag"].value_counts().sort_index()
        lines.append(", ".join(f"{n} {flag}" for flag, n in counts.items()) + ".")
        lines += [""] + _table(digest.flags, ["flag", "location_id", "drug_name", "detail"])
    if not digest.accuracy.empty:
        lines += ["", "## Forecast vs actual (earlier runs' forecasts, periods now dispensed)", ""]
        shown = digest.accuracy.assign(coverage_q95=(100 * digest.accuracy["coverage_q95"]).round(1))
        lines += _table(shown, ["model", "scored_periods", "mase", "bias_units", "coverage_q95"])
    lines += ["", "## Files", ""]
    lines += [f"- `{path}`" for path in digest.outputs]
    if report_path:
        lines.append(f"- report: `{report_path}`")
    return "\n".join(lines) + "\n"
