"""The loop over series: model choice, fallbacks, quantiles and lead-time demand."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from turnover.forecasting.candidates import choose_model
from turnover.forecasting.contract import ProtectionWindow
from turnover.forecasting.forecast import forecast_panel
from turnover.forecasting.models import SeriesContext
from turnover.forecasting.simulate import forecast_series
from turnover.panel import DemandPanel
from turnover.settings import ForecastSettings

SETTINGS = ForecastSettings()
CONTEXT = SeriesContext(season_length=52, window=26)
RNG = np.random.default_rng(1)


def seasonal_history(n=160, peak_week=50, base=10.0, lift=9.0, seed=3):
    weeks = np.arange(n)
    distance = np.minimum(np.abs(weeks % 52 - peak_week), 52 - np.abs(weeks % 52 - peak_week))
    rng = np.random.default_rng(seed)
    return rng.poisson(base * (1 + lift * np.exp(-0.5 * (distance / 3) ** 2))).astype(float)


@pytest.mark.parametrize(
    ("history", "model"),
    [
        (np.array([]), "no_history"),
        (np.ones(5), "empirical_bootstrap"),                       # new item
        (np.r_[np.ones(100), np.zeros(30)], "empirical_bootstrap"),  # nothing in the recent window
        (np.tile([0, 0, 0, 4.0], 40), "empirical_bootstrap"),       # used in a quarter of weeks
        (np.full(60, 5.0), "exp_smoothing"),                        # steady, under two seasons
        (np.full(120, 5.0), "dynamic_harmonic"),                    # two seasons and more
    ],
)
def test_the_model_follows_what_the_history_supports(history, model):
    assert choose_model(history, 52, SETTINGS)[0] == model


def test_a_seasonal_drug_with_quiet_months_is_not_taken_for_intermittent():
    # Each year: 20 busy flu-season weeks, then 32 quiet weeks with use in one week of three.
    year = np.r_[np.linspace(5, 20, 10), np.linspace(20, 5, 10), np.tile([1.0, 0, 0], 11)[:32]]
    history = np.tile(year, 3)
    assert np.mean(history[-26:] > 0) < 0.5 <= np.mean(history[-52:] > 0)
    assert choose_model(history, 52, SETTINGS)[0] == "dynamic_harmonic"


def test_the_seasonal_forecast_rises_ahead_of_the_peak_and_falls_after_it():
    history = seasonal_history(n=156 - 8)  # ends 8 weeks before week 50 of the fourth year
    result = forecast_series(history, 13, CONTEXT, SETTINGS, np.random.default_rng(0))
    mean = result.paths.mean(axis=0)
    assert result.model == "dynamic_harmonic"
    assert mean[6:10].mean() > 3 * history[-4:].mean()


def test_a_poisson_series_q95_covers_about_95_percent_of_new_weeks():
    # Stated method for slow movers: bootstrap of the recent weeks. On Poisson(3) demand the
    # weekly q95 it gives must sit at the Poisson q95 (6) within sampling error.
    history = np.random.default_rng(5).poisson(3.0, 26).astype(float)
    settings = ForecastSettings(intermittent_nonzero_share=1.0)  # force the bootstrap
    result = forecast_series(history, 1, CONTEXT, settings, np.random.default_rng(0), ("empirical_bootstrap", "test"))
    q95 = np.quantile(result.paths[:, 0], 0.95)
    coverage = stats.poisson.cdf(q95, 3.0)
    assert 0.9 <= coverage <= 0.995


def _panel(histories: dict[str, np.ndarray]) -> DemandPanel:
    keys = pd.DataFrame({"location_id": "S1", "drug_id": list(histories)})
    offsets = np.concatenate([[0], np.cumsum([len(h) for h in histories.values()])])
    return DemandPanel(keys, offsets, np.concatenate(list(histories.values())))


def test_a_failing_model_falls_back_and_says_so(monkeypatch):
    from turnover.forecasting import models

    def broken(season_length, window):
        raise ValueError("boom")

    monkeypatch.setitem(models.REGISTRY, "dynamic_harmonic", broken)
    result = forecast_series(np.full(120, 5.0), 4, CONTEXT, SETTINGS, np.random.default_rng(0))
    assert result.model == "exp_smoothing" and "fell back to exp_smoothing" in result.basis


def test_lead_time_demand_never_falls_when_service_level_or_lead_time_rises():
    panel = _panel({"D1": seasonal_history(), "D2": RNG.poisson(0.4, 80).astype(float)})
    results = {}
    for lead in (1, 3, 10):
        for level in (0.9, 0.95, 0.99):
            window = ProtectionWindow(np.array([lead, lead]), 7, level)
            protection = forecast_panel(panel, window, date(2026, 11, 22), SETTINGS).protection
            results[lead, level] = protection["protection_demand_units"].to_numpy()
    for lead in (1, 3, 10):
        assert np.all(np.diff([results[lead, lv] for lv in (0.9, 0.95, 0.99)], axis=0) >= 0)
    for level in (0.9, 0.95, 0.99):
        assert np.all(np.diff([results[ld, level] for ld in (1, 3, 10)], axis=0) >= 0)


def test_forecast_rows_cover_every_series_and_period_and_quantiles_are_ordered():
    panel = _panel({"D1": seasonal_history(), "D2": np.array([]), "D3": np.full(10, 2.0)})
    result = forecast_panel(panel, ProtectionWindow(np.array([2, 2, 2]), 7, 0.95), date(2026, 11, 22), SETTINGS)
    forecast, protection = result.forecast, result.protection
    assert len(forecast) == 3 * 13 and len(protection) == 3
    assert set(result.classes["demand_class"]) <= {"smooth", "erratic", "intermittent", "lumpy", "none"}
    assert result.scores.groupby(["drug_id"])["chosen"].any().loc["D1"]
    q = forecast[["q50", "q80", "q90", "q95", "q99"]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= 0) and np.all(q >= 0)
    assert forecast["period_start"].min() == date(2026, 11, 23)


def test_a_new_store_borrows_the_flu_season_of_the_same_drug_at_its_sibling_stores():
    # Two stores with three years of a flu-season drug; a third opened 60 weeks ago, so its backtest folds
    # cover last season. The panel ends 8 weeks before the peak week, so a season learned from the siblings
    # means a rise ahead. (Each fold borrows the profile the siblings had then: a newcomer whose folds never saw
    # a season, 40 weeks old, is better served by a moving average in its backtest, and gets one.)
    siblings = [seasonal_history(n=156 - 8, seed=s) for s in (1, 2)]
    newcomer = seasonal_history(n=156 - 8, seed=3)[-60:]
    keys = pd.DataFrame({"location_id": ["S1", "S2", "S3"], "drug_id": "FLU"})
    histories = [*siblings, newcomer]
    panel = DemandPanel(keys, np.concatenate([[0], np.cumsum([len(h) for h in histories])]), np.concatenate(histories))
    result = forecast_panel(panel, ProtectionWindow(np.array([2, 2, 2]), 7, 0.95), date(2026, 11, 22), SETTINGS)
    s3 = result.forecast[result.forecast["location_id"] == "S3"]
    tried = set(result.scores.loc[result.scores["location_id"] == "S3", "model"])
    assert "borrowed_profile" in tried
    assert s3["model"].iloc[0] in {"borrowed_profile", "combination"}
    assert s3["mean"].iloc[6:10].mean() > 2 * newcomer[-4:].mean()


def test_batches_of_any_size_run_in_any_order_give_the_same_forecast():
    # Pooled inputs (sibling profiles, global model, recalibration) are computed once, outside the batches,
    # and every series is seeded by its ids: one batch, or one series per batch run backwards, is the same.
    keys = pd.DataFrame({"location_id": ["S1", "S1", "S2", "S2"], "drug_id": ["FLU", "D3", "FLU", "D3"]})
    histories = [seasonal_history(seed=1), np.full(30, 2.0), seasonal_history(seed=2)[-60:], np.r_[np.zeros(20), 1, 0, 3]]
    panel = DemandPanel(keys, np.concatenate([[0], np.cumsum([len(h) for h in histories])]), np.concatenate(histories))
    window = ProtectionWindow(np.array([2, 5, 2, 9]), 7, np.array([0.95, 0.9, 0.99, 0.95]), calendar_periods=3)

    def backwards(work, batches, step):
        assert all(len(batch) == 1 for batch in batches)
        return [work(batch) for batch in batches[::-1]][::-1]

    one = forecast_panel(panel, window, date(2026, 11, 22), SETTINGS)
    many = forecast_panel(panel, window, date(2026, 11, 22), SETTINGS, map_batches=backwards, batch_series=1)
    for name in ("forecast", "protection", "calendar", "classes", "scores", "calibration"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(many, name), obj=name)


def test_levels_asked_for_ahead_are_recalibrated_for_a_later_call_that_reuses_the_selection():
    keys = pd.DataFrame({"location_id": ["S1", "S2", "S3"], "drug_id": "FLU"})
    histories = [seasonal_history(seed=s) for s in (1, 2, 3)]
    panel = DemandPanel(keys, np.concatenate([[0], np.cumsum([len(h) for h in histories])]), np.concatenate(histories))
    window = ProtectionWindow(np.array([2, 2, 2]), 7, 0.95)
    plain = forecast_panel(panel, window, date(2026, 11, 22), SETTINGS).selection
    ahead = forecast_panel(panel, window, date(2026, 11, 22), SETTINGS, calibrate_levels=(0.975,)).selection
    assert ahead.chosen == plain.chosen  # the choice does not depend on the levels calibrated
    assert ahead.near.levels
    for model, levels in ahead.near.levels.items():
        assert 0.975 in levels and 0.975 not in plain.near.levels[model]
        assert levels[0.95] == plain.near.levels[model][0.95]


def test_a_short_volatile_history_cannot_send_the_paths_to_millions():
    """A new item's 0, 13, 70, 111, 8, ... (PBS safety net, 11 months): simulated on the log scale as a random
    walk, exp_smoothing's mean grew threefold a month, to millions a year ahead. Every path is capped at
    PATH_CAP_MULTIPLE times the most the history saw in a period, in the batch and the one-series form."""
    from turnover.forecasting.fitting import PATH_CAP_MULTIPLE, Group, group_paths
    from turnover.forecasting.models import SeriesContext
    from turnover.forecasting.simulate import fit_paths

    y = np.array([0, 0, 0, 0, 13, 70, 111, 8, 0, 8, 10], dtype=float)
    context = SeriesContext(season_length=12, window=12)
    U = np.random.default_rng(0).random((1, 1000, 12)).astype(np.float32)
    for name in ("exp_smoothing", "damped_trend"):
        batch = group_paths(name, y[None, :], U, Group([context], [np.random.default_rng(1)]))[0]
        single = fit_paths(name, y, context, 12, 1000, np.random.default_rng(1))
        for paths in (batch, single):
            assert paths.max() <= PATH_CAP_MULTIPLE * 111 + 1e-3
            assert paths.mean(axis=0)[-1] < 3 * 111  # a year ahead: of the order of what was seen, not millions


def test_a_batch_of_series_without_candidates_beside_others_warns_of_nothing():
    # One series per batch: the new item's two periods have no model to backtest, so its batch has no scores and
    # no PITs. Stacking its empty frames with the others' was a pandas FutureWarning (an error in the suite).
    keys = pd.DataFrame({"location_id": ["S1", "S1", "S2"], "drug_id": ["FLU", "NEW", "FLU"]})
    rng = np.random.default_rng(1)
    histories = [rng.poisson(5, 160).astype(float), np.array([1.0, 0.0]), rng.poisson(6, 160).astype(float)]
    panel = DemandPanel(keys, np.concatenate([[0], np.cumsum([len(h) for h in histories])]), np.concatenate(histories))
    result = forecast_panel(panel, ProtectionWindow(np.array([2, 2, 2]), 7, 0.95), date(2026, 11, 22), SETTINGS,
                            batch_series=1)
    assert set(result.scores["drug_id"]) == {"FLU"} and len(result.protection) == 3
