"""IRT estimation by marginal maximum likelihood (MML-EM) with adaptive quadrature.

Model: ``P(y_ij = 1) = sigmoid(a_i * (theta_j - b_i))``; Rasch fixes ``a_i = 1``.
Priors: ``theta ~ N(0, sigma^2)`` (2PL: ``sigma = 1``; Rasch: ``sigma`` is estimated), and per
item ``b_i ~ N(mu_i, v_i)``, ``log a_i ~ N(m_i, w_i)`` (``Priors``: the
shared weak prior ``N(0, prior_b_sd^2)``, ``N(0, prior_log_a_sd^2)`` for every item, or a
per-item prior such as a difficulty predicted from the question text).

EM, each iteration:

1. E-step with per-examinee adaptive Gauss-Hermite quadrature. Each examinee's posterior is
   centred at its mode ``m_j`` (Newton steps) with scale ``s_j = 1 / sqrt(information)``;
   nodes ``theta_jq = m_j + s_j x_q`` and normalised posterior weights
   ``w_jq ~ L_j(theta_jq) N(theta_jq; 0, sigma^2) exp(x_q^2 / 2) v_q``, in log space.
   A fixed grid shared by all examinees would snap an LLM's posterior (SE ~0.01 with thousands
   of answers) to one node; products of raw likelihoods would underflow.
2. M-step: one Newton step per item on ``(log a_i, b_i)`` maximising
   ``sum_j sum_q w_jq log P(y_ij | theta_jq) + log prior_i`` (Fisher scoring in the first
   iterations, then the observed Hessian, which converges quadratically).
3. Parameter expansion (PX-EM, Liu, Rubin & Wu 1998): ``theta -> c + k theta``,
   ``b -> c + k b``, ``a -> a / k`` leaves the likelihood unchanged, so plain EM crawls along
   that ridge (each iteration moves the items a little towards their prior, the abilities
   follow). One scalar maximisation over ``(c, k)`` per iteration (Rasch: ``c`` and ``sigma``)
   takes it in one step; it maximises the same log posterior, per-item prior means included
   (``_EM.expand``), so the fixed point is the same. What fixes the scale is therefore all the
   priors together, not the ability prior alone: ``c`` makes the precision-weighted mean of the
   abilities (weight ``1 / sigma^2`` each) and of the items' ``b - mu_i`` (weight ``1 / v_i``
   each) zero, and ``k`` balances the abilities' and the ``b`` prior's spread against the
   ``log a`` prior. With a few dozen models and thousands of items the items' priors dominate:
   the abilities' mean and SD are not 0 and 1 (``calibration.py`` records them). Its closed
   form assumes priors without a covariance of ``b`` and ``log a``; priors with one
   (``ItemBank.update``: the bank's own posteriors, which pin the scale) skip it.

Stops when an iteration raises the log posterior (marginal log-likelihood plus the items' log
prior) by less than ``tol`` per observed cell.

Graded scores ``y`` in [0, 1] (``ResponseData.graded``) are fitted by the fractional-Bernoulli
quasi-likelihood ``y log P + (1 - y) log(1 - P) = y z - softplus(z)``: the same EM, since its
score ``a (y - P)`` and its Hessian ``-a^2 P (1 - P)`` in ``z`` have the binary forms (the mode
search, the M-step and the standard errors use ``2 y - 1 = sign`` linearly, which holds for any
``y``); only the E-step's log-likelihood needs the general form. Its maximiser makes ``P`` the
expected score (a consistent estimator of a mean model whatever the scores' distribution, as in
Papke & Wooldridge's fractional logit). Binary data take the binary code paths unchanged.

Everything runs on the observed cells only (sparse), in chunks, so memory is linear in the
number of observed cells. Item standard errors come from the inverse of the per-item 2 x 2
Fisher information (plus prior) at convergence; abilities are EAP with posterior SD as SE.
An item without observed cells keeps its prior: its mean and SD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..banks.responses import ResponseData
from .model import gauss_hermite

FISHER_ITERATIONS = 2  # 2PL M-steps by Fisher scoring before switching to the observed Hessian
BLOCK = 1 << 20  # cells per block where a whole-data pass would need n-sized temporaries


@dataclass(frozen=True)
class Priors:
    """Per-item normal priors on ``(b_i, log a_i)``: means ``b_mean_i``, ``log_a_mean_i``,
    variances ``b_var_i``, ``log_a_var_i`` and covariance ``b_log_a_cov_i`` (arrays, one entry
    per item of the data; the covariance defaults to 0: independent).

    The log prior is ``-(db^2 / b_cond + 2 cross db dl + dl^2 / log_a_cond) / 2`` with
    ``db = b - b_mean``, ``dl = log a - log_a_mean``, the conditional variances
    ``b_cond = b_var (1 - rho^2)``, ``log_a_cond = log_a_var (1 - rho^2)``
    (``rho^2 = cov^2 / (b_var log_a_var)``) and ``cross = -cov / (b_var log_a_cond)``: the
    entries of the inverse covariance. Rasch uses ``b ~ N(b_mean, b_var)`` alone."""

    b_mean: np.ndarray
    b_var: np.ndarray
    log_a_mean: np.ndarray
    log_a_var: np.ndarray
    b_log_a_cov: np.ndarray | None = None

    @classmethod
    def shared(cls, n_items: int, b_sd: float, log_a_sd: float) -> Priors:
        """The same weak prior ``b ~ N(0, b_sd^2)``, ``log a ~ N(0, log_a_sd^2)`` for all items."""
        return cls(np.zeros(n_items), np.full(n_items, b_sd**2), np.zeros(n_items),
                   np.full(n_items, log_a_sd**2))

    @property
    def correlated(self) -> bool:
        return self.b_log_a_cov is not None and bool(np.any(self.b_log_a_cov != 0))

    def precision(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(b_cond, log_a_cond, cross)`` (class docstring); exactly ``(b_var, log_a_var, 0)``
        without covariance."""
        cov = 0.0 if self.b_log_a_cov is None else self.b_log_a_cov
        rest = 1 - cov**2 / (self.b_var * self.log_a_var)
        log_a_cond = self.log_a_var * rest
        return self.b_var * rest, log_a_cond, -cov / (self.b_var * log_a_cond)


@dataclass(frozen=True)
class EMFit:
    """What ``fit_em`` returns: item parameters and SEs, abilities (EAP, posterior SD) and the
    models' answer counts, in the data's order."""

    b: np.ndarray
    a: np.ndarray  # ones for Rasch
    b_se: np.ndarray
    a_se: np.ndarray  # zeros for Rasch
    b_log_a_cov: np.ndarray  # posterior covariance of b and log a (zeros for Rasch)
    theta: np.ndarray
    theta_se: np.ndarray
    n_answered: np.ndarray
    n_right: np.ndarray
    sigma: float
    marginal_ll: float
    n_iter: int
    converged: bool


def fit_em(
    data: ResponseData,
    two_pl: bool,
    priors: Priors,
    *,
    n_nodes: int = 5,
    max_iter: int = 500,
    tol: float = 1e-6,
    chunk_cells: int = 262_144,
    progress: Callable[[str], None] = lambda line: None,
    label: str = "calibrate",
    rasch_sigma: float | None = None,
) -> EMFit:
    """Run EM (module docstring) until an iteration raises the log posterior by less than ``tol``
    per observed cell, or ``max_iter`` iterations; ``progress`` gets a line per iteration.
    ``rasch_sigma``: a Rasch fit's ability SD held fixed (None: estimated)."""
    fitter = _EM(data, two_pl, n_nodes, priors, chunk_cells)
    if rasch_sigma is not None and not two_pl:
        fitter.sigma, fitter.estimate_sigma = rasch_sigma, False
    converged = False
    previous = -np.inf
    for iteration in range(1, max_iter + 1):
        change = fitter.step()
        gain = (fitter.objective - previous) / data.n_observed
        previous = fitter.objective
        progress(
            f"{label}: iteration {iteration}, log posterior {fitter.objective:.1f}, "
            f"max parameter change {change:.2e}"
        )
        if abs(gain) < tol:
            converged = True
            break
    fitter.e_step()
    b_se, a_se, cov = fitter.item_standard_errors()
    theta, theta_se = fitter.eap()
    return EMFit(
        b=fitter.b.copy(), a=np.exp(fitter.log_a), b_se=b_se, a_se=a_se, b_log_a_cov=cov,
        theta=theta,
        theta_se=theta_se, n_answered=fitter.n_answered, n_right=fitter.n_right,
        sigma=float(fitter.sigma), marginal_ll=fitter.marginal_ll, n_iter=iteration,
        converged=converged,
    )


def _sorted(values: np.ndarray) -> bool:
    """Whether ``values`` never decreases (checked in blocks, without an n-sized temporary)."""
    for lo in range(0, len(values), BLOCK):
        block = values[lo : lo + BLOCK + 1]
        if np.any(block[1:] < block[:-1]):
            return False
    return True


def _newton_2x2(g1, g2, i11, i22, i12):
    """``I^-1 g`` for per-item 2 x 2 information matrices ``[[i11, i12], [i12, i22]]``."""
    det = i11 * i22 - i12**2
    return (i22 * g1 - i12 * g2) / det, (i11 * g2 - i12 * g1) / det


class _Chunk:
    """A run of observed cells, sorted by examinee (views of the data, no copies):
    ``reduceat`` over ``starts`` sums each examinee's cells and ``repeat`` over ``counts``
    spreads its values back onto them."""

    def __init__(self, j: np.ndarray, i: np.ndarray, y: np.ndarray) -> None:
        self.i, self.y = i, y
        self.graded = y.dtype.kind == "f"
        self.starts = np.flatnonzero(np.r_[True, j[1:] != j[:-1]])
        self.owners = j[self.starts]
        self.counts = np.diff(np.r_[self.starts, len(j)])

    def items(self) -> np.ndarray:
        """The item indices as ``intp``: numpy gathers and scatters 3x faster with them than
        with the stored int32 (a copy per pass, not kept: 8 bytes a cell)."""
        return self.i.astype(np.intp)

    def sign(self) -> np.ndarray:
        """+1 where right, -1 where wrong (float32); ``2 y - 1`` for a graded score."""
        return np.float32(2) * self.y - 1


def _graded_loglik(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y z - softplus(z) = y z - max(z, 0) - log1p(exp(-|z|))`` per node and cell: the
    quasi-log-likelihood of scores ``y`` in [0, 1] (module docstring), in place of ``z``."""
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=e)
    out = y * z
    out -= np.maximum(z, 0, out=z)
    out -= e
    return out


def _add_per_item(out: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
    """``out[i] += sum of values over the cells of item i`` (float64). ``np.add.at`` touches only
    the chunk's items, where ``bincount`` would add a whole ``n_items`` vector per chunk."""
    np.add.at(out, items, values.astype(np.float64))


class _EM:
    """State of the EM iterations (private: ``fit_em`` is the interface).

    Cells are sorted by examinee and processed in chunks small enough to stay in cache.
    Per cell and node everything is float32, with two transcendentals per cell and node and
    pass: the E-step's ``log P(y | theta) = min(u, 0) - log1p(exp(-|u|))`` (``u = +-z``, signed
    by the answer) and the M-step's ``P = (1 + tanh(z / 2)) / 2``; sums over cells accumulate in
    float64 (``reduceat`` per examinee, ``np.add.at`` per item).
    """

    def __init__(self, data: ResponseData, two_pl: bool, n_nodes: int, priors: Priors,
                 chunk_cells: int) -> None:
        self.two_pl = two_pl
        self.n_j, self.n_i = data.n_models, data.n_items
        self.x, v = gauss_hermite(n_nodes)
        self.x32 = self.x.astype(np.float32)[:, None]
        self.log_v_adj = np.log(v) + self.x**2 / 2  # adaptive GH weight correction
        self.priors = priors
        self.b_cond, self.log_a_cond, self.cross = priors.precision()
        j, i, y = data.model_index, data.item_index, data.correct
        if not _sorted(j):  # a copy, sorted by examinee (the argsort takes 8 bytes a cell)
            order = np.argsort(j, kind="stable")
            j, i, y = j[order], i[order], y[order]
        step = max(1, chunk_cells // n_nodes)
        # graded scores: float32 like every per-cell term (0/1 stay uint8: unchanged paths);
        # the counts below add the float64 scores
        cells = y.astype(np.float32) if data.graded else y
        self.chunks = [_Chunk(j[lo : lo + step], i[lo : lo + step], cells[lo : lo + step])
                       for lo in range(0, len(y), step)]
        # start: b from item p-values, theta from model accuracies, a = 1 (counted in blocks:
        # bincount converts its whole input to intp and float64)
        n_item, right_item = np.zeros(self.n_i), np.zeros(self.n_i)
        n_model, right_model = np.zeros(self.n_j), np.zeros(self.n_j)
        for lo in range(0, len(y), BLOCK):
            ib, jb, yb = i[lo : lo + BLOCK], j[lo : lo + BLOCK], y[lo : lo + BLOCK]
            n_item += np.bincount(ib, minlength=self.n_i)
            right_item += np.bincount(ib, yb, self.n_i)
            n_model += np.bincount(jb, minlength=self.n_j)
            right_model += np.bincount(jb, yb, self.n_j)
        p_item = (right_item + 0.5) / (n_item + 1.0)
        p_model = (right_model + 0.5) / (n_model + 1.0)
        self.n_answered, self.n_right = n_model, right_model
        self.b = -np.log(p_item / (1 - p_item))
        self.mode = np.log(p_model / (1 - p_model))
        self.log_a = np.zeros(self.n_i)
        self.sigma = 1.0
        self.estimate_sigma = not two_pl  # Rasch: the ability spread is a free parameter
        self.scale = np.ones(self.n_j)
        self.marginal_ll = self.objective = -np.inf
        self.iteration = 0

    def _per_examinee(self, chunk: _Chunk, values: np.ndarray, out: np.ndarray) -> None:
        """Add each examinee's sum of ``values`` (last axis: the chunk's cells) into ``out``."""
        out[..., chunk.owners] += np.add.reduceat(values, chunk.starts, axis=-1, dtype=np.float64)

    def _find_modes(self, steps: int = 2) -> None:
        """Newton steps on each examinee's log posterior; ``scale = 1/sqrt(information)``."""
        a, b = np.exp(self.log_a).astype(np.float32), self.b.astype(np.float32)
        for _ in range(steps):
            total = np.zeros((2, self.n_j))
            mode = self.mode.astype(np.float32)
            for c in self.chunks:
                items = c.items()
                ai = a[items]
                t = np.tanh(0.5 * ai * (np.repeat(mode[c.owners], c.counts) - b[items]))
                # y - P = (sign - tanh(z/2)) / 2, P (1 - P) = (1 - tanh(z/2)^2) / 4
                terms = np.stack([ai * (c.sign() - t), ai * ai * (1 - t * t)])
                self._per_examinee(c, terms, total)
            grad = 0.5 * total[0] - self.mode / self.sigma**2
            info = 0.25 * total[1] + 1 / self.sigma**2
            self.mode += np.clip(grad / info, -2, 2)
        self.scale = 1 / np.sqrt(info)

    def _cell_terms(self, c: _Chunk, items: np.ndarray, a: np.ndarray, b: np.ndarray):
        """Per cell: ``a_i``, ``m_j - b_i`` and ``s_j`` (float32)."""
        ai = a[items]
        dm = np.repeat(self.mode.astype(np.float32)[c.owners], c.counts) - b[items]
        s = np.repeat(self.scale.astype(np.float32)[c.owners], c.counts)
        return ai, dm, s

    def e_step(self) -> None:
        """Adaptive nodes ``theta_jq`` and posterior weights ``w_jq`` (module docstring)."""
        self._find_modes(2 if self.iteration <= FISHER_ITERATIONS else 1)
        self.nodes = self.mode[:, None] + self.scale[:, None] * self.x[None, :]
        a, b = np.exp(self.log_a).astype(np.float32), self.b.astype(np.float32)
        loglik = np.zeros((len(self.x), self.n_j))
        for c in self.chunks:
            ai, dm, s = self._cell_terms(c, c.items(), a, b)
            if c.graded:
                self._per_examinee(c, _graded_loglik(self.x32 * (ai * s) + ai * dm, c.y), loglik)
                continue
            sa = c.sign() * ai
            u = self.x32 * (sa * s) + sa * dm  # z signed by the answer: log P(y) = log sigmoid(u)
            e = np.abs(u)
            np.negative(e, out=e)
            np.exp(e, out=e)
            np.log1p(e, out=e)
            np.minimum(u, 0, out=u)
            u -= e
            self._per_examinee(c, u, loglik)
        log_prior = -0.5 * (self.nodes / self.sigma) ** 2 - np.log(self.sigma * np.sqrt(2 * np.pi))
        log_w = loglik.T + log_prior + self.log_v_adj[None, :]
        norm = logsumexp(log_w, axis=1, keepdims=True)
        self.weights = np.exp(log_w - norm)
        self.marginal_ll = float(np.sum(norm) + np.sum(np.log(self.scale)))

    def _item_information(self, observed: bool = False):
        """Gradient and 2 x 2 information of the expected complete-data log posterior,
        in ``(log a, b)``: ``g_log_a, g_b, I_log_a, I_b, I_cross``.

        Per cell, with ``d_q = theta_jq - b_i = dm + s x_q``, ``r_q = y - P_q`` and
        ``v_q = P_q (1 - P_q)``, the sums over nodes ``sum_q w_q r_q d_q`` etc. are combinations
        of the moments ``R_k = sum_q w_q r_q x_q^k`` (k = 0, 1), ``V_k`` (k = 0, 1, 2).
        The information is Fisher's (expected, ``a^2 sum w v d^2`` ...); ``observed=True`` adds
        the terms of the Hessian that the expectation drops (``- a sum w r d`` to ``I_log_a``,
        ``+ a sum w r`` to ``I_cross``).
        """
        a32, b32 = np.exp(self.log_a).astype(np.float32), self.b.astype(np.float32)
        weights = self.weights.T.astype(np.float32)
        x = self.x32[:, 0]
        sums = np.zeros((5, self.n_i))
        for c in self.chunks:
            items = c.items()
            ai, dm, s = self._cell_terms(c, items, a32, b32)
            half = 0.5 * ai
            t = np.tanh(self.x32 * (half * s) + half * dm)  # tanh(z/2), P = (1 + t) / 2
            w = np.repeat(weights[:, c.owners], c.counts, axis=1)
            wr = w * (c.sign() - t)  # 2 w (y - P)
            t *= t
            np.subtract(1, t, out=t)
            wv = w * t  # 4 w P (1 - P)
            r0, r1 = wr.sum(0), x @ wr
            v0, v1, v2 = wv.sum(0), x @ wv, (x * x) @ wv
            terms = (dm * r0 + s * r1, r0, dm * (dm * v0 + 2 * s * v1) + s * s * v2, v0,
                     dm * v0 + s * v1)
            for total, term in zip(sums, terms):
                _add_per_item(total, items, term)
        s_rd, s_r, s_vdd, s_v, s_vd = sums  # of 2 w (y - P) and 4 w P (1 - P) terms
        a = np.exp(self.log_a)
        g_la, g_b = 0.5 * a * s_rd, -0.5 * a * s_r
        i_ll, i_bb, i_lb = 0.25 * a**2 * s_vdd, 0.25 * a**2 * s_v, -0.25 * a**2 * s_vd
        if observed:  # the Hessian's terms that Fisher's expectation drops
            i_ll, i_lb = i_ll - g_la, i_lb - g_b
        prior_g_la, prior_g_b = self._prior_gradient()
        g_b, i_bb = g_b + prior_g_b, i_bb + 1 / self.b_cond
        if self.two_pl:
            g_la, i_ll, i_lb = g_la + prior_g_la, i_ll + 1 / self.log_a_cond, i_lb + self.cross
        return g_la, g_b, i_ll, i_bb, i_lb

    def _prior_gradient(self) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of the items' log prior in ``(log a, b)`` (``Priors``; Rasch: b alone)."""
        db, dl = self.b - self.priors.b_mean, self.log_a - self.priors.log_a_mean
        if not self.two_pl:
            return np.zeros(self.n_i), -db / self.priors.b_var
        return -(dl / self.log_a_cond + self.cross * db), -(db / self.b_cond + self.cross * dl)

    def m_step(self) -> float:
        """One Newton step per item, clipped to +-1 in ``log a`` and +-2 in ``b``; returns the
        largest step. 2PL: Fisher scoring in the first ``FISHER_ITERATIONS`` (robust from the
        crude start), then the observed information (quadratic convergence) wherever it is
        positive definite and its step at most twice as long as Fisher scoring's."""
        g_la, g_b, i_ll, i_bb, i_lb = self._item_information(observed=self.two_pl)
        if not self.two_pl:
            step_la, step_b = np.zeros(self.n_i), g_b / i_bb
        else:
            # Fisher's information from the observed one (see _item_information)
            prior_g_la, prior_g_b = self._prior_gradient()
            f_ll = i_ll + g_la - prior_g_la
            f_lb = i_lb + g_b - prior_g_b
            step_la, step_b = _newton_2x2(g_la, g_b, f_ll, i_bb, f_lb)
            if self.iteration > FISHER_ITERATIONS:
                det = i_ll * i_bb - i_lb**2
                ok = (i_ll > 0) & (det > 1e-12 * i_ll * i_bb)
                with np.errstate(divide="ignore", invalid="ignore"):
                    o_la, o_b = _newton_2x2(g_la, g_b, i_ll, i_bb, i_lb)
                ok &= (np.maximum(np.abs(o_la), np.abs(o_b))
                       <= 2 * np.maximum(np.abs(step_la), np.abs(step_b)))
                step_la, step_b = np.where(ok, o_la, step_la), np.where(ok, o_b, step_b)
        step_la, step_b = np.clip(step_la, -1, 1), np.clip(step_b, -2, 2)
        self.log_a += step_la
        self.b += step_b
        return float(max(np.abs(step_la).max(), np.abs(step_b).max()))

    def expand(self) -> None:
        """Parameter expansion (module docstring): maximise the expected complete-data log
        posterior over ``theta -> c + k theta``, ``b -> c + k b``, ``a -> a / k`` (Rasch:
        ``k = 1``), given the E-step's posterior moments of ``theta`` and the M-step's items.
        With prior precisions ``p_i = 1 / v_i``, ``q_i = 1 / w_i``:

        ``Q(c, k) = J log k - sum_j E[(k theta_j + c)^2] / (2 sigma^2)
        - sum_i p_i (c + k b_i - mu_i)^2 / 2 - sum_i q_i (log a_i - log k - m_i)^2 / 2``.

        For any ``k`` the best ``c = h - k g`` with ``D = J / sigma^2 + sum p_i``,
        ``g = (sum_j E theta_j / sigma^2 + sum p_i b_i) / D`` and ``h = sum p_i mu_i / D``
        (``h = 0`` under the shared prior). In ``lambda = log k`` what is left is
        ``J lambda - k^2 A / 2 - k B - sum_i q_i (log a_i - lambda - m_i)^2 / 2`` with
        ``A = sum_j E(theta_j - g)^2 / sigma^2 + sum_i p_i (b_i - g)^2`` and
        ``B = h sum_j (E theta_j - g) / sigma^2 + sum_i p_i (b_i - g) (h - mu_i)``: Newton steps,
        with the curvature ``2 k^2 A + |k B| + sum q_i`` (exact where ``B >= 0``, longer
        otherwise, so the steps stay safe). Rasch then re-estimates ``sigma`` from the moved
        moments.
        """
        eap, sd = self.eap()
        pr = self.priors
        n_j, var = self.n_j, self.sigma**2
        p_b, q_a = 1 / pr.b_var, 1 / pr.log_a_var
        m1, m2 = eap.sum(), (eap**2 + sd**2).sum()
        depth = n_j / var + p_b.sum()
        g = (m1 / var + (p_b * self.b).sum()) / depth
        h = (p_b * pr.b_mean).sum() / depth
        lam = 0.0
        if self.two_pl:
            big_a = (m2 - 2 * g * m1 + n_j * g**2) / var + (p_b * (self.b - g) ** 2).sum()
            big_b = h * (m1 - n_j * g) / var + (p_b * (self.b - g) * (h - pr.b_mean)).sum()
            q_sum, q_la = q_a.sum(), (q_a * (self.log_a - pr.log_a_mean)).sum()
            for _ in range(20):
                k = np.exp(lam)
                grad = n_j - k * k * big_a - k * big_b - (q_sum * lam - q_la)
                step = grad / (2 * k * k * big_a + abs(k * big_b) + q_sum)
                lam += float(np.clip(step, -0.5, 0.5))
                if abs(step) < 1e-12:
                    break
        k = np.exp(lam)
        c = h - k * g
        self.b = c + k * self.b
        self.log_a = self.log_a - lam
        self.mode = c + k * self.mode
        self.scale = k * self.scale
        self.nodes = c + k * self.nodes
        if self.estimate_sigma:
            eap, sd = self.eap()
            self.sigma = float(np.sqrt(np.mean(eap**2 + sd**2)))

    def log_prior(self) -> float:
        """The items' log prior (constants dropped; ``Priors``)."""
        db, dl = self.b - self.priors.b_mean, self.log_a - self.priors.log_a_mean
        if not self.two_pl:
            return float(-0.5 * np.sum(db**2 / self.priors.b_var))
        out = -0.5 * np.sum(db**2 / self.b_cond)
        out -= 0.5 * np.sum(dl**2 / self.log_a_cond)
        return float(out - np.sum(self.cross * db * dl))

    def step(self) -> float:
        """E-step, M-step, expansion; ``objective``: the log posterior at the E-step."""
        self.iteration += 1
        self.e_step()
        self.objective = self.marginal_ll + self.log_prior()
        change = self.m_step()
        if not self.priors.correlated:
            self.expand()
        return change

    def eap(self) -> tuple[np.ndarray, np.ndarray]:
        mean = (self.weights * self.nodes).sum(1)
        var = (self.weights * (self.nodes - mean[:, None]) ** 2).sum(1)
        return mean, np.sqrt(var)

    def item_standard_errors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SE(b), SE(a) and Cov(b, log a) from the inverse 2 x 2 information;
        SE(a) = a * SE(log a)."""
        _, _, i_ll, i_bb, i_lb = self._item_information()
        if not self.two_pl:
            return 1 / np.sqrt(i_bb), np.zeros(self.n_i), np.zeros(self.n_i)
        det = i_ll * i_bb - i_lb**2
        return np.sqrt(i_ll / det), np.exp(self.log_a) * np.sqrt(i_bb / det), -i_lb / det
