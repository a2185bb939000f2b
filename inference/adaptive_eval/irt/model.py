"""Item response theory maths: pure, vectorised functions on numpy arrays (they broadcast).

Difficulty ``b`` (higher is harder), discrimination ``a`` (Rasch: ``a = 1``), ability ``theta``:

    P(correct | theta) = sigmoid(a * (theta - b))                       (2PL; Rasch with a = 1)
    I(theta)           = a**2 * P * (1 - P)                              (Fisher information)
    log L              = y * log P + (1 - y) * log(1 - P)
                       = y * z - softplus(z),   z = a * (theta - b)      (stable in log space)
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit


def logit(theta, b, a=1.0):
    """``z = a * (theta - b)``."""
    return np.multiply(a, np.subtract(theta, b))


def prob(theta, b, a=1.0):
    """``P(correct) = sigmoid(a * (theta - b))``."""
    return expit(logit(theta, b, a))


def log_likelihood(y, theta, b, a=1.0):
    """Bernoulli log-likelihood of answers ``y`` (0/1), computed without under/overflow."""
    z = logit(theta, b, a)
    return np.where(np.asarray(y) > 0, log_expit(z), log_expit(-z))


def information(theta, b, a=1.0):
    """Fisher information of an item at ``theta``: ``a**2 * P * (1 - P) = a**2 / (2 + 2 cosh z)``.

    One transcendental per item, in the arrays' own precision: float32 ``b`` and ``a`` keep it
    float32, which is what makes scoring a large bank cheap.
    """
    with np.errstate(over="ignore"):  # cosh overflows to inf for |z| > ~89: information 0
        return np.square(a) / (2.0 + 2.0 * np.cosh(logit(theta, b, a)))


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x`` and weights ``w`` with ``sum(w * f(x)) ~= E[f(X)]`` for ``X ~ N(0, 1)``."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / w.sum()
