"""The run summary in markdown (the Prefect artifact): totals with what each includes, the report's two lists
with how each is sorted, flags, and the files."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from turnover.reporting.digest import TOTALS, RunDigest, chart_keys, to_markdown
from turnover.reporting.movers import MOVE_COLUMNS, SEASONAL_COLUMNS


def summary_digest(**changes) -> RunDigest:
    digest = RunDigest(
        run_id="r2", as_of=date(2026, 11, 22), period="week",
        totals={"series": 3, "orders": 2, "order_value": 1234.5, "drift_flags": 1},
        movers=pd.DataFrame([["L1", "A", "Oseltamivir | 75 mg", 10.0, 30.0, 20.0, 200.0, 64.0, "seasonal rise",
                              "flu season"]], columns=list(MOVE_COLUMNS)),
        seasonal=pd.DataFrame([["L1", "A", "Oseltamivir | 75 mg", 0.45, 0.0, 40.0, np.inf]],
                              columns=list(SEASONAL_COLUMNS)),
        flags=pd.DataFrame([{"location_id": "L1", "drug_id": "B", "drug_name": "Metoprolol", "flag": "recall",
                             "detail": "lot 3502407A"}]),
        history=pd.DataFrame(), forecast=pd.DataFrame(), pars=pd.DataFrame(), seasonal_strength=0.3,
        outputs=("out/par_levels.csv",), previous_run_id="r1", previous_as_of=date(2026, 11, 15),
    )
    return RunDigest(**(vars(digest) | changes))


def test_the_markdown_summary_has_totals_the_two_lists_flags_and_files_and_escapes_table_cells():
    markdown = to_markdown(summary_digest(), "out/report.html")
    assert "# Par levels as of 2026-11-22 (changes since 2026-11-15)" in markdown
    assert "| Order value | 1,234 | units to order × unit cost, to bring stock up to par |" in markdown
    assert "| Forecasts drifting | 1 |" in markdown
    assert "## Biggest par moves, by value\n\nSorted by how much each par moved since the run of 2026-11-15" in markdown
    assert "| location | drug | previous par | par | change | change % | value | reason |" in markdown
    assert "Oseltamivir \\| 75 mg" in markdown and "flu season" in markdown and "| +200% |" in markdown
    assert "## Strongest seasonal swings, next 4 weeks\n\nDrugs with a yearly pattern (seasonality strength ≥ 0.3" in markdown
    assert "| L1 | Oseltamivir \\| 75 mg | 0 | 40 | from 0 | 0.45 |" in markdown
    assert "1 recall." in markdown and "lot 3502407A" in markdown
    assert "`out/par_levels.csv`" in markdown and "`out/report.html`" in markdown


def test_on_a_first_run_the_summary_compares_pars_with_the_stock_position_and_says_when_a_list_is_empty():
    first = summary_digest(previous_run_id=None, previous_as_of=None, seasonal=pd.DataFrame(columns=list(SEASONAL_COLUMNS)))
    markdown = to_markdown(first)
    assert "First run: no earlier par to compare with" in markdown and "| stock position |" in markdown
    assert "No drug with a yearly pattern (seasonality strength ≥ 0.3) changes over the next 4 weeks." in markdown


def test_every_total_the_run_records_has_a_label_and_a_definition():
    keys = [key for key, _, _ in TOTALS]
    assert len(keys) == len(set(keys)) and all(label and definition for _, label, definition in TOTALS)


def test_a_series_in_both_lists_is_charted_in_both_and_flagged_series_fill_the_rest_once():
    keys = pd.DataFrame({"location_id": "L1", "drug_id": ["A", "B"]})
    flags = pd.DataFrame({"location_id": "L1", "drug_id": ["C", "A", "D"], "flag": ["drift", "recall", "recall"]})
    charts = chart_keys(keys, keys.iloc[::-1], flags)
    assert charts.movers == [("L1", "A"), ("L1", "B")] and charts.seasonal == [("L1", "B"), ("L1", "A")]
    assert charts.flagged == [("L1", "D"), ("L1", "C")] and charts.flagged_total == 2  # recalls first
    assert charts.keys() == [("L1", "A"), ("L1", "B"), ("L1", "D"), ("L1", "C")]


# Markup from data (drug names, ids, reasons, lots, paths) as it could arrive in a dispensing export.
HOSTILE_MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
                  "![x](https://evil.example/pixel.png)", "<a href='javascript:alert(1)'>x</a>", "`<script>x</script>`",
                  "x\n<script>alert(2)</script>", "x\r\n![y](http://evil.example/y.png)", "&lt;img src=x&gt;",
                  "<https://evil.example/z.png>", "\\![z](//evil.example/z.png)")


def rendered(markdown: str) -> str:
    """``markdown`` as a CommonMark renderer with raw HTML allowed and GFM tables (as Prefect's UI) renders it."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def test_markup_from_data_in_the_summary_is_shown_as_text_never_run_or_loaded():
    for payload in HOSTILE_MARKUP:
        digest = summary_digest(
            run_id=payload,
            movers=summary_digest().movers.assign(location_id=payload, drug_name=payload, reason=payload),
            seasonal=summary_digest().seasonal.assign(drug_name=payload),
            flags=pd.DataFrame([{"location_id": payload, "drug_id": payload, "drug_name": payload, "flag": payload,
                                 "detail": f"lot {payload}"}]),
            outputs=(f"out/{payload}.csv",))
        html = rendered(to_markdown(digest, f"out/{payload}.html")).lower()
        assert "<script" not in html and "<img" not in html, payload
        assert 'href="javascript:' not in html and "<a " not in html, payload
        assert "evil.example" not in html or "src=" not in html, payload
        assert html.count("<table>") == 4, payload  # no row broke out of its table
