"""Demand models fitted on many series at once: one numpy operation over a batch instead of a fit per series.

Every model of the registry (but Holt-Winters, whose 52 seasonal states are statsmodels' job) is written
here once, for a batch of histories of equal length: ``Y`` of shape ``(series, periods)``. The
per-series classes (``DynamicHarmonic``, ``TSB``, ...) are these with one row, so a model has one
implementation whichever way it is called.

Contract (scikit-learn style): settings in ``__init__``; ``fit(Y)`` returns ``self``; fitted state ends in
``_``; ``sample_paths(U)`` turns uniforms ``U`` in [0, 1), shape ``(series, paths, horizon)``, into
simulated demand of the same shape, never negative. The caller owns the randomness: one uniform per
path and period is all any model here needs (a bootstrap index, a resampled error, or "used this
period?" with the size index read from the same uniform), so a series' paths depend only on its own
uniforms, whichever batch it was computed in.

Simple exponential smoothing (SES) is the workhorse (the level of ``exp_smoothing``,
``dynamic_harmonic``, ``borrowed_profile`` and ``signal_regression``): its start is fixed at the mean
of the first periods and its weight alpha minimises the one-step squared error, as statsmodels'
``ExponentialSmoothing(initialization_method="known").fit()`` does, found here by a grid over [0, 1]
(step 0.05) refined around the best (step 0.005) for every series of the batch at once.

Errors are resampled from the in-sample residuals, but only from the periods whose one-step fit (on the
log scale, season included) was nearest the level the future period is expected at
(:func:`take_nearest`). On ``log1p`` counts the noise is not the same at every level: a lumpy drug's
quiet weeks (0, 10 or 20 units) leave residuals of +-2 on the log scale, its busy weeks (200 to 400)
of +-0.5. Resampled without regard to level, the quiet weeks' residuals multiplied the flu peak by
up to e^2.3 = 10 (oseltamivir's par of 1,606 for 9 days against a largest week of 400). Resampling
residuals conditionally on the forecast level is how Pinson & Kariniotakis (2010, "Conditional
prediction intervals of wind power generation", IEEE Trans. Power Systems 25(4)) keep intervals
honest for a variable whose noise depends on its level.
"""

from __future__ import annotations

import numpy as np

from turnover.forecasting.models.profiles import (
    MAX_HARMONICS,
    YEAR_IN_PERIODS,
    Profiles,
    as_batch,
)

# The first residuals still carry the initial state's error; resampling them into the future lets a
# bad start (a level estimated at 0.07 on a series near 7, seen on real fits) blow paths up.
BURN_IN = 8
#: Residuals a future period draws from: those of the periods fitted nearest its level, at least this many
#: (half a year of weekly ones) and this share of the pool; a history with fewer resamples all of them.
NEAREST_MIN = 26
NEAREST_SHARE = 1 / 3
_COARSE = np.linspace(0.0, 1.0, 21)
_FINE = np.linspace(-0.05, 0.05, 21)


def by_length(histories, indices=None) -> dict[int, list[int]]:
    """Positions of the histories (of ``indices``, default all) grouped by length: the batches of rows."""
    groups: dict[int, list[int]] = {}
    for i in range(len(histories)) if indices is None else indices:
        groups.setdefault(len(histories[i]), []).append(i)
    return groups


def take_uniform(pool: np.ndarray, counts: np.ndarray | int, U: np.ndarray) -> np.ndarray:
    """``pool[row, floor(U * count)]`` for each row: resampling with replacement from the first ``counts``
    entries of each row of ``pool`` (``U``: ``(rows, paths, horizon)``)."""
    counts = np.broadcast_to(np.asarray(counts), (pool.shape[0],))
    index = np.minimum((U * counts[:, None, None]).astype(np.int64), np.maximum(counts, 1)[:, None, None] - 1)
    rows = np.arange(pool.shape[0])[:, None, None]
    return pool[rows, index]


def take_nearest(pool: np.ndarray, fitted: np.ndarray, centers: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Residuals resampled by level: for each row and future period ``h``, ``pool[row, j]`` with ``j`` drawn
    (by ``U``, as :func:`take_uniform`) among the residuals whose in-sample fit ``fitted[row, j]`` is nearest
    ``centers[row, h]`` (the period's expected log-scale level); ``max(NEAREST_MIN, NEAREST_SHARE x pool)`` of
    them, or all when the pool is smaller (then it is :func:`take_uniform`)."""
    size = pool.shape[1]
    k = min(size, max(NEAREST_MIN, int(np.ceil(NEAREST_SHARE * size))))
    if k >= size:
        return take_uniform(pool, size, U)
    distance = np.abs(fitted[:, None, :] - centers[:, :, None])  # rows x horizon x pool
    nearest = np.argsort(distance, axis=2, kind="stable")[:, :, :k]
    pick = np.minimum((U * k).astype(np.int64), k - 1)  # rows x paths x horizon
    horizon = np.arange(U.shape[2])[None, None, :]
    rows = np.arange(pool.shape[0])[:, None, None]
    return pool[rows, nearest[rows, horizon, pick]]


# --- simple exponential smoothing -------------------------------------------------------------------------


def _sse(Z: np.ndarray, start: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """One-step squared error of SES with weights ``alphas`` (rows x candidates), started at ``start``."""
    level = np.repeat(start[:, None], alphas.shape[1], axis=1)
    sse = np.zeros_like(level)
    for t in range(Z.shape[1]):
        error = Z[:, t, None] - level
        sse += error * error
        level += alphas * error
    return sse


def _parabolic_minimum(x: np.ndarray, f: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, the minimum of the parabola through the grid's best point ``k`` and its two neighbours (the
    grid point itself at an edge or where the three do not curve upwards): the optimiser's last step."""
    rows = np.arange(len(x))
    inner = (k > 0) & (k < x.shape[1] - 1)
    a, b, c = (x[rows, np.clip(k + d, 0, x.shape[1] - 1)] for d in (-1, 0, 1))
    fa, fb, fc = (f[rows, np.clip(k + d, 0, x.shape[1] - 1)] for d in (-1, 0, 1))
    denominator = (b - a) * (fb - fc) - (b - c) * (fb - fa)
    numerator = (b - a) ** 2 * (fb - fc) - (b - c) ** 2 * (fb - fa)
    curved = inner & (denominator < 0) & (fa >= fb) & (fc >= fb)
    step = np.divide(numerator, denominator, out=np.zeros(len(x)), where=curved)
    return np.where(curved, np.clip(b - 0.5 * step, a, c), b)


class SES:
    """Simple exponential smoothing of each row of ``Z`` (already on the log scale).

    ``offset`` is what was taken out of the log-scale series before smoothing (a yearly profile, a signal's
    effect; zero by default): ``fitted_`` is the one-step fit with it put back, the level each residual
    was made at."""

    def fit(self, Z: np.ndarray, offset: np.ndarray | float = 0.0) -> SES:
        Z = as_batch(Z)
        start = Z[:, : min(BURN_IN, Z.shape[1])].mean(axis=1)
        coarse = np.broadcast_to(_COARSE, (len(Z), len(_COARSE)))
        best = _COARSE[np.argmin(_sse(Z, start, coarse), axis=1)]
        fine = np.clip(best[:, None] + _FINE, 0.0, 1.0)
        sse = _sse(Z, start, fine)
        k = np.argmin(sse, axis=1)
        self.alpha_ = _parabolic_minimum(fine, sse, k)
        level, resid = start.copy(), np.empty_like(Z)
        for t in range(Z.shape[1]):
            resid[:, t] = Z[:, t] - level
            level += self.alpha_ * resid[:, t]
        self.level_, self.resid_ = level, resid
        self.fitted_ = Z - resid + offset
        return self

    def sample_paths(self, U: np.ndarray, future: np.ndarray | None = None) -> np.ndarray:
        """Log-scale paths driven by errors resampled from the in-sample residuals after a burn-in, each
        period's from the periods fitted nearest its level (:func:`take_nearest`):
        ``z_h = l_{h-1} + e_h + future_h``, ``l_h = l_{h-1} + alpha e_h``; ``future`` (rows x horizon) is
        the offset ahead (zero by default)."""
        n = self.resid_.shape[1]
        skip = min(BURN_IN, n // 4)
        future = np.zeros((len(self.level_), U.shape[2])) if future is None else future
        errors = take_nearest(self.resid_[:, skip:], self.fitted_[:, skip:], self.level_[:, None] + future, U)
        before = np.cumsum(errors, axis=2) - errors
        return self.level_[:, None, None] + self.alpha_[:, None, None] * before + errors + future[:, None, :]


# --- yearly Fourier profile ---------------------------------------------------------------------------------


class BatchModel:
    """Base: ``fit(Y)`` on ``(series, periods)`` histories, ``sample_paths(U)`` -> ``(series, paths, horizon)``."""

    min_history: int = 1

    def fit(self, Y: np.ndarray) -> BatchModel:
        self._fit(as_batch(Y))
        self.n_obs_ = as_batch(Y).shape[1]
        return self

    def sample_paths(self, U: np.ndarray) -> np.ndarray:
        """Paths as float32: a unit count to 7 significant digits, and half the memory and sorting time."""
        paths = self._sample(np.asarray(U))
        return np.clip(np.nan_to_num(paths, nan=0.0, posinf=0.0), 0.0, None).astype(np.float32)

    def _fit(self, Y: np.ndarray) -> None:
        raise NotImplementedError

    def _sample(self, U: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ExpSmoothingBatch(BatchModel):
    """SES of ``log1p(y)``, paths back-transformed with ``expm1`` path by path."""

    min_history = 4

    def _fit(self, Y: np.ndarray) -> None:
        self.level_ = SES().fit(np.log1p(Y))

    def _sample(self, U: np.ndarray) -> np.ndarray:
        return np.expm1(self.level_.sample_paths(U))


class HarmonicBatch(BatchModel):
    """Dynamic harmonic regression: a Fourier yearly profile (K by BIC) + SES of the level, on ``log1p(y)``."""

    level_model: type = SES  # what smooths the level left after the profile (``harmonic_trend``: a damped trend)

    def __init__(self, season_length: int = 52, max_harmonics: int = MAX_HARMONICS):
        self.season_length = season_length
        self.max_harmonics = max_harmonics

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.season_length + 1

    def _fit(self, Y: np.ndarray) -> None:
        Z = np.log1p(Y)
        period = YEAR_IN_PERIODS.get(self.season_length, float(self.season_length))
        self.profile_ = Profiles(period, min(self.max_harmonics, self.season_length // 2)).fit(Z)
        season = self.profile_.at(np.arange(Z.shape[1]))
        self.level_ = self.level_model().fit(Z - season, season)

    def _sample(self, U: np.ndarray) -> np.ndarray:
        future = self.profile_.at(self.n_obs_ + np.arange(U.shape[2]))
        return np.expm1(self.level_.sample_paths(U, future))


class BorrowedProfileBatch(BatchModel):
    """A yearly profile given per row (the siblings' mean, on absolute indices) + SES of the row's own level."""

    min_history = 4

    def __init__(self, profiles: Profiles, origins: np.ndarray):
        self.profiles = profiles
        self.origins = origins

    def _shifted(self) -> Profiles:
        shifted = self.profiles.rows(np.arange(len(self.origins)))
        shifted.origin_ = np.asarray(self.origins, dtype=float)
        return shifted

    def _fit(self, Y: np.ndarray) -> None:
        self.profile_ = self._shifted()
        season = self.profile_.at(np.arange(Y.shape[1]))
        self.level_ = SES().fit(np.log1p(Y) - season, season)

    def _sample(self, U: np.ndarray) -> np.ndarray:
        future = self.profile_.at(self.n_obs_ + np.arange(U.shape[2]))
        return np.expm1(self.level_.sample_paths(U, future))


class SeasonalNaiveBatch(BatchModel):
    """Next year's period = this year's same period, plus resampled seasonal differences."""

    def __init__(self, season_length: int = 52):
        self.season_length = season_length

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.season_length + 2

    def _fit(self, Y: np.ndarray) -> None:
        m = self.season_length
        self.last_season_ = Y[:, -m:].copy()
        self.residuals_ = Y[:, m:] - Y[:, :-m]

    def _sample(self, U: np.ndarray) -> np.ndarray:
        horizon = U.shape[2]
        point = self.last_season_[:, np.arange(horizon) % self.season_length]
        return point[:, None, :] + take_uniform(self.residuals_, self.residuals_.shape[1], U)


class MovingAverageBatch(BatchModel):
    """The mean of the last ``window`` periods, flat, plus resampled one-step errors of the same rule."""

    min_history = 2

    def __init__(self, window: int = 13):
        self.window = window

    def _fit(self, Y: np.ndarray) -> None:
        n = Y.shape[1]
        w = min(self.window, n - 1)
        self.level_ = Y[:, -w:].mean(axis=1)
        csum = np.concatenate([np.zeros((len(Y), 1)), np.cumsum(Y, axis=1)], axis=1)
        means = (csum[:, w:n] - csum[:, : n - w]) / w  # mean of y[t-w:t] for t = w .. n-1
        self.residuals_ = Y[:, w:] - means

    def _sample(self, U: np.ndarray) -> np.ndarray:
        return self.level_[:, None, None] + take_uniform(self.residuals_, self.residuals_.shape[1], U)


class BootstrapBatch(BatchModel):
    """Resample the last ``window`` periods with replacement (zeros included)."""

    def __init__(self, window: int = 26):
        self.window = window

    def _fit(self, Y: np.ndarray) -> None:
        self.recent_ = Y[:, -self.window :].copy()

    def _sample(self, U: np.ndarray) -> np.ndarray:
        return take_uniform(self.recent_, self.recent_.shape[1], U)


class NoHistoryBatch(BatchModel):
    """Nothing to learn from: zero demand (the policy then applies the catalog minimum)."""

    min_history = 0

    def _fit(self, Y: np.ndarray) -> None:
        pass

    def _sample(self, U: np.ndarray) -> np.ndarray:
        return np.zeros(U.shape)


def smooth_rows(values: np.ndarray, alpha: float, where: np.ndarray | None = None) -> np.ndarray:
    """Exponential smoothing of each row started at its first value (at its first ``where`` value, and
    updated only where ``where``): the intermittent methods' fixed-alpha smoother."""
    where = np.ones(values.shape, dtype=bool) if where is None else where
    level = np.full(len(values), np.nan)
    for t in range(values.shape[1]):
        v = values[:, t]
        updated = np.where(np.isnan(level), v, level + alpha * (v - level))
        level = np.where(where[:, t], updated, level)
    return level


class _SizeOccurrenceBatch(BatchModel):
    """Paths from a per-period probability of use and a mean size: a period is used when its uniform is
    below the probability, and its size is drawn (from the row's own non-zero sizes, rescaled to the
    method's mean size) with the same uniform divided by the probability, uniform again given use."""

    def _sizes(self, Y: np.ndarray) -> None:
        nonzero = Y > 0
        order = np.argsort(~nonzero, axis=1, kind="stable")  # non-zero sizes first, in time order
        self.sizes_ = np.take_along_axis(Y, order, axis=1)
        self.n_sizes_ = nonzero.sum(axis=1)

    def _sample(self, U: np.ndarray) -> np.ndarray:
        p = self.probability_[:, None, None]
        used = (U < p) & (self.n_sizes_ > 0)[:, None, None]
        given_use = np.divide(U, p, out=np.zeros_like(U, dtype=float), where=p > 0)
        mean_size = np.divide(self.sizes_.sum(axis=1), self.n_sizes_, out=np.ones(len(p)), where=self.n_sizes_ > 0)
        factor = np.divide(self.size_, mean_size, out=np.zeros(len(p)), where=mean_size > 0)
        sizes = take_uniform(self.sizes_, self.n_sizes_, given_use) * factor[:, None, None]
        return np.where(used, sizes, 0.0)


class CrostonSBABatch(_SizeOccurrenceBatch):
    """Croston's method with the Syntetos-Boylan bias correction: rate = (1 - alpha/2) z / p."""

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    def _fit(self, Y: np.ndarray) -> None:
        self._sizes(Y)
        nonzero = Y > 0
        # the interval ending at each use: periods since the previous use (the first counts from -1)
        t = np.arange(Y.shape[1])
        last = np.maximum.accumulate(np.where(nonzero, t, -1), axis=1)
        previous = np.concatenate([np.full((len(Y), 1), -1), last[:, :-1]], axis=1)
        intervals = (t - previous).astype(float)
        interval = np.maximum(np.nan_to_num(smooth_rows(intervals, self.alpha, nonzero), nan=1.0), 1.0)
        size = np.nan_to_num(smooth_rows(Y, self.alpha, nonzero), nan=0.0)
        self.size_ = size * (1 - self.alpha / 2)
        self.probability_ = np.where(self.n_sizes_ > 0, 1.0 / interval, 0.0)


class TSBBatch(_SizeOccurrenceBatch):
    """Teunter-Syntetos-Babai: smoothed probability of use (every period) times smoothed size (on use)."""

    def __init__(self, alpha: float = 0.1, beta: float = 0.1):
        self.alpha = alpha
        self.beta = beta

    def _fit(self, Y: np.ndarray) -> None:
        self._sizes(Y)
        self.probability_ = np.clip(smooth_rows((Y > 0).astype(float), self.beta), 0.0, 1.0)
        self.size_ = np.nan_to_num(smooth_rows(Y, self.alpha, Y > 0), nan=0.0)


def mix_paths(member_paths: list[np.ndarray]) -> np.ndarray:
    """Equal mixture along the path axis: path k from member k mod m (each member's paths are already
    random draws; every member was driven by the same uniforms, so path k of the mixture uses uniform row k)."""
    m = len(member_paths)
    out = np.empty_like(member_paths[0])
    for j, paths in enumerate(member_paths):
        out[..., j::m, :] = paths[..., j::m, :]
    return out
