"""Every registered model keeps the one contract."""

import numpy as np
import pytest

from turnover.forecasting.models import (
    BORROWED_PROFILE,
    COMBINATION,
    GLOBAL_GBM,
    REGISTRY,
    GlobalGBM,
    NotFittedError,
    SeriesContext,
    make_model,
)
from turnover.forecasting.models.harmonic import fit_yearly_profile

RNG = np.random.default_rng(42)
WEEKS = np.arange(160)
HISTORY = RNG.poisson(20 * (1 + np.exp(-0.5 * (((WEEKS % 52) - 48) / 4) ** 2))).astype(float)


PANEL = [HISTORY, RNG.poisson(5, 160).astype(float), RNG.poisson(50, 120).astype(float)]
GLOBAL = GlobalGBM(season_length=52, horizon=13, max_iter=20).fit(PANEL, [2900, 2900, 2940])
CONTEXT = SeriesContext(
    season_length=52, window=26, members=("moving_average", "exp_smoothing"),
    borrowed=fit_yearly_profile(np.log1p(HISTORY), 365.25 / 7, 6, origin=2900), origin=2900,
    global_sampler=lambda horizon, n_paths, rng: GLOBAL.sample_paths(0, horizon, n_paths, rng),
)


@pytest.fixture(params=[*sorted(REGISTRY), COMBINATION, BORROWED_PROFILE, GLOBAL_GBM])
def model(request):
    return make_model(request.param, CONTEXT)


def test_fit_returns_the_model_and_sets_fitted_state(model):
    assert model.fit(HISTORY) is model
    assert model.n_obs_ == len(HISTORY)


def test_sample_paths_have_the_asked_shape_and_are_never_negative(model):
    paths = model.fit(HISTORY).sample_paths(13, 200, np.random.default_rng(0))
    assert paths.shape == (200, 13)
    assert np.all(paths >= 0) and np.all(np.isfinite(paths))


def test_the_same_seed_gives_the_same_paths(model):
    model.fit(HISTORY)
    a = model.sample_paths(5, 50, np.random.default_rng(7))
    b = model.sample_paths(5, 50, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_sampling_before_fit_is_an_error(model):
    with pytest.raises(NotFittedError):
        model.sample_paths(3, 10, np.random.default_rng(0))


def test_negative_or_missing_history_is_refused(model):
    with pytest.raises(ValueError):
        model.fit(np.r_[HISTORY[:-1], -1.0])
    with pytest.raises(ValueError):
        model.fit(np.r_[HISTORY[:-1], np.nan])
