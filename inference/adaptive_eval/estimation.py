"""Ability estimation for adaptive testing, on a fixed fine grid in log space.

The test keeps ``loglik[g] = sum_k log P(y_k | theta_g)`` over the answered items for every
grid point ``theta_g`` (601 points on [-6, 6], spacing 0.02), updated in O(grid) per answer.
With a normal prior ``N(mu, sd^2)`` the posterior on the grid is ``exp(loglik + log prior)``,
normalised. Estimators read that:

- ``EAP``: posterior mean ``sum_g w_g theta_g``; SE = posterior SD.
- ``MAP``: posterior mode (grid argmax, refined by a parabola through its neighbours);
  SE = ``1 / sqrt(I(theta) + 1 / sd^2)``.
- ``MLE``: likelihood mode, same refinement; SE = ``1 / sqrt(I(theta))``. All-right or all-wrong
  answers have no interior maximum: the estimate stops at the grid bound (finite), not at
  infinity.

``I(theta) = sum_k a_k^2 P_k (1 - P_k)`` is the test information of the answered items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .irt import information

GRID = np.linspace(-6.0, 6.0, 601)


def log_prior(mu: float = 0.0, sd: float = 1.0, tail: float = 0.0, tail_sd: float = 3.0
              ) -> np.ndarray:
    """Log density on ``GRID`` (up to a constant) of ``(1 - tail) N(mu, sd^2) + tail
    N(mu, tail_sd^2)``: a heavy-tailed prior lets a model far outside the calibration models'
    range escape the prior within a few dozen answers."""
    core = np.log1p(-tail) - np.log(sd) - 0.5 * ((GRID - mu) / sd) ** 2
    if tail == 0:
        return core
    return np.logaddexp(core, np.log(tail) - np.log(tail_sd) - 0.5 * ((GRID - mu) / tail_sd) ** 2)


def normalise(log_density: np.ndarray) -> np.ndarray:
    w = np.exp(log_density - log_density.max())
    return w / w.sum()


def posterior_quantile(weights: np.ndarray, q) -> np.ndarray:
    """Quantiles of the grid posterior, linearly interpolated in its CDF."""
    cdf = np.cumsum(weights) - weights / 2
    return np.interp(q, cdf, GRID)


def _refined_argmax(values: np.ndarray) -> float:
    k = int(np.argmax(values))
    if k == 0 or k == len(values) - 1:
        return float(GRID[k])
    left, mid, right = values[k - 1 : k + 2]
    curvature = left - 2 * mid + right
    offset = 0.0 if curvature >= 0 else 0.5 * (left - right) / curvature
    return float(GRID[k] + offset * (GRID[1] - GRID[0]))


@dataclass(frozen=True)
class EAP:
    def estimate(self, loglik, prior, b, a) -> tuple[float, float]:
        w = normalise(loglik + prior)
        mean = float(w @ GRID)
        return mean, float(np.sqrt(w @ (GRID - mean) ** 2))


@dataclass(frozen=True)
class MAP:
    prior_sd: float = 1.0

    def estimate(self, loglik, prior, b, a) -> tuple[float, float]:
        theta = _refined_argmax(loglik + prior)
        info = float(np.sum(information(theta, b, a))) + 1 / self.prior_sd**2
        return theta, 1 / np.sqrt(info)


@dataclass(frozen=True)
class MLE:
    def estimate(self, loglik, prior, b, a) -> tuple[float, float]:
        theta = _refined_argmax(loglik)
        info = float(np.sum(information(theta, b, a)))
        return theta, (1 / np.sqrt(info)) if info > 0 else float("inf")


ESTIMATORS = {"eap": EAP, "map": MAP, "mle": MLE}
