"""Simulated paths of one model for a group of series of equal length: the one place a model meets data.

A group's histories are the rows of ``Y``; ``U`` holds each series' own uniforms (rows x paths x horizon),
drawn from a generator seeded by the series' ids, so a series' paths do not depend on which group,
batch or worker computed it. Models with a batch form (those built on ``BatchBacked``, the borrowed
profile, the global model, combinations of these) are fitted on the whole group at once; the rest
(Holt-Winters, the signal regression) one series at a time, with the series' own generator.
A row whose model cannot be fitted comes back as NaN, for the caller to skip or fall back.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from turnover.forecasting.models import (
    BORROWED_PROFILE,
    COMBINATION,
    GLOBAL_GBM,
    BatchBacked,
    BorrowedProfileBatch,
    ResidualNoise,
    SeriesContext,
    make_model,
    mix_paths,
    stack_profiles,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Group:
    """What fitting a model on a group needs beyond the histories: per row its context and generator, and
    the global model's ``predict_points`` entries where it was fitted (``global_points``, one per row)."""

    contexts: list[SeriesContext]
    rngs: list[np.random.Generator]
    global_points: list[tuple[np.ndarray, float, int]] | None = None
    global_noise: ResidualNoise | None = None

    @property
    def season_length(self) -> int:
        return self.contexts[0].season_length


def min_history(name: str, context: SeriesContext) -> int | None:
    """Fewest periods model ``name`` accepts in ``context``; None when it cannot be built there."""
    try:
        return make_model(name, context).min_history
    except ValueError:
        return None


#: No simulated period above this multiple of the most the history ever saw in a period (at least one unit).
#: A log-scale model simulates its level as a random walk: on a short, volatile history (a new item's
#: 0, 13, 70, 111, 8 ...) its paths' mean grew threefold a month, to millions a year ahead (PBS, MASE 122,937).
PATH_CAP_MULTIPLE = 5.0


def group_paths(name: str, Y: np.ndarray, U: np.ndarray, group: Group) -> np.ndarray:
    """Paths ``(rows, paths, horizon)`` of model ``name`` fitted on each row of ``Y``; NaN rows where it failed.
    Each row's paths are capped at ``PATH_CAP_MULTIPLE`` times the most its history saw in a period."""
    return cap_paths(_group_paths(name, Y, U, group), Y)


def cap_paths(paths: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``paths`` (rows, paths, horizon; or one series' paths, horizon) at most ``PATH_CAP_MULTIPLE`` times the
    most each row of ``Y`` (its history) saw in a period, at least one unit; NaN (a failed fit) stays NaN."""
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    peak = np.nanmax(np.where(np.isfinite(Y), Y, np.nan), axis=1, initial=0.0)
    cap = (PATH_CAP_MULTIPLE * np.maximum(peak, 1.0)).astype(paths.dtype)
    return np.minimum(paths, cap.reshape(len(cap), *[1] * (paths.ndim - 1)) if paths.ndim == 3 else cap[0])


def _group_paths(name: str, Y: np.ndarray, U: np.ndarray, group: Group) -> np.ndarray:
    if name == BORROWED_PROFILE:  # each row brings its own (its drug's) profile
        if not all(c.borrowed is not None for c in group.contexts):
            return _one_at_a_time(name, Y, U, group)
        profiles = stack_profiles([c.borrowed for c in group.contexts])
        origins = np.array([c.origin for c in group.contexts])
        return BorrowedProfileBatch(profiles, origins).fit(Y).sample_paths(U)
    if name == GLOBAL_GBM:
        if group.global_points is None or group.global_noise is None:
            return np.full(U.shape, np.nan, dtype=np.float32)
        return group.global_noise.paths(group.global_points, U)
    if name == COMBINATION:
        members = [m for m in group.contexts[0].members if (least := min_history(m, group.contexts[0])) is not None
                   and Y.shape[1] >= least]
        if not members:
            return np.full(U.shape, np.nan, dtype=np.float32)
        return mix_paths([group_paths(m, Y, U, group) for m in members])
    try:
        model = make_model(name, group.contexts[0])
    except ValueError:
        model = None
    if isinstance(model, BatchBacked):
        return model.batch().fit(Y).sample_paths(U)
    return _one_at_a_time(name, Y, U, group)


def _one_at_a_time(name: str, Y: np.ndarray, U: np.ndarray, group: Group) -> np.ndarray:
    out = np.full(U.shape, np.nan, dtype=np.float32)
    for i, (context, rng) in enumerate(zip(group.contexts, group.rngs, strict=True)):
        try:
            out[i] = make_model(name, context).fit(Y[i]).sample_paths(U.shape[2], U.shape[1], rng)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.debug("%s failed on a series (%s)", name, exc)
    return out


@contextmanager
def quiet_fitting():
    """Silence the optimiser's convergence notes on short, noisy series: backtests judge accuracy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
