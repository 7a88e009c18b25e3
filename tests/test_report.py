"""The HTML run report: every plotted series has a chart, data text is escaped, and a browser renders it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import replace
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from turnover.digest import CHANGE_COLUMNS, FLAG_COLUMNS, HISTORY_COLUMNS, PAR_COLUMNS, RunDigest
from turnover.report import MAX_PLOTS, render_html
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
    """Three series: a seasonal antibiotic that moved, a recalled heparin, an overstocked drug with a hostile name."""
    amox, heparin, evil = ("MAIN", "AMOX500"), ("MAIN", "HEP5K"), ("ER & ICU", "EVIL1")
    changes = pd.DataFrame(
        [["MAIN", "AMOX500", "Amoxicillin 500 mg cap", 120.0, 180.0, 60.0, 50.0, "service level", "winter ramp"],
         ["ER & ICU", "EVIL1", EVIL_NAME, 40.0, 25.0, -15.0, -37.5, "expiry cap", "short-dated <lots>"]],
        columns=list(CHANGE_COLUMNS),
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
         ["ER & ICU", "EVIL1", EVIL_NAME, 15.0, 25.0, 300.0, "seasonal_naive", "expiry cap", "<b>short</b>-dated"]],
        columns=list(PAR_COLUMNS),
    )
    season = 40 + 20 * np.cos(2 * np.pi * np.arange(13) / 52)
    history = [_weekly_history(amox, 40, 20, 1), _weekly_history(heparin, 8, 0, 2), _weekly_history(evil, 5, 1, 3)]
    forecast = [_weekly_forecast(amox, season), _weekly_forecast(heparin, np.full(13, 8.0)),
                _weekly_forecast(evil, np.full(13, 5.0))]
    for i in range(n_extra_series):  # movers only, to exceed the plot cap
        key = ("MAIN", f"X{i:03d}")
        changes.loc[len(changes)] = [*key, f"Extra {i}", 10.0, 11.0, 1.0, 10.0, "service level", "demand up"]
        pars.loc[len(pars)] = [*key, f"Extra {i}", 6.0, 11.0, 9.0, "ets", "service level", "demand up"]
        history.append(_weekly_history(key, 5, 1, 10 + i))
        forecast.append(_weekly_forecast(key, np.full(13, 5.0)))
    out = Path("/srv/turnover/out")
    return RunDigest(
        run_id="20261122T0600-ab12", as_of=AS_OF, period="week",
        totals={"series": 3 + n_extra_series, "orders": 2, "order_value": 12345.678, "turns_at_par": 11.4,
                "days_on_hand_at_par": 32.0, "turns_current": 6.2, "days_on_hand_current": 58.9,
                "inventory_value_current": 48210.5, "inventory_value_at_par": 27000.0, "slow_movers": 1, "overstock": 1,
                "dead_items": 0, "expiry_capped": 1, "projected_waste_units": 120.0, "projected_waste_value": 845.2,
                "expired_units": 0.0, "quarantined_lots": 2, "quarantined_units": 40.0, "shortages": 0,
                "drift_flags": 1, "values_in": "unit cost (drugs without a unit cost are left out of values)"},
        changes=changes, flags=flags,
        history=pd.concat(history, ignore_index=True)[list(HISTORY_COLUMNS)],
        forecast=pd.concat(forecast, ignore_index=True), pars=pars,
        outputs=(str(out / "par_levels_2026-11-22.csv"), str(out / "forecast_2026-11-22.csv"),
                 str(out / "quarantine_2026-11-22.csv")),
        accuracy=pd.DataFrame({"model": ["holt_winters", "croston"], "mase": [0.82, 1.07], "coverage_q90": [0.88, 0.93]}),
        previous_run_id="20261115T0600-9f3c", previous_as_of=date(2026, 11, 15),
    )


class _Elements(HTMLParser):
    """Start tags with their attributes, and the text outside tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(document: str) -> _Elements:
    elements = _Elements()
    elements.feed(document)
    return elements


@pytest.fixture(scope="module")
def digest() -> RunDigest:
    return make_digest()


@pytest.fixture(scope="module")
def report(digest) -> str:
    return render_html(digest)


def test_every_plotted_series_has_one_chart_with_an_inline_image(digest, report):
    elements = parse(report)
    plots = [attrs for tag, attrs in elements.tags if "plot" in attrs.get("class", "").split()]
    assert [p["data-series-key"] for p in plots] == [f"{loc}/{drug}" for loc, drug in digest.plotted_keys()]
    images = [attrs["src"] for tag, attrs in elements.tags if tag == "img"]
    assert len(images) == len(plots) and all(src.startswith("data:image/png;base64,") for src in images)


def test_text_from_data_is_escaped_and_the_only_script_is_the_report_s_own(report):
    assert "<script>alert(1)</script>" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tabs" in report
    assert "<b>short</b>" not in report and "ER &amp; ICU" in report
    assert report.count("<script>") == 1
    assert EVIL_NAME in "".join(parse(report).text)  # escaped once, so a browser shows the name as written


def test_csv_links_are_bare_file_names_beside_the_report(report):
    hrefs = [attrs["href"] for tag, attrs in parse(report).tags if tag == "a" and not attrs["href"].startswith("#")]
    assert hrefs == ["par_levels_2026-11-22.csv", "forecast_2026-11-22.csv", "quarantine_2026-11-22.csv"]


def test_report_fetches_nothing_from_the_network(report):
    for tag, attrs in parse(report).tags:
        assert not any(str(value).startswith(("http:", "https:", "//")) for value in attrs.values()), (tag, attrs)
    assert "default-src 'none'" in report


def test_totals_read_as_numbers_for_people_and_include_drift(report):
    assert "$12,346" in report and "$48,210" in report and "11.4" in report
    assert "Drift flags" in report and "previous run 2026-11-15" in report


def test_a_series_without_history_forecast_or_par_still_gets_a_chart_and_empty_sections_say_so(digest):
    bare = replace(digest, history=digest.history.iloc[:0], forecast=digest.forecast.iloc[:0], pars=digest.pars.iloc[:0],
                   flags=digest.flags.iloc[:0], accuracy=pd.DataFrame(), totals={}, outputs=(), previous_as_of=None)
    report = render_html(bare)
    assert report.count('<figure class="plot"') == len(bare.plotted_keys()) == 2
    assert "Nothing flagged." in report and "no previous run" in report and 'id="accuracy"' not in report


def test_charts_are_capped_and_the_cap_is_stated():
    many = make_digest(n_extra_series=MAX_PLOTS + 3)
    started = time.perf_counter()
    report = render_html(many)
    elapsed_seconds = time.perf_counter() - started
    plots = [attrs for tag, attrs in parse(report).tags if tag == "figure"]
    assert len(plots) == MAX_PLOTS and f"first {MAX_PLOTS} of {len(many.plotted_keys())}" in report
    assert elapsed_seconds < 15, f"{MAX_PLOTS} charts took {elapsed_seconds:.1f}s"


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


def test_a_headless_browser_renders_every_chart(digest, report, tmp_path):
    chromium = _chromium()
    page = tmp_path / "report_2026-11-22.html"
    page.write_text(report, encoding="utf-8")
    dom = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert f'data-plots-rendered="{len(digest.plotted_keys())}"' in dom

    shot = tmp_path / "shot.png"
    _run_chromium(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000",
                  "--hide-scrollbars", page.as_uri())
    from matplotlib.image import imread  # matplotlib is a dev dependency; only this test reads PNGs

    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"
