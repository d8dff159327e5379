"""The probabilistic view: k-means as truncated variational EM of an isotropic Gaussian mixture.

NumPy reference, float64 (theory/probabilistic.md; Lücke & Forster, arXiv 1704.04812).

The model: K components with equal priors ``1/K``, means ``mu_k`` (the centres C of the rest
of the package) and one shared isotropic variance ``sigma^2``,

    p(x, k) = (1/K) N(x; mu_k, sigma^2 I_D),
    log p(x_i, k) = -log K - (D/2) log(2 pi sigma^2) - d_ik / (2 sigma^2),

``d_ik = ||x_i - mu_k||^2``. With ``T = 2 sigma^2`` the posterior is ``softmax(-d_i / T)``:
soft k-means at temperature T is EM with the variance held at ``T / 2``.

Truncated E-step (Lücke & Forster): keep, for every point, the set ``K_i`` of its
``n_nearest`` closest means (ties to the lowest index, as in ``reference.assign``) and the
posterior renormalised on it,

    q_ik = p(x_i, k) / sum_{l in K_i} p(x_i, l)   for k in K_i,   0 otherwise.

The truncated free energy, a mean per point like every objective of the package, is

    F(q, theta) = (1/N) sum_i [ sum_{k in K_i} q_ik log p(x_i, k) + H(q_i) ]
                = (1/N) sum_i log sum_{k in K_i} p(x_i, k)        at that optimal q,

H the Shannon entropy. ``n_nearest = K`` gives the mean log-likelihood; ``n_nearest = 1``
gives q one-hot on the nearest mean (Lloyd's partition), at any variance.

M-step (jointly optimal for the means and the variance at fixed q):

    mu_k    <- sum_i q_ik x_i / sum_i q_ik       (a mean without mass keeps its place),
    sigma^2 <- (1/(N D)) sum_i sum_k q_ik ||x_i - mu_k||^2   at the *updated* means.

Every public function validates its arguments (errors name the argument) and calls a
private twin that computes; the maths is that of ``reference`` (distances, regret-shifted
logits, softmax, the per-centre rescaled soft-step weights), reused, not repeated.
"""

import math

import numpy as np

from . import _validation as validation
from . import reference

__all__ = [
    "log_joint",
    "truncated_posterior",
    "variational_free_energy",
    "truncated_free_energy",
    "log_likelihood",
    "truncated_em_step",
    "fit",
    "critical_temperature",
]


# --- validation ------------------------------------------------------------------------


def _data_and_means(X, means, means_name="means"):
    X = reference._as_float64(X, "X")
    means = reference._as_float64(means, means_name)
    validation.validate_points(X, "X")
    validation.validate_points(means, means_name)
    if X.shape[1] != means.shape[1]:
        raise ValueError(
            f"X and {means_name} must have the same number of features; "
            f"X has {X.shape[1]}, {means_name} has {means.shape[1]}"
        )
    return X, means


def _variance(variance):
    """A finite variance > 0 as a float (the shared sigma^2)."""
    return validation.validate_temperature(variance, name="variance")


def _n_nearest(n_nearest, n_means):
    n_nearest = validation.validate_count(n_nearest, "n_nearest", minimum=1)
    if n_nearest > n_means:
        raise ValueError(
            f"n_nearest must be between 1 and K = {n_means} (the number of means); got {n_nearest}"
        )
    return n_nearest


def _distribution(q, shape):
    """Rows of q on the simplex: shape (N, K), finite, >= 0, each summing to 1.

    The slack on the sums is ``K * 2^-23``: a row normalised in float32 (unit roundoff
    2^-24) is off by at most about one unit of roundoff per entry; a larger defect is a
    different distribution, not a rounding.
    """
    q = reference._as_float64(q, "q")
    if q.shape != shape:
        raise ValueError(f"q must have shape (N, K) = {shape}; got {q.shape}")
    validation.validate_finite(q, "q")
    if np.any(q < 0):
        raise ValueError("q has negative entries; every row must be a distribution")
    slack = shape[1] * 2.0**-23
    worst = float(np.max(np.abs(q.sum(axis=1) - 1.0)))
    if worst > slack:
        raise ValueError(f"the rows of q must sum to 1; a row is off by {worst:.3g}")
    return q


# --- the model -------------------------------------------------------------------------


def _log_normaliser(n_means, n_features, variance):
    """``-log K - (D/2) log(2 pi sigma^2)``: log p(x, k) at x = mu_k."""
    return -math.log(n_means) - 0.5 * n_features * math.log(2.0 * math.pi * variance)


def log_joint(X, means, variance):
    """``log p(x_i, k) = -log K - (D/2) log(2 pi sigma^2) - d_ik / (2 sigma^2)``.

    The log-density of the isotropic mixture component k at x_i, times its prior 1/K.

    Parameters
    ----------
    X : array_like, shape (N, D)
    means : array_like, shape (K, D)
    variance : float > 0, the shared sigma^2.

    Returns
    -------
    log_p : ndarray, shape (N, K), float64. An entry is -inf where ``d / (2 sigma^2)``
        overflows (the density is then below the smallest float).

    Examples
    --------
    >>> log_joint([[0.0], [1.0]], [[0.0]], variance=0.5).round(6)   # -log(2 pi / 2)/2 - d
    array([[-0.572365],
           [-1.572365]])
    """
    X, means = _data_and_means(X, means)
    variance = _variance(variance)
    return _log_joint(reference._squared_distances(X, means), variance, X.shape[1])


def _log_joint(d, variance, n_features):
    return _log_normaliser(d.shape[1], n_features, variance) - reference._over_temperature(d, 2.0 * variance)


def _in_nearest(d, n_nearest):
    """Boolean (N, K): k is among the n_nearest closest means of x_i (ties: lowest index)."""
    order = np.argsort(d, axis=1, kind="stable")[:, :n_nearest]
    mask = np.zeros(d.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def _truncated_logits(d, variance, mask):
    """``-(d_ik - min_l d_il) / (2 sigma^2)`` on K_i, -inf elsewhere (row maximum 0)."""
    return np.where(mask, reference._logits(d, 2.0 * variance), -np.inf)


def truncated_posterior(X, means, variance, n_nearest):
    """The truncated E-step: the posterior over the n_nearest closest means, renormalised.

    ``q_ik = exp(-d_ik / (2 sigma^2)) / sum_{l in K_i} exp(-d_il / (2 sigma^2))`` for k in
    ``K_i`` (the n_nearest means closest to x_i, ties to the lowest index), 0 otherwise.
    ``n_nearest = K`` is the full posterior, ``softmax(-d_i / T)`` with ``T = 2 sigma^2``
    (``reference.responsibilities(X, means, 2 * variance, "softmax")``); ``n_nearest = 1``
    is one-hot on ``reference.assign``.

    Returns
    -------
    q : ndarray, shape (N, K), float64; rows on the simplex, at most n_nearest nonzeros.

    Examples
    --------
    >>> X, means = [[0.0]], [[0.0], [1.0], [3.0]]        # d = (0, 1, 9)
    >>> truncated_posterior(X, means, variance=0.5, n_nearest=2).round(6)   # e^0 : e^-1
    array([[0.731059, 0.268941, 0.      ]])
    """
    X, means = _data_and_means(X, means)
    variance = _variance(variance)
    n_nearest = _n_nearest(n_nearest, len(means))
    d = reference._squared_distances(X, means)
    return _posterior(d, variance, _in_nearest(d, n_nearest))


def _posterior(d, variance, mask):
    return reference._softmax(_truncated_logits(d, variance, mask))


# --- free energies ---------------------------------------------------------------------


def variational_free_energy(X, means, variance, q):
    """``F(q, theta) = (1/N) sum_i [ sum_k q_ik log p(x_i, k) + H(q_i) ]`` for any q.

    The evidence lower bound of Lücke & Forster for an arbitrary variational distribution
    q (rows on the simplex, zeros allowed: ``0 log 0 = 0``). It is at most the mean
    log-likelihood, with equality iff q is the full posterior; over the q supported on
    n_nearest means per point it is largest at ``truncated_posterior``, where it equals
    ``truncated_free_energy``.

    Examples
    --------
    >>> X, means = [[0.0]], [[0.0], [0.0]]
    >>> round(variational_free_energy(X, means, 1.0, [[0.5, 0.5]]), 6)  # -(1/2)log(2 pi)
    -0.918939
    >>> round(variational_free_energy(X, means, 1.0, [[1.0, 0.0]]), 6)  # minus log 2
    -1.612086
    """
    X, means = _data_and_means(X, means)
    variance = _variance(variance)
    q = _distribution(q, (len(X), len(means)))
    log_p = _log_joint(reference._squared_distances(X, means), variance, X.shape[1])
    return _variational_free_energy(log_p, q)


def _variational_free_energy(log_p, q):
    # Entries with q = 0 contribute nothing, even where log p = -inf (0 log 0 = 0).
    expected = np.sum(np.where(q > 0, q * np.where(q > 0, log_p, 0.0), 0.0), axis=1)
    return float(np.mean(expected + reference._shannon_entropy(q)))


def truncated_free_energy(X, means, variance, n_nearest):
    """The truncated free energy at the optimal truncated q, a mean per point.

    ``F = (1/N) sum_i log sum_{k in K_i} p(x_i, k)``
    ``  = -log K - (D/2) log(2 pi sigma^2) + (1/N) sum_i log sum_{k in K_i} exp(-d_ik / (2 sigma^2))``,

    the E-step being taken at the given parameters. Non-decreasing in n_nearest; at
    ``n_nearest = K`` it is ``log_likelihood``; at ``n_nearest = 1`` it is
    ``-log K - (D/2) log(2 pi sigma^2) - J / (2 sigma^2)``, J the k-means objective
    ``reference.objective(X, means)``, which at ``sigma^2 = J / D`` is
    ``-log K - (D/2) log(2 pi e sigma^2)``.

    Examples
    --------
    >>> X, means = [[0.0], [2.0]], [[0.0], [2.0]]
    >>> round(truncated_free_energy(X, means, 0.5, n_nearest=1), 6)   # -log 2 - log(pi)/2
    -1.265512
    >>> round(truncated_free_energy(X, means, 0.5, n_nearest=2), 6)   # + log(1 + e^-4)
    -1.247362
    """
    X, means = _data_and_means(X, means)
    variance = _variance(variance)
    n_nearest = _n_nearest(n_nearest, len(means))
    d = reference._squared_distances(X, means)
    return _truncated_free_energy(d, variance, _in_nearest(d, n_nearest), X.shape[1])


def _truncated_free_energy(d, variance, mask, n_features):
    # log sum_{K_i} exp(-d/(2 s^2)) = -min_l d_il / (2 s^2) + log sum_{K_i} exp(logits):
    # the nearest mean is always in K_i, so the shifted sum is in [1, n_nearest].
    log_partition = np.log(np.sum(np.exp(_truncated_logits(d, variance, mask)), axis=1))
    nearest = reference._over_temperature(d.min(axis=1), 2.0 * variance)
    return _log_normaliser(d.shape[1], n_features, variance) + float(np.mean(log_partition - nearest))


def log_likelihood(X, means, variance):
    """Mean log-likelihood ``(1/N) sum_i log sum_k (1/K) N(x_i; mu_k, sigma^2 I)``.

    The truncated free energy with ``n_nearest = K``. With ``T = 2 sigma^2`` it is
    ``-log K - (D/2) log(pi T) - F_T / T``, F_T the softmax free energy of the package.

    Examples
    --------
    >>> round(log_likelihood([[0.0]], [[0.0], [0.0]], variance=1.0), 6)  # -(1/2)log(2 pi)
    -0.918939
    """
    X, means = _data_and_means(X, means)
    variance = _variance(variance)
    d = reference._squared_distances(X, means)
    return _truncated_free_energy(d, variance, np.ones(d.shape, dtype=bool), X.shape[1])


# --- EM --------------------------------------------------------------------------------


def truncated_em_step(X, means, variance, n_nearest):
    """One truncated EM step: the truncated E-step, then the M-step for means and variance.

    * E-step: ``q = truncated_posterior(X, means, variance, n_nearest)``;
    * means: ``mu_k <- sum_i q_ik x_i / sum_i q_ik``; a mean without mass keeps its place.
      ``n_nearest = 1`` gives exactly ``reference.lloyd_step(X, means)`` (at any variance);
      ``n_nearest = K`` gives exactly ``reference.soft_step(X, means, 2 * variance)``
      (computed with the same per-centre rescaled weights, so it stays exact where every
      q_ik of a column underflows);
    * variance: ``sigma^2 <- (1/(N D)) sum_ik q_ik ||x_i - mu_k||^2`` at the new means.

    The step never decreases ``truncated_free_energy`` (block-coordinate ascent on
    F(q, theta)). The new variance is 0 only when every point sits on each mean it has
    mass on (then the likelihood is unbounded); it is returned as it is.

    Returns
    -------
    means : ndarray, shape (K, D), float64
    variance : float, >= 0

    Examples
    --------
    >>> X = [[0.0], [1.0], [9.0], [10.0]]
    >>> means, variance = truncated_em_step(X, [[0.0], [10.0]], 1.0, n_nearest=1)
    >>> means, variance                                  # Lloyd; (4 * 0.25) / 4
    (array([[0.5],
           [9.5]]), 0.25)
    >>> means, variance = truncated_em_step(X, [[0.0], [10.0]], 1.0, n_nearest=2)
    >>> means.round(4), round(variance, 4)
    (array([[0.5],
           [9.5]]), 0.25)
    """
    X, means = _data_and_means(X, means)
    variance = _variance(variance)
    n_nearest = _n_nearest(n_nearest, len(means))
    return _truncated_em_step(X, means, variance, n_nearest, reference._squared_distances(X, means))


def _mean_weights(d, variance, mask):
    """Weights proportional, per mean, to q_ik: ``reference._softmax_column_weights``.

    Entries outside K_i enter as ``d = inf`` (weight exactly 0). A mean that is in no K_i
    gets no weight at all; it is left out of the call, where its column would be all
    infinite.
    """
    live = mask.any(axis=0)
    weights = np.zeros(d.shape)
    weights[:, live] = reference._softmax_column_weights(np.where(mask, d, np.inf)[:, live], 2.0 * variance)
    return weights


def _truncated_em_step(X, means, variance, n_nearest, d):
    mask = _in_nearest(d, n_nearest)
    q = _posterior(d, variance, mask)
    new_means = reference._weighted_means(X, means, _mean_weights(d, variance, mask))
    spread = reference._squared_distances(X, new_means)
    new_variance = float(np.sum(q * spread)) / (X.shape[0] * X.shape[1])
    return new_means, new_variance


def fit(X, means0, variance0, n_nearest, n_iter):
    """``n_iter`` truncated EM steps from ``(means0, variance0)``, recording the free energy.

    Returns
    -------
    means : ndarray, shape (K, D)
    variance : float
    free_energies : ndarray, shape (n_iter + 1,)
        ``truncated_free_energy`` at the initial parameters, then after every step: a
        non-decreasing sequence.

    Raises
    ------
    ValueError
        If the variance collapses to 0 (every point on a mean it has mass on: the
        likelihood is unbounded and the free energy +inf); the message names the step.

    Examples
    --------
    Lloyd's cells {0}, {1, 9, 10}, then {0, 1}, {9, 10}; the last free energy is
    ``-log 2 - (1/2) log(2 pi e / 4)`` (sigma^2 = J / D = 1/4):

    >>> X = [[0.0], [1.0], [9.0], [10.0]]
    >>> means, variance, F = fit(X, [[0.0], [1.0]], 4.0, n_nearest=1, n_iter=3)
    >>> means.ravel(), variance
    (array([0.5, 9.5]), 0.25)
    >>> F.round(4)
    array([-6.8365, -3.0418, -1.4189, -1.4189])
    """
    X, means = _data_and_means(X, means0, "means0")
    variance = validation.validate_temperature(variance0, name="variance0")
    n_nearest = _n_nearest(n_nearest, len(means))
    n_iter = validation.validate_count(n_iter, "n_iter")
    d = reference._squared_distances(X, means)
    free_energies = [_truncated_free_energy(d, variance, _in_nearest(d, n_nearest), X.shape[1])]
    for step in range(1, n_iter + 1):
        means, variance = _truncated_em_step(X, means, variance, n_nearest, d)
        if not variance > 0:
            raise ValueError(
                f"the variance collapsed to 0 at step {step}: every point lies on the means it "
                "has mass on, where the likelihood is unbounded"
            )
        d = reference._squared_distances(X, means)
        free_energies.append(_truncated_free_energy(d, variance, _in_nearest(d, n_nearest), X.shape[1]))
    return means, variance, np.array(free_energies)


# --- deterministic annealing -----------------------------------------------------------


def critical_temperature(X):
    """``T_c = 2 lambda_max(Sigma_X)``, Sigma_X the covariance of X normalised by N (not N-1).

    Above T_c the configuration with every centre at the data mean is a strict local
    minimum of the softmax free energy F_T and an attracting fixed point of the soft step;
    below it, a saddle and a repelling fixed point (claim annealing-critical-temperature). In the variance of
    the mixture (``T = 2 sigma^2``) the threshold is ``sigma_c^2 = lambda_max``.

    Examples
    --------
    >>> critical_temperature([[-1.0], [1.0]])   # variance 1 (normalised by N = 2)
    2.0
    """
    X = reference._as_float64(X, "X")
    validation.validate_points(X, "X")
    return _critical_temperature(X)


def _critical_temperature(X):
    centred = X - X.mean(axis=0)
    covariance = centred.T @ centred / X.shape[0]
    return 2.0 * float(np.linalg.eigvalsh(covariance)[-1])
