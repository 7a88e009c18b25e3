"""The HTML run report: one self-contained page a purchasing lead can open beside the CSVs.

``render_html`` turns a ``RunDigest`` into a single HTML string: totals as cards, the flags, the
biggest par changes, one chart per plotted series (history, forecast fan, reorder point and par),
forecast accuracy, and links to the CSVs. Charts are inline base64 PNGs drawn with matplotlib's
object API on the Agg backend (no pyplot state), styles are inline, and a Content-Security-Policy
forbids every network fetch. All text that comes from data goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import io
from datetime import date, timedelta
from functools import partial
from html import escape
from pathlib import PurePath
from urllib.parse import quote

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from turnover.digest import MAX_PLOTS, RunDigest
from turnover.schema import QUANTILE_COLUMNS

#: Rows of the par-change table; the full list is in the par-level CSV.
MAX_CHANGE_ROWS = 40
HISTORY_DAYS = 730  # two years of demand before the as-of date
FLAG_ORDER = ("recall", "shortage", "expiry", "drift", "overstock", "slow mover", "dead")
BAND_BLUE = "#2f6db5"

# (totals key, label, format, key of the secondary value, its label). Secondary values share the format, except
# the unit counts under money and lots. Keys not listed here (drift counts, later additions) follow these cards.
_CARDS = (
    ("orders", "Orders to place", "count", "series", "series planned"),
    ("order_value", "Order value", "money", None, None),
    ("turns_at_par", "Turns / year at par", "ratio", "turns_current", "now"),
    ("days_on_hand_at_par", "Days on hand at par", "days", "days_on_hand_current", "now"),
    ("inventory_value_current", "Inventory value now", "money", "inventory_value_at_par", "at par"),
    ("slow_movers", "Slow movers", "count", None, None),
    ("overstock", "Overstocked", "count", None, None),
    ("dead_items", "Dead items", "count", None, None),
    ("expiry_capped", "Pars capped by expiry", "count", None, None),
    ("projected_waste_value", "Projected waste", "money", "projected_waste_units", "units"),
    ("expired_units", "Expired units on shelf", "number", None, None),
    ("quarantined_lots", "Quarantined lots", "count", "quarantined_units", "units"),
    ("shortages", "Drugs in shortage", "count", None, None),
)
_UNIT_SUBS = {"projected_waste_units", "quarantined_units"}
_ACRONYMS = {"mae", "mase", "rmse", "wape", "mape", "smape", "rmsse", "id"}
_ALERT_KEYS = {"quarantined_lots", "shortages", "expired_units", "projected_waste_value"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;background:#f4f6f9;margin:0}
header{background:#1d3557;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}nav a{color:#cfe0f5;margin-right:14px;font-size:13px}
main{padding:8px 28px 40px;max-width:1500px}section{margin-top:22px}h2{font-size:17px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px}.muted{color:#6b7785;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002;border-top:3px solid #2f6db5}
.card.alert{border-top-color:#c0392b}.card .label{font-size:12px;color:#6b7785}
.card .value{font-size:22px;font-weight:600}.card .sub{font-size:12px;color:#44505c}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;font-size:13px;width:100%}
th,td{padding:5px 9px;text-align:left;border-bottom:1px solid #e3e7ec;vertical-align:top}
th{background:#e9eef4;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#1e7a3a}.down{color:#b03a2e}
.tag{display:inline-block;border-radius:9px;padding:0 7px;font-size:11px;background:#fdecea;color:#b03a2e;margin-right:4px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}
figure.plot{margin:0;background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002}
figure.plot h3{margin:0 0 4px}figure.plot img{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#44505c}ul.files{columns:2}table.compact{width:auto;min-width:40%}
table.flags{table-layout:fixed}table.flags th:nth-child(1){width:34%}table.flags th:nth-child(2){width:16%}
"""

# Counts the chart images the browser decoded; the browser test reads the count back.
_SCRIPT = """window.addEventListener("load", function () {
  var rendered = 0;
  document.querySelectorAll("figure.plot img").forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) { rendered += 1; }
  });
  document.body.dataset.plotsRendered = String(rendered);
});"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float | np.floating) and not np.isfinite(value))


def _fmt(value, kind: str = "number") -> str:
    """A number as people read it: thousands separators, money in dollars, '—' when unknown."""
    if _is_missing(value):
        return "—"
    if isinstance(value, str):
        return value
    if kind == "money":
        return f"${value:,.0f}" if abs(value) >= 1000 else f"${value:,.2f}"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "ratio":
        return f"{value:,.1f}"
    if kind == "days":
        return f"{value:,.0f} d"
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"


def _label(key: str) -> str:
    """``coverage_q90`` -> ``Coverage q90``; ``mase`` -> ``MASE``."""
    words = [w.upper() if w in _ACRONYMS else w for w in key.split("_")]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def _totals_cards(totals: dict) -> str:
    cards, shown = [], {"values_in"}
    for key, label, kind, sub_key, sub_label in _CARDS:
        if key not in totals:
            continue
        shown |= {key, sub_key}
        sub_kind = "number" if sub_key in _UNIT_SUBS else kind
        sub = f"{_fmt(totals[sub_key], sub_kind)} {sub_label}" if sub_key in totals else ""
        alert = key in _ALERT_KEYS and not _is_missing(totals[key]) and totals[key] > 0
        cards.append((label, _fmt(totals[key], kind), sub, alert))
    for key, value in totals.items():  # drift and anything added later
        if key not in shown and not isinstance(value, dict | list):
            alert = "drift" in key and isinstance(value, int | float) and value > 0
            cards.append((_label(key), _fmt(value), "", alert))
    html_cards = "".join(
        f'<div class="card{" alert" if alert else ""}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div><div class="sub">{escape(sub)}</div></div>'
        for label, value, sub, alert in cards
    )
    note = f'<p class="muted">Values in {escape(str(totals["values_in"]))}.</p>' if "values_in" in totals else ""
    return f'<section id="totals"><h2>This run</h2><div class="cards">{html_cards}</div>{note}</section>'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), css_class: str = "") -> str:
    """An HTML table from already-escaped cells; columns in ``numeric`` are right-aligned."""
    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _change_text(row) -> str:
    if _is_missing(row.previous_par_units):
        return "new"
    arrow_class = "up" if row.change_units > 0 else "down"
    pct = "" if _is_missing(row.change_pct) else f" ({row.change_pct:+.0f}%)"
    return f'<span class="{arrow_class}">{row.change_units:+,.0f}{pct}</span>'


def _changes_section(changes: pd.DataFrame) -> str:
    if changes.empty:
        return '<section id="changes"><h2>Biggest par changes</h2><p class="muted">No par moved since the previous run.</p></section>'
    rows = [
        [escape(str(r.drug_name)), escape(str(r.location_id)), _fmt(r.previous_par_units), _fmt(r.par_level_units),
         _change_text(r), escape(str(r.binding_constraint)), escape(str(r.reason))]
        for r in changes.head(MAX_CHANGE_ROWS).itertuples(index=False)
    ]
    more = len(changes) - MAX_CHANGE_ROWS
    note = f'<p class="muted">{more:,} more changes in the par-level CSV.</p>' if more > 0 else ""
    table = _table(["Drug", "Location", "Previous par", "New par", "Change", "Binding", "Reason"], rows, {2, 3, 4})
    return f'<section id="changes"><h2>Biggest par changes</h2>{table}{note}</section>'


def _flags_section(flags: pd.DataFrame) -> str:
    if flags.empty:
        return '<section id="flags"><h2>Flags</h2><p class="muted">Nothing flagged.</p></section>'
    names = list(dict.fromkeys(flags["flag"].astype(str)))
    rank = {flag: i for i, flag in enumerate(FLAG_ORDER)}
    names.sort(key=lambda name: (rank.get(name.replace("_", " "), len(rank)), name))
    parts = []
    for name in names:
        group = flags[flags["flag"].astype(str) == name]
        rows = [[escape(str(r.drug_name)), escape(str(r.location_id)), escape(str(r.detail))] for r in group.itertuples(index=False)]
        parts.append(f"<h3>{escape(_label(name))} ({len(group):,})</h3>" + _table(["Drug", "Location", "Detail"], rows, css_class="flags"))
    return f'<section id="flags"><h2>Flags</h2>{"".join(parts)}</section>'


def _accuracy_section(accuracy: pd.DataFrame) -> str:
    if accuracy.empty:
        return ""
    numeric = {i for i, c in enumerate(accuracy.columns) if pd.api.types.is_numeric_dtype(accuracy[c])}
    rows = [[escape(_fmt(v) if i in numeric else str(v)) for i, v in enumerate(row)] for row in accuracy.itertuples(index=False)]
    table = _table([escape(_label(str(c))) for c in accuracy.columns], rows, numeric, css_class="compact")
    return f'<section id="accuracy"><h2>Forecast accuracy</h2>{table}</section>'


def _draw_fan(ax, forecast: pd.DataFrame) -> None:
    """Forecast mean over nested quantile bands, darkest next to the median, lighter as the quantile rises."""
    periods = pd.to_datetime(forecast["period_start"]).to_numpy()
    levels = [c for c in QUANTILE_COLUMNS if c in forecast.columns]
    for i, (low, high) in enumerate(zip(levels, levels[1:], strict=False)):
        ax.fill_between(periods, forecast[low].to_numpy(dtype=float), forecast[high].to_numpy(dtype=float),
                        color=BAND_BLUE, alpha=0.40 - 0.08 * i, linewidth=0,
                        label=f"{levels[0]}–{levels[-1]}" if i == 0 else None)
    ax.plot(periods, forecast["mean"].to_numpy(dtype=float), color=BAND_BLUE, linewidth=1.8, label="forecast")


def _series_png(history: pd.DataFrame, forecast: pd.DataFrame, par: pd.Series | None, as_of: date, period: str) -> bytes:
    """One series' chart as PNG bytes: demand history, forecast fan, reorder point, par and stock on hand."""
    fig = Figure(figsize=(7.0, 2.9), dpi=100)
    FigureCanvasAgg(fig)
    # Fixed margins rather than a layout engine: same look for every chart, and about twice as fast.
    fig.subplots_adjust(left=0.08, right=0.98, top=0.87, bottom=0.11)
    ax = fig.add_subplot()
    as_of_day = np.datetime64(as_of)
    if len(history):
        ax.plot(pd.to_datetime(history["period_start"]).to_numpy(), history["demand_units"].to_numpy(dtype=float),
                color="#3c4650", linewidth=1.1, label="demand")
    if len(forecast):
        _draw_fan(ax, forecast)
    if par is not None:
        ax.axhline(par["reorder_point_units"], color="#d9822b", linestyle="--", linewidth=1.3, label="reorder point")
        ax.axhline(par["par_level_units"], color="#2e8540", linewidth=1.5, label="par")
        if not _is_missing(par.get("usable_on_hand_units")):
            ax.plot([as_of_day], [par["usable_on_hand_units"]], "o", color="#2e8540", markersize=5, label="on hand")
    ax.axvline(as_of_day, color="#8a939c", linestyle=":", linewidth=1)
    ax.annotate("as of", (as_of_day, 1), xycoords=("data", "axes fraction"), xytext=(-3, -10),
                textcoords="offset points", fontsize=8, color="#6b7785", ha="right")
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
    ax.set_ylabel(f"units / {period}", fontsize=8.5)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#e3e7ec", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncols=6, borderaxespad=0.2,
                  handlelength=1.6, columnspacing=1.2)
    else:
        ax.text(0.5, 0.5, "no demand, forecast or par for this series", transform=ax.transAxes, ha="center",
                color="#6b7785", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    fig.clear()
    return buffer.getvalue()


def _series_rows(frame: pd.DataFrame, location_id: str, drug_id: str) -> pd.DataFrame:
    return frame[(frame["location_id"] == location_id) & (frame["drug_id"] == drug_id)]


def _plots_section(digest: RunDigest) -> str:
    keys = digest.plotted_keys()
    history_from = pd.Timestamp(digest.as_of - timedelta(days=HISTORY_DAYS))
    history = digest.history[pd.to_datetime(digest.history["period_start"]) >= history_from]
    changes = digest.changes.set_index(["location_id", "drug_id"])
    figures = []
    for location_id, drug_id in keys[:MAX_PLOTS]:
        rows = partial(_series_rows, location_id=location_id, drug_id=drug_id)
        pars = rows(digest.pars)
        par = pars.iloc[0] if len(pars) else None
        png = _series_png(rows(history).sort_values("period_start"), rows(digest.forecast).sort_values("period_start"),
                          par, digest.as_of, digest.period)
        names = pd.concat([pars["drug_name"], rows(digest.changes)["drug_name"], rows(digest.flags)["drug_name"]])
        drug_name = str(names.iloc[0]) if len(names) else str(drug_id)
        caption = []
        if (location_id, drug_id) in changes.index:
            change = changes.loc[(location_id, drug_id)]
            change = change.iloc[0] if isinstance(change, pd.DataFrame) else change
            caption.append(f"par {_fmt(change['previous_par_units'])} → {_fmt(change['par_level_units'])}")
        if par is not None:
            caption.append(f"binding: {escape(str(par['binding_constraint']))} — {escape(str(par['reason']))}")
            caption.append(f"model {escape(str(par['model']))}")
        tags = "".join(f'<span class="tag">{escape(str(flag))}</span>' for flag in dict.fromkeys(rows(digest.flags)["flag"]))
        key = escape(f"{location_id}/{drug_id}")
        figures.append(
            f'<figure class="plot" data-series-key="{key}"><h3>{escape(drug_name)} — {escape(str(location_id))}</h3>'
            f'<img alt="{escape(drug_name)} demand, forecast and par" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
            f'<figcaption>{tags}{" · ".join(caption)}</figcaption></figure>'
        )
    note = f" Showing the first {MAX_PLOTS} of {len(keys)}: biggest movers first, then flagged." if len(keys) > MAX_PLOTS else ""
    intro = (f'<p class="muted">Demand for the last two years, the forecast mean with its quantile fan, the reorder '
             f"point and the par level.{note}</p>")
    return f'<section id="plots"><h2>Series to look at</h2>{intro}<div class="plots">{"".join(figures)}</div></section>'


def _outputs_section(outputs: tuple[str, ...]) -> str:
    if not outputs:
        return ""
    # The report is written beside the CSVs, so a bare file name is the right link.
    items = "".join(
        f'<li><a href="{escape(quote(PurePath(path).name))}">{escape(PurePath(path).name)}</a></li>' for path in outputs
    )
    return f'<section id="files"><h2>Files</h2><ul class="files">{items}</ul></section>'


def render_html(digest: RunDigest) -> str:
    """The run report as one self-contained HTML document (inline CSS, charts as base64 PNGs, no network)."""
    previous = (f"previous run {escape(str(digest.previous_as_of))} ({escape(str(digest.previous_run_id))})"
                if digest.previous_as_of else "no previous run")
    title = f"Par levels as of {digest.as_of}"
    sections = {
        "totals": ("Totals", _totals_cards(digest.totals)), "flags": ("Flags", _flags_section(digest.flags)),
        "changes": ("Par changes", _changes_section(digest.changes)), "plots": ("Charts", _plots_section(digest)),
        "accuracy": ("Accuracy", _accuracy_section(digest.accuracy)), "files": ("Files", _outputs_section(digest.outputs)),
    }
    nav = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, (label, html) in sections.items() if html)
    header = (f"<header><h1>{escape(title)}</h1><p>run {escape(digest.run_id)} · {escape(digest.period)}ly · {previous}</p>"
              f"<nav>{nav}</nav></header>")
    body = "".join(html for _, html in sections.values())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} — run {escape(digest.run_id)}</title><style>{_CSS}</style></head>"
        f"<body>{header}<main>{body}</main><script>{_SCRIPT}</script></body></html>\n"
    )
