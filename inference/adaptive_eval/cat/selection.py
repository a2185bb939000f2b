"""Item selection rules for adaptive testing: each scores the candidate items (higher is better).

- ``MaxInfo``: Fisher information at the current estimate, ``a^2 P (1 - P)``.
- ``KL``: posterior-weighted Kullback-Leibler information (Chang & Ying 1996),
  ``sum_g w_g KL(P_i(theta_hat) || P_i(theta_g))`` over 9 posterior quantiles ``theta_g``:
  robust early, when the estimate is still poor.
- ``RandomSelection``: uniform scores (a random item).

The test composes them with the item filters (``filters.py``): content balancing (candidates
restricted to the category furthest below its share), the twin discount and exposure control
(randomesque: a random pick among the top ``k``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ..irt.model import information

QUANTILES = np.linspace(0.05, 0.95, 9)


@dataclass(frozen=True)
class MaxInfo:
    def scores(self, theta, posterior_points, b, a, rng) -> np.ndarray:
        return information(theta, b, a)


@dataclass(frozen=True)
class KL:
    def scores(self, theta, posterior_points, b, a, rng) -> np.ndarray:
        p = expit(a * (theta - b))[:, None]
        q = expit(a[:, None] * (posterior_points[None, :] - b[:, None]))
        eps = 1e-12
        kl = p * np.log((p + eps) / (q + eps)) + (1 - p) * np.log((1 - p + eps) / (1 - q + eps))
        return kl.mean(axis=1)


@dataclass(frozen=True)
class RandomSelection:
    def scores(self, theta, posterior_points, b, a, rng) -> np.ndarray:
        return rng.random(len(b))


SELECTORS = {"fisher": MaxInfo, "kl": KL, "random": RandomSelection}
