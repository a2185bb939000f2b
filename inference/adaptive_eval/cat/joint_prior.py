"""The joint prior of a suite's banks: each bank's prior conditioned on the others' answers.

Standardised units. Each bank's calibration puts its models wherever its priors and data do
(mean theta from about -1.9 to +2.4 on the shipped banks, ``calibration.py``), so the suite works
with ``z_k = (theta_k - mu_k) / sd_k``, ``(mu_k, sd_k)`` bank ``k``'s test prior (by default its
calibration population, ``ItemBank.population``). The standardised abilities ``z = (z_1..z_K)``
are ``N(0, R)``: unit variances and correlations ``R_jk`` estimated from the calibration models
present in both banks (``bank.abilities``, matched by identical model name): the Pearson
correlation of their thetas when at least ``min_shared`` (5) models are shared, else 0. ``R`` is
clipped to positive definite (eigenvalues at least ``min_eigenvalue``, then rescaled to a unit
diagonal).

It is used through Gaussian messages. Each bank ``j`` summarises its tempered log-likelihood
``w log L_j`` on the grid by a Gaussian pseudo-observation ``m_j ~ N(z_j, 1 / p_j)``: the
moments ``(mu_j, s_j^2)`` in ``z_j`` of ``L_j^w N(0, 1)`` (``N(mu_j, sd_j^2)`` in theta) on the
grid, divided by the N(0, 1) prior, ``p_j = max(1 / s_j^2 - 1, 0)``, ``m_j = mu_j / (s_j^2 p_j)``
(no answers: ``p_j = 0``, no message). Bank ``k``'s prior is then ``N(0, R)`` conditioned on the
others' messages,

    mean_k = R_kO (R_OO + diag(1 / p_O))^-1 m_O,   var_k = 1 - R_kO (R_OO + diag(1 / p_O))^-1 R_Ok

(``O`` the other banks with ``p > 0``), back in theta ``N(mu_k + sd_k mean_k, sd_k^2 var_k)``,
used as ``(1 - tail) N(., .) + tail N(., (tail_sd sd_k)^2)`` (``estimation.log_prior``, the
bank test's ``prior_tail``), and combined with bank ``k``'s own exact grid likelihood. A bank
with no question asked still gets a prediction, from the other banks through ``R``.

``posterior_correlation``: the correlation matrix of the Gaussian joint posterior of the
standardised abilities, covariance ``(R^-1 + diag(p))^-1`` (the suite's interval, ``suite.py``).
"""

from __future__ import annotations

import numpy as np

from ..banks.bank import ItemBank
from ..irt.estimation import GRID, log_prior, normalise


def ability_correlation(banks: dict[str, ItemBank], min_shared: int = 5,
                        min_eigenvalue: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The correlation matrix ``R`` of the banks' abilities (module docstring) and the number of
    calibration models each pair shares."""
    names = list(banks)
    k = len(names)
    corr, shared = np.eye(k), np.zeros((k, k), int)
    thetas = [{m: float(v["theta"]) for m, v in banks[n].abilities.items()} for n in names]
    for i in range(k):
        shared[i, i] = len(thetas[i])
        for j in range(i + 1, k):
            common = sorted(set(thetas[i]) & set(thetas[j]))
            shared[i, j] = shared[j, i] = len(common)
            if len(common) >= min_shared:
                x = np.array([thetas[i][m] for m in common])
                y = np.array([thetas[j][m] for m in common])
                if x.std() > 0 and y.std() > 0:
                    corr[i, j] = corr[j, i] = float(np.corrcoef(x, y)[0, 1])
    values, vectors = np.linalg.eigh(corr)
    if values.min() < min_eigenvalue:
        corr = (vectors * np.maximum(values, min_eigenvalue)) @ vectors.T
        d = np.sqrt(np.diag(corr))
        corr = corr / np.outer(d, d)
    return corr, shared


def likelihood_message(loglik: np.ndarray, mean: float = 0.0, sd: float = 1.0
                       ) -> tuple[float, float]:
    """Gaussian summary ``(m, p)``, in standardised units ``z = (theta - mean) / sd``, of a
    tempered grid log-likelihood in theta (module docstring)."""
    if not np.any(loglik):
        return 0.0, 0.0
    z = (GRID - mean) / sd
    w = normalise(loglik - 0.5 * z**2)
    mu = float(w @ z)
    var = float(w @ (z - mu) ** 2)
    precision = max(1 / max(var, 1e-12) - 1, 0.0)
    if precision <= 1e-9:
        return 0.0, 0.0
    return mu / (var * precision), precision


class JointPrior:
    """``N(0, R)`` over the standardised abilities of the banks ``population`` names (name ->
    ``(mu_k, sd_k)``); each bank's prior keeps its wide tail, weight ``tail[name]``, SD
    ``tail_sd sd_k`` (``adaptive.TAIL_SD``)."""

    def __init__(self, correlation: np.ndarray, population: dict[str, tuple[float, float]],
                 tail: dict[str, float], tail_sd: float) -> None:
        self.correlation, self.population, self.tail = correlation, population, tail
        self.tail_sd = tail_sd
        self.names = list(population)

    def messages(self, states: dict) -> list[tuple[float, float]]:
        """Each bank's Gaussian message ``(m, p)`` in standardised units (module docstring)."""
        return [likelihood_message(states[n].loglik, *self.population[n]) for n in self.names]

    def update(self, states: dict) -> None:
        """Set each bank's prior (``TestState.set_prior``) to ``N(0, R)`` conditioned on the
        other banks' messages, in the bank's own theta units."""
        messages = self.messages(states)
        m = np.array([x[0] for x in messages])
        p = np.array([x[1] for x in messages])
        for k, name in enumerate(self.names):
            others = [j for j in range(len(self.names)) if j != k and p[j] > 0]
            mean, var = 0.0, 1.0
            if others:
                r_ko = self.correlation[k, others]
                cov = self.correlation[np.ix_(others, others)] + np.diag(1 / p[others])
                solved = np.linalg.solve(cov, r_ko)
                mean = float(solved @ m[others])
                var = float(max(1 - solved @ r_ko, 1e-4))
            mu, sd = self.population[name]
            states[name].set_prior(log_prior(mu + sd * mean, sd * np.sqrt(var), self.tail[name],
                                             self.tail_sd * sd))

    def posterior_correlation(self, states: dict) -> np.ndarray:
        """Correlation matrix of ``(R^-1 + diag(p))^-1`` (module docstring)."""
        p = np.array([message[1] for message in self.messages(states)])
        cov = np.linalg.inv(np.linalg.inv(self.correlation) + np.diag(p))
        d = np.sqrt(np.diag(cov))
        return cov / np.outer(d, d)
