"""The HTML run report: it leads with the two lists (par moves by value, seasonal swings), each saying how it is
sorted; every card says what it includes; no caption is said twice; data text is escaped; a browser renders it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import LATE_MAY, LATE_NOVEMBER
from turnover.reporting.digest import FLAG_COLUMNS, HISTORY_COLUMNS, PAR_COLUMNS, RunDigest
from turnover.reporting.movers import MOVE_COLUMNS, SEASONAL_COLUMNS
from turnover.reporting.report import MAX_PLOTS, render_html
from turnover.reporting.series_chart import SeriesCharts
from turnover.schema import QUANTILE_COLUMNS, QUANTILE_LEVELS

AS_OF = date(2026, 11, 22)
EVIL_NAME = "<script>alert(1)</script> Tabs"
CHROMIUM_TIMEOUT_SECONDS = 120


def _weekly_history(key: tuple[str, str], base_units: float, amplitude_units: float, seed: int) -> pd.DataFrame:
    """104 weeks of seasonal Poisson demand ending the week before ``AS_OF``."""
    weeks = pd.date_range(end=pd.Timestamp(AS_OF) - timedelta(days=6), periods=104, freq="W-MON")
    season = base_units + amplitude_units * np.cos(2 * np.pi * (weeks.isocalendar().week.to_numpy() - 2) / 52)
    demand = np.random.default_rng(seed).poisson(season)
    return pd.DataFrame({"location_id": key[0], "drug_id": key[1], "period_start": weeks.date, "demand_units": demand})


def _weekly_forecast(key: tuple[str, str], mean_units: np.ndarray) -> pd.DataFrame:
    """13 weeks from ``AS_OF`` with normal quantiles of sd = sqrt(mean) (Poisson-like)."""
    z_scores = {"q50": 0.0, "q80": 0.8416, "q90": 1.2816, "q95": 1.6449, "q99": 2.3263}
    assert tuple(z_scores) == QUANTILE_COLUMNS and len(QUANTILE_LEVELS) == len(z_scores)
    weeks = pd.date_range(start=pd.Timestamp(AS_OF) + timedelta(days=1), periods=len(mean_units), freq="W-MON")
    frame = pd.DataFrame({"location_id": key[0], "drug_id": key[1], "period_start": weeks.date, "mean": mean_units})
    for column, z in z_scores.items():
        frame[column] = mean_units + z * np.sqrt(mean_units)
    return frame


def make_digest(n_extra_series: int = 0) -> RunDigest:
    """Four series: a seasonal antibiotic that moved, a recalled heparin, an overstocked drug with a hostile name
    whose par fell, and oseltamivir rising from no use; ``n_extra_series`` more that moved and are overstocked."""
    amox, heparin, evil, osel = ("MAIN", "AMOX500"), ("MAIN", "HEP5K"), ("ER & ICU", "EVIL1"), ("MAIN", "OSEL75")
    movers = pd.DataFrame(
        [["MAIN", "AMOX500", "Amoxicillin 500 mg cap", 120.0, 180.0, 60.0, 50.0, 30.0, "service level", "winter ramp"],
         ["ER & ICU", "EVIL1", EVIL_NAME, 40.0, 25.0, -15.0, -37.5, np.nan, "expiry cap", "short-dated <lots>"]],
        columns=list(MOVE_COLUMNS),
    )
    seasonal = pd.DataFrame(
        [["MAIN", "OSEL75", "Oseltamivir 75 mg cap", 0.45, 0.0, 40.0, np.inf],
         ["MAIN", "AMOX500", "Amoxicillin 500 mg cap", 0.52, 150.0, 240.0, 60.0]],
        columns=list(SEASONAL_COLUMNS),
    )
    flags = pd.DataFrame(
        [["MAIN", "HEP5K", "Heparin 5,000 units/mL", "recall", "lot H123 class II recall, 2 lots quarantined"],
         ["ER & ICU", "EVIL1", EVIL_NAME, "overstock", "usable 300 units > par 25 + 1 pack"],
         ["MAIN", "AMOX500", "Amoxicillin 500 mg cap", "drift", "recent demand above the 99% band"]],
        columns=list(FLAG_COLUMNS),
    )
    pars = pd.DataFrame(
        [["MAIN", "AMOX500", "Amoxicillin 500 mg cap", 140.0, 180.0, 95.0, "holt_winters", "service level", "winter ramp"],
         ["MAIN", "HEP5K", "Heparin 5,000 units/mL", 30.0, 45.0, 12.0, "croston", "recall", "recalled lots excluded"],
         ["ER & ICU", "EVIL1", EVIL_NAME, 15.0, 25.0, 300.0, "seasonal_naive", "expiry cap", "<b>short</b>-dated"],
         ["MAIN", "OSEL75", "Oseltamivir 75 mg cap", 10.0, 20.0, 0.0, "signal_regression", "seasonal rise", "flu"]],
        columns=list(PAR_COLUMNS),
    )
    season = 40 + 20 * np.cos(2 * np.pi * np.arange(13) / 52)
    history = [_weekly_history(amox, 40, 20, 1), _weekly_history(heparin, 8, 0, 2), _weekly_history(evil, 5, 1, 3),
               _weekly_history(osel, 2, 2, 4)]
    forecast = [_weekly_forecast(amox, season), _weekly_forecast(heparin, np.full(13, 8.0)),
                _weekly_forecast(evil, np.full(13, 5.0)), _weekly_forecast(osel, np.linspace(5, 15, 13))]
    for i in range(n_extra_series):
        key = ("MAIN", f"X{i:03d}")
        movers.loc[len(movers)] = [*key, f"Extra {i}", 10.0, 11.0, 1.0, 10.0, 0.5, "service level", f"demand up {i}"]
        flags.loc[len(flags)] = [*key, f"Extra {i}", "overstock", f"usable {20 + i} units > par 11 + 1 pack"]
        pars.loc[len(pars)] = [*key, f"Extra {i}", 6.0, 11.0, 20.0 + i, "ets", "service level", "demand up"]
        history.append(_weekly_history(key, 5, 1, 10 + i))
        forecast.append(_weekly_forecast(key, np.full(13, 5.0)))
    out = Path("/srv/turnover/out")
    return RunDigest(
        run_id="20261122T0600-ab12", as_of=AS_OF, period="week",
        totals={"series": 4 + n_extra_series, "orders": 2, "order_value": 12345.678, "turns_at_par": 11.4,
                "days_on_hand_at_par": 32.0, "turns_current": 6.2, "days_on_hand_current": 58.9,
                "inventory_value_current": 48210.5, "inventory_value_at_par": 27000.0, "slow_movers": 1, "overstock": 1,
                "dead_items": 0, "expiry_capped": 1, "projected_waste_units": 120.0, "projected_waste_value": 845.2,
                "expired_units": 0.0, "quarantined_lots": 2, "quarantined_units": 40.0, "shortages": 0,
                "forecast_periods_scored": 12, "drift_flags": 1,
                "values_in": "unit cost (drugs without a unit cost are left out of values)"},
        movers=movers, seasonal=seasonal, flags=flags,
        history=pd.concat(history, ignore_index=True)[list(HISTORY_COLUMNS)],
        forecast=pd.concat(forecast, ignore_index=True), pars=pars, seasonal_strength=0.3,
        outputs=(str(out / "par_levels_2026-11-22.csv"), str(out / "forecast_2026-11-22.csv"),
                 str(out / "quarantine_2026-11-22.csv")),
        accuracy=pd.DataFrame({"model": ["holt_winters", "croston"], "mase": [0.82, 1.07], "coverage_q90": [0.88, 0.93]}),
        previous_run_id="20261115T0600-9f3c", previous_as_of=date(2026, 11, 15),
    )


@dataclass
class Node:
    """An element of a page: its tag, attributes, children and own text."""

    tag: str
    attrs: dict
    children: list[Node] = field(default_factory=list)
    parts: list[str | Node] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        """The text inside, as a browser shows it (whitespace collapsed)."""
        return " ".join("".join(p if isinstance(p, str) else p.text() for p in self.parts).split())

    def find(self, tag: str = "", css_class: str = "") -> list[Node]:
        """Every element inside with this tag and class (either may be left out), in document order."""
        found = []
        for child in self.children:
            if (not tag or child.tag == tag) and (not css_class or css_class in child.classes):
                found.append(child)
            found += child.find(tag, css_class)
        return found


class _Tree(HTMLParser):
    """The element tree of a page (void elements have no end tag; an end tag closes what it left open)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack = [Node("#document", {})]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        self.stack[-1].parts.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data):
        self.stack[-1].parts.append(data)


def tree(document: str) -> Node:
    parser = _Tree()
    parser.feed(document)
    return parser.stack[0]


def check_page(document: str) -> dict[str, list[str]]:
    """What a reader must find on every report, asserted; returns each list's sort sentence and series keys.

    The two lists are there, each with one sentence on how it is sorted above its charts; every card says what
    its number includes; and no caption (chart captions, sort sentences, card definitions, notes) is said twice,
    nor any part of a caption twice within it.
    """
    page = tree(document)
    lists = {section.attrs["id"]: section for section in page.find("section", "list")}
    assert list(lists) == ["movers", "seasonal"]
    found = {}
    for name, section in lists.items():
        (sort,) = section.find("p", "sort")
        assert section.children[1] is sort and "sorted" in sort.text().lower()  # under the title, above the charts
        found[name] = [sort.text(), *(f["data-series-key"] for f in (n.attrs for n in section.find("figure")))]
    cards = page.find("div", "card")
    assert cards and all(any(d.text() for d in card.find("p", "def")) for card in cards), "a card without a definition"
    captions = [n.text() for n in page.find("figcaption") + page.find("p")]
    assert [c for c, n in Counter(captions).items() if n > 1] == []
    for caption in captions:
        parts = caption.split(" · ")
        assert len(set(parts)) == len(parts), caption
    return found


@pytest.fixture(scope="module")
def digest() -> RunDigest:
    return make_digest()


@pytest.fixture(scope="module")
def report(digest) -> str:
    return render_html(digest)


def test_the_two_lists_lead_and_each_series_is_charted_in_every_list_it_is_in(digest, report):
    page = tree(report)
    plots = [figure.attrs["data-series-key"] for figure in page.find("figure", "plot")]
    charts = digest.charts()
    assert plots == [f"{loc}/{drug}" for loc, drug in charts.movers + charts.seasonal + charts.flagged]
    assert plots == ["MAIN/AMOX500", "ER & ICU/EVIL1", "MAIN/OSEL75", "MAIN/AMOX500", "MAIN/HEP5K"]
    images = [img.attrs["src"] for img in page.find("img")]
    assert len(images) == len(plots) and all(src.startswith("data:image/png;base64,") for src in images)
    assert images[0] == images[3]  # drawn once, shown in both lists
    assert report.index('id="movers"') < report.index('id="seasonal"') < report.index('id="flags"')


def test_every_card_is_defined_no_caption_is_said_twice_and_each_list_says_how_it_is_sorted(report):
    found = check_page(report)
    assert found["movers"][0].startswith("Sorted by how much each par moved since the run of 2026-11-15, in money")
    assert "largest first: rises and falls" in found["seasonal"][0]


def test_a_first_run_compares_each_par_with_today_s_stock_position(digest):
    first = render_html(replace(digest, previous_run_id=None, previous_as_of=None))
    found = check_page(first)
    assert found["movers"][0].startswith("First run: no earlier par to compare with")
    assert "first run: no earlier run to compare with" in first and "stock position 120 → par 180 units" in first


def test_captions_say_what_the_list_is_about(report):
    assert "previous par 120 → par 180 units" in report and "+$30.00 at unit cost" in report
    assert "no unit cost: ranked by units" in report  # the hostile drug has no unit cost
    assert "last 4 weeks 0 units → next 4 40 forecast (from 0)" in report
    assert "last 4 weeks 150 units → next 4 240 forecast (+60%)" in report


def test_text_from_data_is_escaped_and_the_only_script_is_the_report_s_own(report):
    assert "<script>alert(1)</script>" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tabs" in report
    assert "<b>short</b>" not in report and "ER &amp; ICU" in report
    assert report.count("<script>") == 1
    assert EVIL_NAME in tree(report).text()  # escaped once, so a browser shows the name as written


def test_csv_links_are_bare_file_names_beside_the_report(report):
    hrefs = [a.attrs["href"] for a in tree(report).find("a") if not a.attrs["href"].startswith("#")]
    assert hrefs == ["par_levels_2026-11-22.csv", "forecast_2026-11-22.csv", "quarantine_2026-11-22.csv"]


def test_report_fetches_nothing_from_the_network(report):
    for element in tree(report).find():
        assert not any(str(value).startswith(("http:", "https:", "//")) for value in element.attrs.values()), element.attrs
    assert "default-src 'none'" in report


def test_totals_read_as_numbers_for_people_and_include_drift(report):
    assert "$12,346" in report and "$48,210" in report and "11.4" in report
    assert "Forecasts drifting" in report and "compared with the run of 2026-11-15" in report


def test_a_series_without_history_forecast_or_par_still_gets_a_chart_and_empty_sections_say_so(digest):
    bare = replace(digest, history=digest.history.iloc[:0], forecast=digest.forecast.iloc[:0], pars=digest.pars.iloc[:0],
                   seasonal=digest.seasonal.iloc[:0], flags=digest.flags.iloc[:0], accuracy=pd.DataFrame(), totals={},
                   outputs=(), previous_as_of=None)
    report = render_html(bare)
    assert report.count('<figure class="plot"') == len(bare.charts().keys()) == 2
    assert "Nothing flagged." in report and "first run" in report and 'id="accuracy"' not in report
    assert "No drug with a yearly pattern (seasonality strength ≥ 0.3) changes over the next 4 weeks." in report


def test_charts_drawn_one_after_another_on_one_figure_have_the_bytes_each_has_on_a_figure_of_its_own(digest):
    def rows(frame: pd.DataFrame, key) -> pd.DataFrame:
        return frame[(frame["location_id"] == key[0]) & (frame["drug_id"] == key[1])]

    series = [(rows(digest.history, key).sort_values("period_start"), rows(digest.forecast, key).sort_values(
        "period_start"), rows(digest.pars, key).iloc[0], digest.as_of, digest.period) for key in digest.charts().keys()]
    series.insert(1, (digest.history.iloc[:0], digest.forecast.iloc[:0], None, digest.as_of, digest.period))  # bare
    charts = SeriesCharts()
    assert [charts.png(*one) for one in series] == [SeriesCharts().png(*one) for one in series]


def test_charts_are_capped_and_the_cap_is_stated():
    many = make_digest(n_extra_series=MAX_PLOTS + 3)
    report = render_html(many)
    charts = many.charts()
    plots = tree(report).find("figure")
    assert len(plots) == MAX_PLOTS and len(charts.flagged) < charts.flagged_total
    assert f"the first {len(charts.flagged)} of {charts.flagged_total} (the report draws at most {MAX_PLOTS} charts)" in report


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        reason = "headless Chromium not found (apt-get install chromium) on PATH or at /usr/bin/chromium"
        if os.environ.get("TURNOVER_REQUIRE_CHROMIUM") == "1":
            pytest.fail(reason + "; TURNOVER_REQUIRE_CHROMIUM=1 requires it")
        pytest.skip(reason)
    return found


def _run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_SECONDS,
                          check=True)


def _rendered(chromium: str, page: Path, profile: Path) -> str:
    """The page's DOM after Chromium loaded it, checked (``check_page``), with every chart decoded."""
    dom = _run_chromium(chromium, profile, "--dump-dom", page.as_uri()).stdout
    figures = tree(dom).find("figure", "plot")
    assert figures and f'data-plots-rendered="{len(figures)}"' in dom
    check_page(dom)
    return dom


def test_a_headless_browser_renders_every_chart(report, tmp_path):
    chromium = _chromium()
    page = tmp_path / "report_2026-11-22.html"
    page.write_text(report, encoding="utf-8")
    _rendered(chromium, page, tmp_path / "profile")

    shot = tmp_path / "shot.png"
    _run_chromium(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000",
                  "--hide-scrollbars", page.as_uri())
    from matplotlib.image import imread  # matplotlib is a dev dependency; only this test reads PNGs

    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"


@pytest.mark.slow
@pytest.mark.parametrize(("as_of", "compared"), [(LATE_MAY, "First run: no earlier par"), (LATE_NOVEMBER, "Sorted by")])
def test_the_demo_s_first_and_later_reports_chart_both_lists_in_a_browser(demo_warehouse, as_of, compared, tmp_path):
    # The late-May report was written when the warehouse held that one run; late November's had two before it.
    (page,) = [p for p in demo_warehouse["outputs"][as_of] if p.name == f"report_{as_of}.html"]
    found = check_page(_rendered(_chromium(), page, tmp_path / "profile"))
    assert found["movers"][0].startswith(compared)
    assert len(found["movers"]) > 1 and len(found["seasonal"]) > 1, "a list without charts"
