"""An external signal (flu activity) moves the antiviral forecast when a season starts early."""

import numpy as np
import pytest

from turnover.forecasting.models import DynamicHarmonic, SignalRegression
from turnover.io.signals import mmwr_week_start, read_fluview

ORIGIN = 2800  # absolute week index of the first history week


def flu_seasons(n_weeks: int, peaks: list[int]) -> np.ndarray:
    """% ILI: 1% baseline plus one bump per season peaking at the given week indices."""
    weeks = np.arange(n_weeks)
    return 1.0 + sum(6.0 * np.exp(-0.5 * ((weeks - p) / 4.0) ** 2) for p in peaks)


def test_an_early_season_lifts_the_signal_models_forecast_before_the_usual_ramp():
    rng = np.random.default_rng(0)
    # Three seasons peaking in week 50 of their cycle; the fourth peaks 8 weeks early, and the
    # history ends 6 weeks before that early peak, with flu already rising.
    n_history = 3 * 52 + 36
    ili = flu_seasons(n_history + 20, [50, 102, 154, n_history + 6])
    demand = rng.poisson(3 * ili[:n_history]).astype(float)
    signal = {ORIGIN + i: float(v) for i, v in enumerate(ili[:n_history])}  # known up to the as-of week
    with_signal = SignalRegression(signal, ORIGIN).fit(demand).predict(4, seed=1)
    profile_only = DynamicHarmonic(52).fit(demand).predict(4, seed=1)
    expected = 3 * ili[n_history : n_history + 4]
    # The signal sees the early season: a higher forecast, nearer what demand will be.
    assert with_signal.mean() > 1.15 * profile_only.mean()
    assert np.abs(with_signal - expected).mean() < np.abs(profile_only - expected).mean()


def test_the_signal_model_refuses_a_history_the_signal_does_not_cover():
    with pytest.raises(ValueError, match="misses more than 10%"):
        SignalRegression({ORIGIN: 1.0}, ORIGIN).fit(np.ones(60))


def test_fluview_weeks_map_to_iso_weeks_and_x_is_dropped(tmp_path):
    path = tmp_path / "ILINet.csv"
    path.write_text("PERCENTAGE OF VISITS FOR INFLUENZA-LIKE-ILLNESS\n"
                    "REGION TYPE,REGION,YEAR,WEEK,% WEIGHTED ILI\nNational,X,2019,1,3.5\nNational,X,2019,2,X\n")
    series = read_fluview(path)
    assert mmwr_week_start(2019, 1).isoformat() == "2018-12-30"  # MMWR 2019w1 ends Saturday 2019-01-05
    assert list(series.index.strftime("%Y-%m-%d")) == ["2018-12-31"] and series.iloc[0] == 3.5
