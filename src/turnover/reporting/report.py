"""The HTML run report: one self-contained page a purchasing lead can open beside the CSVs.

``render_html`` turns a ``RunDigest`` into a single HTML string that leads with what matters: the totals
as cards, each saying what it includes; then, side by side, the two lists of ``turnover.reporting.movers`` (the
par moves by value, the seasonal swings of the coming weeks), each saying how it is sorted above its
charts (history, forecast fan, reorder point and par); then the flags, with charts of flagged drugs not
charted above, forecast accuracy, and links to the CSVs. Every fact is said once: a chart's caption
holds what its list is about, the flag details stay in the flag tables.

Charts are inline base64 PNGs (``turnover.reporting.series_chart``), each series drawn once however many lists
show it; styles are inline, and a Content-Security-Policy forbids every network fetch. All text that
comes from data goes through ``html.escape``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from html import escape
from pathlib import PurePath
from urllib.parse import quote

import numpy as np
import pandas as pd

from turnover.reporting.digest import MAX_PLOTS, TOTAL_WORDS, Charts, Key, RunDigest, in_flag_order
from turnover.reporting.movers import ListText, percent_text
from turnover.reporting.series_chart import SeriesCharts

HISTORY_DAYS = 730  # two years of demand before the as-of date

# (totals key, format, key of the secondary value, its label); labels and definitions are digest.TOTALS'.
# Secondary values share the format, except the unit counts under money and lots. Keys not listed here
# (later additions) follow these cards.
_CARDS = (
    ("orders", "count", "series", "series planned"),
    ("order_value", "money", None, None),
    ("inventory_value_current", "money", None, None),
    ("inventory_value_at_par", "money", None, None),
    ("turns_at_par", "ratio", "turns_current", "now"),
    ("days_on_hand_at_par", "days", "days_on_hand_current", "now"),
    ("slow_movers", "count", None, None),
    ("overstock", "count", None, None),
    ("dead_items", "count", None, None),
    ("expiry_capped", "count", None, None),
    ("projected_waste_value", "money", "projected_waste_units", "units"),
    ("expired_units", "number", None, None),
    ("quarantined_lots", "count", "quarantined_units", "units"),
    ("shortages", "count", None, None),
    ("forecast_periods_scored", "count", None, None),
    ("drift_flags", "count", None, None),
    ("transfers", "count", "transfer_units", "units"),
    ("transfer_value", "money", None, None),
    ("fill_rate_target", "share", "expected_fill_rate", "expected"),
)
_UNIT_SUBS = {"projected_waste_units", "quarantined_units", "transfer_units"}
_ACRONYMS = {"mae", "mase", "rmse", "wape", "mape", "smape", "rmsse", "id"}
_ALERT_KEYS = {"quarantined_lots", "shortages", "expired_units", "projected_waste_value", "drift_flags"}
_NAV = (("totals", "Totals"), ("movers", "Par moves"), ("seasonal", "Seasonal"), ("flags", "Flags"),
        ("accuracy", "Accuracy"), ("files", "Files"))
_LEGEND = ("Each chart: two years of demand, the forecast mean with its q50–q99 fan, the reorder point, the par, "
           "and the usable stock on hand today (dot).")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;background:#f4f6f9;margin:0}
header{background:#1d3557;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}nav a{color:#cfe0f5;margin-right:14px;font-size:13px}
main{padding:8px 28px 40px;max-width:1500px}section{margin-top:22px}h2{font-size:17px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px}.muted{color:#6b7785;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px}
.card{background:#fff;border-radius:8px;padding:7px 11px;box-shadow:0 1px 2px #0002;border-top:3px solid #2f6db5}
.card.alert{border-top-color:#c0392b}.card .label{font-size:12px;color:#6b7785}
.card .value{font-size:20px;font-weight:600;line-height:1.25}.card .sub{font-size:12px;color:#44505c}
.card .def{font-size:11px;line-height:1.25;color:#6b7785;margin:3px 0 0}
.lists{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:22px;align-items:start}
.lists section{margin-top:22px}p.sort{margin:0 0 10px;font-size:13px;color:#2b3845}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;font-size:13px;width:100%}
th,td{padding:5px 9px;text-align:left;border-bottom:1px solid #e3e7ec;vertical-align:top}
th{background:#e9eef4;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#1e7a3a}.down{color:#b03a2e}
.tag{display:inline-block;border-radius:9px;padding:0 7px;font-size:11px;background:#fdecea;color:#b03a2e;margin-right:4px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
figure.plot{margin:0;background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002}
figure.plot h3{margin:0 0 4px}figure.plot .tag{margin:0 0 0 6px;vertical-align:1px}figure.plot img{width:100%;height:auto;display:block}
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
    if kind == "share":
        return f"{value:.1%}"
    if kind == "units":  # whole units from 10 up, tenths below
        return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}".removesuffix(".0")
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"


def _label(key: str) -> str:
    """``coverage_q90`` -> ``Coverage q90``; ``mase`` -> ``MASE``."""
    words = [w.upper() if w in _ACRONYMS else w for w in key.split("_")]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def _totals_cards(totals: dict) -> str:
    """One card per total: label, value (and its secondary value), and what the number includes."""
    cards, shown = [], {"values_in"}
    for key, kind, sub_key, sub_label in _CARDS:
        if key not in totals:
            continue
        shown |= {key, sub_key}
        sub_kind = "number" if sub_key in _UNIT_SUBS else kind
        sub = f"{_fmt(totals[sub_key], sub_kind)} {sub_label}" if sub_key in totals else ""
        cards.append((key, _fmt(totals[key], kind), sub))
    cards += [(key, _fmt(value), "") for key, value in totals.items()  # anything added later
              if key not in shown and not isinstance(value, dict | list)]
    html_cards = []
    for key, value, sub in cards:
        label, definition = TOTAL_WORDS.get(key, (_label(key), ""))
        alert = key in _ALERT_KEYS and isinstance(totals[key], int | float) and totals[key] > 0
        html_cards.append(
            f'<div class="card{" alert" if alert else ""}" data-total="{escape(key)}"><div class="label">{escape(label)}</div>'
            f'<div class="value">{escape(value)}</div>' + (f'<div class="sub">{escape(sub)}</div>' if sub else "")
            + (f'<p class="def">{escape(definition)}</p>' if definition else "") + "</div>")
    note = f'<p class="muted">Values in {escape(str(totals["values_in"]))}.</p>' if "values_in" in totals else ""
    return f'<section id="totals"><h2>This run</h2><div class="cards">{"".join(html_cards)}</div>{note}</section>'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset(), css_class: str = "") -> str:
    """An HTML table from already-escaped cells; columns in ``numeric`` are right-aligned."""
    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _flags_section(flags: pd.DataFrame, charts: str) -> str:
    """A table per flag, in ``FLAG_ORDER``, then ``charts`` (the flagged drugs' charts)."""
    if flags.empty:
        return '<section id="flags"><h2>Flags</h2><p class="muted">Nothing flagged.</p></section>'
    parts = []
    for name, group in in_flag_order(flags).groupby("flag", sort=False):
        rows = [[escape(str(r.drug_name)), escape(str(r.location_id)), escape(str(r.detail))] for r in group.itertuples(index=False)]
        parts.append(f"<h3>{escape(_label(str(name)))} ({len(group):,})</h3>"
                     + _table(["Drug", "Location", "Detail"], rows, css_class="flags"))
    return f'<section id="flags"><h2>Flags</h2>{"".join(parts)}{charts}</section>'


def _accuracy_section(accuracy: pd.DataFrame) -> str:
    if accuracy.empty:
        return ""
    numeric = {i for i, c in enumerate(accuracy.columns) if pd.api.types.is_numeric_dtype(accuracy[c])}
    rows = [[escape(_fmt(v) if i in numeric else str(v)) for i, v in enumerate(row)] for row in accuracy.itertuples(index=False)]
    table = _table([escape(_label(str(c))) for c in accuracy.columns], rows, numeric, css_class="compact")
    return f'<section id="accuracy"><h2>Forecast accuracy</h2>{table}</section>'


def _series_rows(frame: pd.DataFrame, key: Key) -> pd.DataFrame:
    return frame[(frame["location_id"] == key[0]) & (frame["drug_id"] == key[1])]


class _Figures:
    """The chart figures of one digest: each series drawn once, however many lists show it."""

    def __init__(self, digest: RunDigest) -> None:
        self.digest = digest
        history_from = pd.Timestamp(digest.as_of - timedelta(days=HISTORY_DAYS))
        self.history = digest.history[pd.to_datetime(digest.history["period_start"]) >= history_from]
        self.names: dict[Key, str] = {}
        for frame in (digest.flags, digest.seasonal, digest.movers, digest.pars):
            self.names |= dict(zip(zip(frame["location_id"], frame["drug_id"], strict=True), frame["drug_name"], strict=True))
        self.charts = SeriesCharts()
        self.image: Callable[[Key], str] = cache(self._image)

    def _image(self, key: Key) -> str:
        par = self.par(key)
        png = self.charts.png(_series_rows(self.history, key).sort_values("period_start"),
                              _series_rows(self.digest.forecast, key).sort_values("period_start"), par,
                              self.digest.as_of, self.digest.period)
        return base64.b64encode(png).decode()

    def par(self, key: Key) -> pd.Series | None:
        pars = _series_rows(self.digest.pars, key)
        return pars.iloc[0] if len(pars) else None

    def __call__(self, key: Key, caption: str) -> str:
        """One figure: the drug and location with its flags, the chart, and ``caption`` (HTML, escaped already)."""
        name = escape(str(self.names.get(key, key[1])))
        flags = dict.fromkeys(_series_rows(self.digest.flags, key)["flag"].astype(str))
        tags = "".join(f'<span class="tag">{escape(flag)}</span>' for flag in flags)
        return (f'<figure class="plot" data-series-key="{escape(f"{key[0]}/{key[1]}")}">'
                f"<h3>{name} — {escape(str(key[0]))}{tags}</h3>"
                f'<img alt="{name} demand, forecast and par" src="data:image/png;base64,{self.image(key)}">'
                f"<figcaption>{caption}</figcaption></figure>")


def _by_key(frame: pd.DataFrame) -> dict[Key, tuple]:
    return {(row.location_id, row.drug_id): row for row in frame.itertuples(index=False)}


def _move_caption(row, baseline: str) -> str:
    """Where the par moved from and to, what that is worth, and the par's reason."""
    pct = percent_text(row.change_pct)
    change = (f'<span class="{"up" if row.change_units > 0 else "down"}">{row.change_units:+,.0f}'
              f'{", " + pct if pct else ""}</span>')
    value = ("no unit cost: ranked by units" if _is_missing(row.change_value)
             else f"{'+' if row.change_value > 0 else '−'}{_fmt(abs(row.change_value), 'money')} at unit cost")
    return (f"{escape(baseline)} {_fmt(row.baseline_units, 'units')} → par {_fmt(row.par_level_units, 'units')} units "
            f"({change}) · {value} · {escape(str(row.reason))}")


def _seasonal_caption(row, period: str) -> str:
    """The last 4 periods' demand, the next 4 periods' forecast, and how seasonal the series is."""
    return (f"last 4 {period}s {_fmt(row.actual_last_4_units, 'units')} units → next 4 "
            f"{_fmt(row.forecast_next_4_units, 'units')} forecast ({percent_text(row.change_pct)}) · "
            f"seasonality strength {row.seasonality_strength:.2f}")


def _par_caption(par: pd.Series | None) -> str:
    if par is None:
        return "no par this run"
    return (f"par {_fmt(par['par_level_units'], 'units')} units · reorder point {_fmt(par['reorder_point_units'], 'units')}"
            f" · usable on hand {_fmt(par['usable_on_hand_units'], 'units')}")


def _list_section(anchor: str, text: ListText, figures: list[str]) -> str:
    """One list: its title, how it is sorted, then its charts (or what its emptiness means)."""
    body = f'<div class="plots">{"".join(figures)}</div>' if figures else f'<p class="muted">{escape(text.empty)}</p>'
    return (f'<section id="{anchor}" class="list"><h2>{escape(text.title)}</h2>'
            f'<p class="sort">{escape(text.sorted_by)}</p>{body}</section>')


def _lists(digest: RunDigest, charts: Charts, figure: _Figures) -> str:
    """The two lists side by side, under one line on how to read their charts."""
    moves = digest.moves_text()
    movers, seasonal = _by_key(digest.movers), _by_key(digest.seasonal)
    return (f'<p class="muted">{escape(_LEGEND)}</p><div class="lists">'
            + _list_section("movers", moves, [figure(key, _move_caption(movers[key], moves.baseline)) for key in charts.movers])
            + _list_section("seasonal", digest.seasonal_text(),
                            [figure(key, _seasonal_caption(seasonal[key], digest.period)) for key in charts.seasonal])
            + "</div>")


def _flagged_charts(charts: Charts, figure: _Figures) -> str:
    """Charts of the flagged drugs the lists did not chart, in the order of the flag tables."""
    if not charts.flagged:
        return ""
    shown = (f": the first {len(charts.flagged)} of {charts.flagged_total} (the report draws at most {MAX_PLOTS} charts)"
             if len(charts.flagged) < charts.flagged_total else "")
    figures = "".join(figure(key, _par_caption(figure.par(key))) for key in charts.flagged)
    return (f'<h3>Charts</h3><p class="sort">Flagged drugs not charted above, in the order of the tables{shown}.</p>'
            f'<div class="plots">{figures}</div>')


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
    previous = (f"compared with the run of {escape(str(digest.previous_as_of))} ({escape(str(digest.previous_run_id))})"
                if digest.previous_as_of else "first run: no earlier run to compare with")
    title = f"Par levels as of {digest.as_of}"
    figure, charts = _Figures(digest), digest.charts()
    body = "".join([
        _totals_cards(digest.totals), _lists(digest, charts, figure),
        _flags_section(digest.flags, _flagged_charts(charts, figure)),
        _accuracy_section(digest.accuracy), _outputs_section(digest.outputs),
    ])
    nav = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in _NAV if f'id="{anchor}"' in body)
    header = (f"<header><h1>{escape(title)}</h1><p>run {escape(digest.run_id)} · {escape(digest.period)}ly · {previous}</p>"
              f"<nav>{nav}</nav></header>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} — run {escape(digest.run_id)}</title><style>{_CSS}</style></head>"
        f"<body>{header}<main>{body}</main><script>{_SCRIPT}</script></body></html>\n"
    )
