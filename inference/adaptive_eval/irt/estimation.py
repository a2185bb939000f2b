"""Ability estimation for adaptive testing, on a fixed fine grid in log space.

The test keeps ``loglik[g] = w sum_k log P(y_k | theta_g)`` over the answered items for every
grid point ``theta_g`` (601 points on [-6, 6], spacing ``h = 0.02``), updated in O(grid) per
answer; ``w <= 1`` tempers the likelihood (``AdaptiveTest.likelihood_weight``; ``w = 1``: plain).
With a log prior on the grid the posterior is ``exp(loglik + log prior)``, normalised. Estimators
read those two arrays, so every SE is that of the tempered posterior ``L^w prior``:

- ``EAP``: posterior mean ``sum_g w_g theta_g``; SE = posterior SD.
- ``MAP``: posterior mode (grid argmax, refined by a parabola through its neighbours); SE from
  the curvature there (Laplace), ``1 / sqrt(-d^2/dtheta^2 [loglik + log prior])``, the second
  difference on the grid. For a 2PL ``-d^2/dtheta^2 log L = I(theta)``, so this is
  ``1 / sqrt(w I(theta) + 1 / sd^2)`` under a ``N(mu, sd^2)`` prior, and a heavy-tailed prior's
  own curvature otherwise.
- ``MLE``: likelihood mode, same refinement; SE = ``1 / sqrt(-d^2/dtheta^2 loglik)
  = 1 / sqrt(w I(theta))``. All-right or all-wrong answers have no interior maximum: the estimate
  stops at the grid bound (finite), not at infinity, and the curvature is taken next to it.

``I(theta) = sum_k a_k^2 P_k (1 - P_k)`` is the test information of the answered items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def _mode(values: np.ndarray) -> tuple[float, float]:
    """The argmax of ``values`` on ``GRID``, refined by a parabola through its neighbours, and
    the curvature ``-d^2 values / dtheta^2`` there (the second difference; at a grid bound, at
    its inner neighbour)."""
    k = int(np.argmax(values))
    j = min(max(k, 1), len(values) - 2)
    left, mid, right = values[j - 1 : j + 2]
    second = left - 2 * mid + right
    h = GRID[1] - GRID[0]
    if k != j:  # at a grid bound
        return float(GRID[k]), float(-second / h**2)
    offset = 0.0 if second >= 0 else 0.5 * (left - right) / second
    return float(GRID[k] + offset * h), float(-second / h**2)


def _laplace_se(curvature: float) -> float:
    return 1 / np.sqrt(curvature) if curvature > 0 else float("inf")


@dataclass(frozen=True)
class EAP:
    def estimate(self, loglik: np.ndarray, prior: np.ndarray) -> tuple[float, float]:
        w = normalise(loglik + prior)
        mean = float(w @ GRID)
        return mean, float(np.sqrt(w @ (GRID - mean) ** 2))


@dataclass(frozen=True)
class MAP:
    def estimate(self, loglik: np.ndarray, prior: np.ndarray) -> tuple[float, float]:
        theta, curvature = _mode(loglik + prior)
        return theta, _laplace_se(curvature)


@dataclass(frozen=True)
class MLE:
    def estimate(self, loglik: np.ndarray, prior: np.ndarray) -> tuple[float, float]:
        theta, curvature = _mode(loglik)
        return theta, _laplace_se(curvature)


ESTIMATORS = {"eap": EAP, "map": MAP, "mle": MLE}
