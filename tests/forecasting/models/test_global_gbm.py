"""The global model learns across series: a season seen in many drugs, a level per drug."""

import numpy as np

from turnover.forecasting.models import GlobalGBM


def test_the_global_model_forecasts_each_series_at_its_own_level_and_season():
    rng = np.random.default_rng(0)
    weeks = np.arange(150)  # the last week is week 45 of its year; the peak is at week 50
    distance = np.minimum(np.abs(weeks % 52 - 50), 52 - np.abs(weeks % 52 - 50))
    season = 1 + 3 * np.exp(-0.5 * (distance / 3) ** 2)
    levels = rng.uniform(2, 80, 40)
    panel = [rng.poisson(level * season).astype(float) for level in levels]
    model = GlobalGBM(season_length=52, horizon=13, max_iter=100).fit(panel, [2900] * len(panel))
    points = model.predict_points(list(range(len(panel))), 13)
    small, large = int(np.argmin(levels)), int(np.argmax(levels))
    paths_small = model.sample_paths(small, 13, 400, rng, points[small])
    paths_large = model.sample_paths(large, 13, 400, rng, points[large])
    assert paths_large.mean() > 10 * paths_small.mean()
    assert np.all(paths_small >= 0)
    # Ahead of the peak: the weeks around it are forecast above the weeks just after the cut.
    peak_weeks, start_weeks = paths_large.mean(axis=0)[3:7].mean(), paths_large.mean(axis=0)[:1].mean()
    assert peak_weeks > 1.3 * start_weeks
