"""What one run means for purchasing, in one object: totals, the two lists (par moves by value, seasonal
swings), flags.

``RunDigest`` is what the Prefect markdown artifact and the HTML run report are both made from, so
the two never disagree. It holds small frames only: the two lists (``turnover.reporting.movers``), every flag, and
the history, forecast and par levels of the series the report charts (``RunDigest.charts``, at most
``MAX_PLOTS``); never the whole panel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from turnover.reporting.movers import LIST_LENGTH, ListText, moves_text, percent_text, seasonal_text

#: At most this many charts: each list's drugs, then flagged series not charted above (``RunDigest.charts``).
#: 24 charts keep the report under ~1.5 MB and its render under a few seconds.
MAX_PLOTS = 24
#: Columns of ``RunDigest.flags``: one row per series and flag (recall, shortage, expiry, drift, overstock, ...).
FLAG_COLUMNS = ("location_id", "drug_id", "drug_name", "flag", "detail")
#: Columns of ``RunDigest.history``: the charted series' demand per period (units).
HISTORY_COLUMNS = ("location_id", "drug_id", "period_start", "demand_units")
#: Columns of ``RunDigest.pars``: the charted series' par levels this run.
PAR_COLUMNS = ("location_id", "drug_id", "drug_name", "reorder_point_units", "par_level_units",
               "usable_on_hand_units", "model", "binding_constraint", "reason")

#: The run's totals (``turnover.inventory.kpis.run_totals``, with the scoring counts), in reading order: key, label, and
#: what the number includes, in one short line. Values are at unit cost; drugs without one are left out.
TOTALS = (
    ("orders", "Orders to place", "location × drug pairs with a pack or more to order"),
    ("series", "Series planned", "location × drug pairs given a par this run"),
    ("order_value", "Order value", "units to order × unit cost, to bring stock up to par"),
    ("inventory_value_current", "Inventory value now", "usable stock today × unit cost (not expired or recalled)"),
    ("inventory_value_at_par", "Inventory value at par", "average stock at the new pars (safety stock + half an order) × unit cost"),
    ("turns_at_par", "Turns a year at par", "a year's usage value ÷ inventory value at par"),
    ("turns_current", "Turns a year now", "a year's usage value ÷ inventory value now"),
    ("days_on_hand_at_par", "Days on hand at par", "365 ÷ turns at par: days the average stock lasts"),
    ("days_on_hand_current", "Days on hand now", "365 ÷ turns now: days today's stock lasts"),
    ("slow_movers", "Slow movers", "fewer turns a year at par than policy slow_mover_turns"),
    ("overstock", "Overstocked", "stock over par + a pack, lasting past policy overstock_days"),
    ("dead_items", "Dead items", "no use in the last 4 months: not reordered"),
    ("expiry_capped", "Orders cut by expiry", "orders cut to what can be used before it expires"),
    ("projected_waste_value", "Projected waste", "stock projected to expire unused (FEFO) × unit cost"),
    ("projected_waste_units", "Projected waste, units", "units projected to expire unused (FEFO)"),
    ("expired_units", "Expired units on shelf", "past expiry, still on hand: not in the position"),
    ("quarantined_lots", "Lots quarantined (recalls)", "lots matched to an FDA recall: not in the position"),
    ("quarantined_units", "Units quarantined", "units in the quarantined lots"),
    ("shortages", "Drugs in shortage", "location × drug pairs on the FDA shortage list"),
    ("forecast_periods_scored", "Forecast periods scored", "earlier forecasts' periods checked against dispensing"),
    ("drift_flags", "Forecasts drifting", "series erring well beyond their backtest error"),
    ("transfers", "Transfers before expiry", "lots to move to a location expected to use them before they expire"),
    ("transfer_units", "Units to transfer", "units of those lots that would otherwise expire unused"),
    ("transfer_value", "Value saved by transfers", "units to transfer × unit cost"),
    ("fill_rate_target", "Fill-rate target", "policy.fill_rate_target: each drug's level chosen to meet it"),
    ("expected_fill_rate", "Expected fill rate", "of the levels chosen, drugs weighed by their expected use"),
)
#: Label and definition of each total, by key.
TOTAL_WORDS = {key: (label, definition) for key, label, definition in TOTALS}
#: Flags in the order people act on them; other flags follow, by name.
FLAG_ORDER = ("recall", "shortage", "expiry", "drift", "overstock", "slow mover", "dead")

Key = tuple[str, str]


def _keys(frame: pd.DataFrame) -> list[Key]:
    return list(dict.fromkeys(zip(frame["location_id"], frame["drug_id"], strict=True)))


def in_flag_order(flags: pd.DataFrame) -> pd.DataFrame:
    """``flags`` by ``FLAG_ORDER`` (other flags after, by name), in their own order within a flag."""
    names = flags["flag"].astype(str)
    rank = names.str.replace("_", " ").map({flag: i for i, flag in enumerate(FLAG_ORDER)}).fillna(len(FLAG_ORDER))
    return flags.assign(_rank=rank, _name=names).sort_values(["_rank", "_name"], kind="stable").drop(columns=["_rank", "_name"])


@dataclass(frozen=True)
class Charts:
    """The series the report charts, by list, in order: a series in both lists is charted in both."""

    movers: list[Key]
    seasonal: list[Key]
    flagged: list[Key]  # flagged series not charted in a list, while the charts number under MAX_PLOTS
    flagged_total: int  # flagged series not charted in a list, charted or not

    def keys(self) -> list[Key]:
        """Every charted series once, in order."""
        return list(dict.fromkeys(self.movers + self.seasonal + self.flagged))


def chart_keys(movers: pd.DataFrame, seasonal: pd.DataFrame, flags: pd.DataFrame) -> Charts:
    """The first ``LIST_LENGTH`` of each list, then flagged series not in them, up to ``MAX_PLOTS`` charts."""
    moved, swung = _keys(movers)[:LIST_LENGTH], _keys(seasonal)[:LIST_LENGTH]
    listed = set(moved + swung)
    flagged = [key for key in _keys(in_flag_order(flags)) if key not in listed]
    room = max(MAX_PLOTS - len(moved) - len(swung), 0)
    return Charts(moved, swung, flagged[:room], len(flagged))


@dataclass(frozen=True)
class RunDigest:
    """One run, summarised for people.

    ``history``, ``forecast`` and ``pars`` are those of the series charted (:meth:`charts`). ``forecast`` has
    ``location_id, drug_id, period_start, mean, q50 .. q99`` (``schema.QUANTILE_COLUMNS``); ``accuracy`` is
    forecast-vs-actual by model (empty until an earlier run's forecast weeks have been dispensed).
    """

    run_id: str
    as_of: date
    period: str  # "week" or "month"
    totals: dict
    movers: pd.DataFrame  # movers.MOVE_COLUMNS, the biggest value moved first
    seasonal: pd.DataFrame  # movers.SEASONAL_COLUMNS, the largest swing first
    flags: pd.DataFrame  # FLAG_COLUMNS
    history: pd.DataFrame  # HISTORY_COLUMNS
    forecast: pd.DataFrame
    pars: pd.DataFrame  # PAR_COLUMNS
    seasonal_strength: float  # the least seasonality strength the seasonal list counts
    outputs: tuple[str, ...] = ()
    accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)
    previous_run_id: str | None = None
    previous_as_of: date | None = None

    def charts(self) -> Charts:
        """The series the report charts, by list."""
        return chart_keys(self.movers, self.seasonal, self.flags)

    def moves_text(self) -> ListText:
        return moves_text(self.previous_as_of)

    def seasonal_text(self) -> ListText:
        return seasonal_text(self.seasonal_strength, self.period)


#: Characters that make markup in markdown (links, images, HTML, entities, emphasis, code, tables, headings):
#: each is backslash-escaped in text from data, which then shows as written (CommonMark, section 2.4).
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>!&|~#])")


def md_text(value: object) -> str:
    """``value`` as markdown text shown as written: on one line, markup characters escaped, so a drug name, an
    id, a reason, a lot or a path from data never becomes HTML, a link or an image."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).splitlines()))


def md_code(value: object) -> str:
    """``value`` as an inline code span on one line, fenced by more backticks than it holds."""
    text = " ".join(str(value).splitlines())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"


def _cell(value: object) -> str:
    """A markdown table cell: numbers readable, text from data escaped (:func:`md_text`)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return md_text(value)


def _table(frame: pd.DataFrame, headers: dict[str, str]) -> list[str]:
    """A markdown table of ``frame``'s columns (the keys of ``headers``) under their headers."""
    lines = ["| " + " | ".join(headers.values()) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame[list(headers)].itertuples(index=False)]
    return lines


def _list(text: ListText, rows: pd.DataFrame, headers: dict[str, str]) -> list[str]:
    """One of the two lists: its title, how it is sorted, and its rows (or what its emptiness means)."""
    if rows.empty:
        return ["", f"## {text.title}", "", text.sorted_by, "", text.empty]
    rows = rows.assign(change_pct=rows["change_pct"].map(percent_text))
    return ["", f"## {text.title}", "", text.sorted_by, "", *_table(rows, headers)]


def to_markdown(digest: RunDigest, report_path: str | None = None) -> str:
    """The run summary a purchasing lead reads in Prefect: totals with what each includes, the two lists of the
    report (par moves by value, seasonal swings) with how each is sorted, flags, forecast accuracy, and where
    the files are."""
    since = f" (changes since {digest.previous_as_of})" if digest.previous_as_of else ""
    lines = [f"# Par levels as of {digest.as_of}{since}", "", f"Run {md_code(digest.run_id)}.", "", "## Totals", "",
             "| | | what it includes |", "|---|---|---|"]
    lines += [f"| {label} | {_cell(digest.totals[key])} | {definition} |" for key, label, definition in TOTALS
              if digest.totals.get(key) is not None]
    moves, period = digest.moves_text(), digest.period
    lines += _list(moves, digest.movers, {
        "location_id": "location", "drug_name": "drug", "baseline_units": moves.baseline, "par_level_units": "par",
        "change_units": "change", "change_pct": "change %", "change_value": "value", "reason": "reason"})
    lines += _list(digest.seasonal_text(), digest.seasonal, {
        "location_id": "location", "drug_name": "drug", "actual_last_4_units": f"last 4 {period}s",
        "forecast_next_4_units": f"next 4 {period}s", "change_pct": "change", "seasonality_strength": "seasonality strength"})
    lines += ["", "## Flags", ""]
    if digest.flags.empty:
        lines.append("No recall, shortage, expiry or drift flag.")
    else:
        counts = digest.flags["flag"].value_counts().sort_index()
        lines.append(", ".join(f"{n} {md_text(flag)}" for flag, n in counts.items()) + ".")
        lines += [""] + _table(digest.flags, {"flag": "flag", "location_id": "location", "drug_name": "drug",
                                              "detail": "detail"})
    if not digest.accuracy.empty:
        lines += ["", "## Forecast vs actual (earlier runs' forecasts, periods now dispensed)", ""]
        shown = digest.accuracy.assign(coverage_q95=(100 * digest.accuracy["coverage_q95"]).round(1))
        lines += _table(shown, {c: c for c in ("model", "scored_periods", "mase", "bias_units", "coverage_q95")})
    lines += ["", "## Files", ""]
    lines += [f"- {md_code(path)}" for path in digest.outputs]
    if report_path:
        lines.append(f"- report: {md_code(report_path)}")
    return "\n".join(lines) + "\n"
