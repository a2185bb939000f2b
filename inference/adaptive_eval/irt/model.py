"""Item response theory maths: pure, vectorised functions on numpy arrays (they broadcast).

Difficulty ``b`` (higher is harder), discrimination ``a`` (Rasch: ``a = 1``), ability ``theta``:

    P(correct | theta) = sigmoid(a * (theta - b))                       (2PL; Rasch with a = 1)
    I(theta)           = a**2 * P * (1 - P)                              (Fisher information)
    log L              = y * log P + (1 - y) * log(1 - P)
                       = y * z - softplus(z),   z = a * (theta - b)      (stable in log space;
                                                 a graded y in [0, 1]: the quasi-likelihood)
    E_b[P]             ~= sigmoid(a' (theta - b)),  a' = a / sqrt(1 + pi a^2 se_b^2 / 8)
                                                    (P marginalised over b ~ N(b, se_b^2))
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
    """Bernoulli log-likelihood of answers ``y`` (0/1), computed without under/overflow.

    A graded ``y`` in [0, 1] gives the fractional-Bernoulli quasi-log-likelihood
    ``y log P + (1 - y) log(1 - P)``, whose maximiser makes ``P`` the expected score; 0 and 1
    take exactly the binary branch, so binary answers give the same values bit for bit."""
    y = np.asarray(y)
    z = logit(theta, b, a)
    binary = np.where(y > 0, log_expit(z), log_expit(-z))
    if y.dtype.kind != "f" or np.isin(y, (0.0, 1.0)).all():
        return binary
    graded = y * log_expit(z) + (1 - y) * log_expit(-z)
    return np.where((y == 0) | (y == 1), binary, graded)


def information(theta, b, a=1.0):
    """Fisher information of an item at ``theta``: ``a**2 * P * (1 - P) = a**2 / (2 + 2 cosh z)``.

    One transcendental per item, in the arrays' own precision: float32 ``b`` and ``a`` keep it
    float32, which is what makes scoring a large bank cheap.
    """
    with np.errstate(over="ignore"):  # cosh overflows to inf for |z| > ~89: information 0
        return np.square(a) / (2.0 + 2.0 * np.cosh(logit(theta, b, a)))


def marginal_a(a, b_se):
    """``a' = a / sqrt(1 + pi a^2 se_b^2 / 8)``: the slope of ``P`` marginalised over the
    difficulty's calibration uncertainty (module docstring; the probit approximation)."""
    a = np.asarray(a, dtype=np.float64)
    return a / np.sqrt(1 + np.pi * a**2 * np.square(b_se) / 8)


def mean_prob_per_examinee(theta, b, a, examinee, item, n_examinees: int) -> np.ndarray:
    """Per examinee ``j``, the mean of ``P_i(theta_j)`` over the items it answered:
    ``sum_{cells (j, i)} P_i(theta_j) / n_j`` (``examinee``, ``item``: the cells' indices;
    NaN for an examinee without cells)."""
    examinee, item = np.asarray(examinee, np.intp), np.asarray(item, np.intp)
    p = prob(np.asarray(theta)[examinee], np.asarray(b)[item], np.asarray(a)[item])
    count = np.bincount(examinee, minlength=n_examinees)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(examinee, p, n_examinees) / count


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x`` and weights ``w`` with ``sum(w * f(x)) ~= E[f(X)]`` for ``X ~ N(0, 1)``."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / w.sum()
