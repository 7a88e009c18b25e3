"""Yearly profiles fitted on many series at once: per row a few sine / cosine pairs (chosen by BIC) on absolute
period indices, so a profile fitted at one location reads in another's calendar (the dynamic harmonic model's
season, and the sibling profile a new item borrows); their stacking and per-group means."""

from __future__ import annotations

import numpy as np

YEAR_IN_PERIODS = {52: 365.25 / 7, 12: 12.0}
MAX_HARMONICS = 6  # up to six sine/cosine pairs: enough for a peak a few weeks wide


def as_batch(Y: np.ndarray) -> np.ndarray:
    """``Y`` as a float 2-D array of histories (validation is the per-series contract's job)."""
    Y = np.asarray(Y, dtype=float)
    return Y[None, :] if Y.ndim == 1 else Y


def fourier_terms(t: np.ndarray, period: float, harmonics: int) -> np.ndarray:
    """``[sin(2 pi k t / period), cos(2 pi k t / period)]`` for k = 1..harmonics, shape (len(t), 2K)."""
    if harmonics == 0:
        return np.empty((len(t), 0))
    angles = 2 * np.pi * np.outer(t, np.arange(1, harmonics + 1)) / period
    return np.hstack([np.sin(angles), np.cos(angles)])


class Profiles:
    """Yearly profiles of a batch: per row K sine / cosine pairs (K by BIC, 0 .. max), on absolute indices.

    ``sin_`` and ``cos_`` are ``(rows, max_harmonics)`` coefficients (zero beyond a row's K), ``origin_``
    the absolute index of each row's first period, ``residual_`` what intercept, drift and profile leave.
    """

    def __init__(self, period: float, max_harmonics: int = MAX_HARMONICS):
        self.period = period
        self.max_harmonics = max_harmonics

    def fit(self, Z: np.ndarray, origin: np.ndarray | int = 0) -> Profiles:
        """OLS of each row on intercept, drift and K Fourier pairs, for every K; the K of least BIC per row."""
        Z = as_batch(Z)
        rows, n = Z.shape
        origin = np.broadcast_to(np.asarray(origin, dtype=float), (rows,))
        t = np.arange(n, dtype=float)
        base = np.column_stack([np.ones(n), t / n])
        best_bic = np.full(rows, np.inf)
        self.harmonics_ = np.zeros(rows, dtype=int)
        self.sin_ = np.zeros((rows, self.max_harmonics))
        self.cos_ = np.zeros((rows, self.max_harmonics))
        self.residual_ = np.zeros_like(Z)
        # Rows sharing an origin share the design matrices: one least-squares solve per origin and K.
        for o in np.unique(origin):
            at = np.flatnonzero(origin == o)
            for k in range(self.max_harmonics + 1):
                design = np.hstack([base, fourier_terms(t + o, self.period, k)])
                coef, *_ = np.linalg.lstsq(design, Z[at].T, rcond=None)
                residual = Z[at] - (design @ coef).T
                ssr = np.maximum(np.einsum("ij,ij->i", residual, residual), 1e-12)
                bic = n * np.log(ssr / n) + design.shape[1] * np.log(n)
                better = bic < best_bic[at]
                if not better.any():
                    continue
                chosen = at[better]
                best_bic[chosen] = bic[better]
                self.harmonics_[chosen] = k
                self.sin_[chosen], self.cos_[chosen] = 0.0, 0.0
                self.sin_[chosen, :k] = coef[2 : 2 + k, better].T
                self.cos_[chosen, :k] = coef[2 + k :, better].T
                self.residual_[chosen] = residual[better]
        self.origin_ = origin
        return self

    def at(self, t: np.ndarray) -> np.ndarray:
        """Each row's profile at periods ``t`` counted from the row's first period: ``(rows, len(t))``.

        Rows sharing an origin (all of a group of equal-length series) share one Fourier basis."""
        t = np.asarray(t, dtype=float)
        out = np.empty((len(self.origin_), len(t)))
        k = np.arange(1, self.max_harmonics + 1)
        for origin in np.unique(self.origin_):
            rows = np.flatnonzero(self.origin_ == origin)
            angles = 2 * np.pi * np.outer(origin + t, k) / self.period
            out[rows] = self.sin_[rows] @ np.sin(angles).T + self.cos_[rows] @ np.cos(angles).T
        return out

    def strength(self) -> np.ndarray:
        """max(0, 1 - Var(R) / Var(S + R)) per row over the fitted span (FPP3 sec. 4.3), S the profile."""
        season = self.at(np.arange(self.residual_.shape[1]))
        total = np.var(season + self.residual_, axis=1)
        ratio = np.divide(np.var(self.residual_, axis=1), total, out=np.ones_like(total), where=total > 0)
        return np.where(total > 0, np.maximum(0.0, 1 - ratio), 0.0)

    def rows(self, index: np.ndarray) -> Profiles:
        """The profiles of rows ``index`` (for a borrowed profile: one row per series)."""
        out = Profiles(self.period, self.max_harmonics)
        out.harmonics_, out.sin_, out.cos_ = self.harmonics_[index], self.sin_[index], self.cos_[index]
        out.origin_, out.residual_ = self.origin_[index], self.residual_[index]
        return out


def stack_profiles(profiles: list[Profiles]) -> Profiles:
    """One batch of the rows of several (one-row) profiles fitted with the same settings."""
    out = Profiles(profiles[0].period, profiles[0].max_harmonics)
    for name in ("harmonics_", "sin_", "cos_", "origin_"):
        setattr(out, name, np.concatenate([getattr(p, name) for p in profiles]))
    out.residual_ = np.zeros((len(out.origin_), 0))
    return out


def mean_profiles(profiles: Profiles, groups: np.ndarray) -> tuple[np.ndarray, Profiles]:
    """The mean profile of the rows in each group (mean Fourier coefficients on absolute indices):
    ``(group labels, one row per group)``."""
    labels, inverse = np.unique(groups, return_inverse=True)
    count = np.bincount(inverse, minlength=len(labels))[:, None]
    out = Profiles(profiles.period, profiles.max_harmonics)
    out.sin_ = np.zeros((len(labels), profiles.max_harmonics))
    out.cos_ = np.zeros_like(out.sin_)
    np.add.at(out.sin_, inverse, profiles.sin_)
    np.add.at(out.cos_, inverse, profiles.cos_)
    out.sin_, out.cos_ = out.sin_ / count, out.cos_ / count
    out.harmonics_ = np.zeros(len(labels), dtype=int)
    np.maximum.at(out.harmonics_, inverse, profiles.harmonics_)
    out.origin_ = np.zeros(len(labels))
    out.residual_ = np.zeros((len(labels), 0))
    return labels, out


# --- the models ---------------------------------------------------------------------------------------------
