"""An equal-weight combination of models: the simple benchmark that forecasting competitions keep
finding hard to beat (Makridakis, Spiliotis & Assimakopoulos 2020, "The M4 Competition", *IJF* 36(1):
the median of SES, Holt and damped ("Comb") beat most single methods).

Paths: an equal mixture, path k taken from member k mod m. The mixture's mean is the average of the
members' means; its spread includes their disagreement, which a combination of point forecasts
hides. Mixing whole paths keeps each path's joint structure over the periods, so sums over a lead
time stay honest.
"""

from __future__ import annotations

import numpy as np

from turnover.models.base import DemandModel


def mix_paths(member_paths: list[np.ndarray], n_paths: int) -> np.ndarray:
    """Equal mixture: path k from member k mod m (each member's paths are already random draws)."""
    m = len(member_paths)
    rows = [member_paths[k % m][k // m] for k in range(n_paths)]
    return np.vstack(rows)


class Combination(DemandModel):
    """Equal mixture of ``members`` (fitted models that fail are left out)."""

    def __init__(self, members: list[DemandModel]):
        self.members = members

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return min(m.min_history for m in self.members)

    def _fit(self, y: np.ndarray) -> None:
        fitted = []
        for member in self.members:
            if len(y) < member.min_history:
                continue
            try:
                fitted.append(member.fit(y))
            except (ValueError, np.linalg.LinAlgError):
                continue
        if not fitted:
            raise ValueError("Combination: no member could be fitted")
        self.fitted_ = fitted

    def _sample(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        per_member = -(-n_paths // len(self.fitted_))
        return mix_paths([m.sample_paths(horizon, per_member, rng) for m in self.fitted_], n_paths)
