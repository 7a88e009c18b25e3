"""Demand classes on hand-made series with known ADI and CV^2, seasonality strength, lifecycle."""

import numpy as np
import pytest

from turnover.forecasting.classify import classify, lifecycle, seasonality_strength, syntetos_boylan


@pytest.mark.parametrize(
    ("series", "adi", "cv2", "label"),
    [
        # 12 periods, all used, sizes 10 and 12 alternating: ADI 1, CV^2 = var/mean^2 = 1/121.
        (np.tile([10.0, 12.0], 6), 1.0, 1 / 121, "smooth"),
        # All used, sizes 1 and 9: mean 5, var 16, CV^2 0.64.
        (np.tile([1.0, 9.0], 6), 1.0, 0.64, "erratic"),
        # Used every second period, always 6: ADI 2, CV^2 0.
        (np.tile([0.0, 6.0], 6), 2.0, 0.0, "intermittent"),
        # Used every third period, sizes 1 and 9 alternating: ADI 3, CV^2 0.64.
        (np.array([0, 0, 1, 0, 0, 9] * 2, dtype=float), 3.0, 0.64, "lumpy"),
    ],
)
def test_syntetos_boylan_classes_follow_the_published_cut_offs(series, adi, cv2, label):
    got_adi, got_cv2, got_label = syntetos_boylan(series)
    assert got_adi == pytest.approx(adi) and got_cv2 == pytest.approx(cv2) and got_label == label


def test_a_series_never_used_has_no_class():
    assert syntetos_boylan(np.zeros(10))[2] == "none"


def test_seasonality_strength_is_zero_for_noise_and_high_for_a_flu_season():
    rng = np.random.default_rng(0)
    weeks = np.arange(156)
    flu = rng.poisson(5 * (1 + 8 * np.exp(-0.5 * (((weeks % 52) - 50) / 4) ** 2))).astype(float)
    assert seasonality_strength(rng.poisson(50, 156).astype(float), 52) == 0.0
    assert seasonality_strength(flu, 52) > 0.5
    assert np.isnan(seasonality_strength(flu[:80], 52))  # under two years


def test_lifecycle_names_new_dead_recurring_and_sporadic_items():
    assert lifecycle(np.ones(20), 52) == "new"
    assert lifecycle(np.r_[np.ones(100), np.zeros(18)], 52) == "dead"
    assert lifecycle(np.ones(100), 52) == "recurring"
    sporadic = np.zeros(104)
    sporadic[[60, 80, 100]] = 5
    assert lifecycle(sporadic, 52) == "sporadic"
    assert classify(np.ones(100), 52)["lifecycle"] == "recurring"


@pytest.mark.parametrize("months", [9, 10, 11, 12, 30])
def test_a_monthly_history_under_a_year_gets_a_lifecycle_not_an_error(months):
    # NHS regional series that start mid-panel: 9 to 11 months of history crashed the monthly run
    assert lifecycle(np.full(months, 40.0), 12) == "recurring"
    assert lifecycle(np.r_[np.full(months - 4, 40.0), np.zeros(4)], 12) == "dead"
