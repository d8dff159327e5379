"""torch mirror of ``kmeans_rbf.probabilistic``: the same names and maths for torch tensors.

Truncated variational EM of the isotropic Gaussian mixture with equal priors and one shared
variance (see ``kmeans_rbf.probabilistic`` for the model, the conventions and the maths).
CPU and CUDA; float64, float32, float16 and bfloat16, computed in float32 for the half
types and rounded back, like ``kmeans_rbf.torch``, whose private helpers are reused here.
Results keep the dtype and device of X; scalars are 0-d tensors. Differentiable in X and
the means by autograd (the variance argument is taken as a number).

Examples
--------
>>> import torch
>>> from kmeans_rbf import torch_probabilistic as gmm
>>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]], dtype=torch.float64)
>>> means, variance = gmm.truncated_em_step(X, X[[0, 3]], 1.0, n_nearest=1)
>>> means, variance
(tensor([[0.5000],
        [9.5000]], dtype=torch.float64), tensor(0.2500, dtype=torch.float64))
"""

import math

import torch

from . import _validation as validation
from . import probabilistic
from . import torch as krbf_torch

__all__ = list(probabilistic.__all__)  # the names of the NumPy mixture, one for one


# --- validation ------------------------------------------------------------------------


def _data_and_means(X, means, means_name="means"):
    """Validated X and means in the working dtype, and the dtype to return results in."""
    X, means = krbf_torch._floating_tensor(X, "X"), krbf_torch._floating_tensor(means, means_name)
    if X.dtype != means.dtype:
        raise TypeError(f"X and {means_name} must have the same dtype; got {X.dtype} and {means.dtype}")
    if X.device != means.device:
        raise ValueError(f"X and {means_name} must be on the same device; got {X.device} and {means.device}")
    validation.validate_points(X, "X")
    validation.validate_points(means, means_name)
    if X.shape[1] != means.shape[1]:
        raise ValueError(
            f"X and {means_name} must have the same number of features; "
            f"X has {X.shape[1]}, {means_name} has {means.shape[1]}"
        )
    working = krbf_torch._working_dtype(X.dtype)
    return X.to(working), means.to(working), X.dtype


def _variance(variance, dtype, name="variance"):
    """A finite variance > 0 whose temperature ``2 sigma^2`` the working dtype can hold."""
    variance = validation.validate_temperature(variance, name=name)
    working = krbf_torch._working_dtype(dtype)
    info = torch.finfo(working)
    if not info.tiny <= 2.0 * variance <= info.max:
        raise ValueError(
            f"{name} {variance:g} is outside the range of {working} "
            f"(2 * {name} must lie in [{info.tiny:g}, {info.max:g}]); use float64 inputs"
        )
    return variance


def _n_nearest(n_nearest, n_means):
    n_nearest = validation.validate_count(n_nearest, "n_nearest", minimum=1)
    if n_nearest > n_means:
        raise ValueError(
            f"n_nearest must be between 1 and K = {n_means} (the number of means); got {n_nearest}"
        )
    return n_nearest


def _distribution(q, shape, X):
    """Rows of q on the simplex; see ``probabilistic._distribution`` for the slack."""
    q = krbf_torch._floating_tensor(q, "q")
    if q.device != X.device:
        raise ValueError(f"q must be on the device of X; got {q.device} and {X.device}")
    if tuple(q.shape) != shape:
        raise ValueError(f"q must have shape (N, K) = {shape}; got {tuple(q.shape)}")
    validation.validate_finite(q, "q")
    if bool((q < 0).any()):
        raise ValueError("q has negative entries; every row must be a distribution")
    # As in the reference, plus one rounding per entry in q's own dtype (a float16 row
    # normalised in float32 and rounded is off by up to K eps).
    slack = shape[1] * max(2.0**-23, torch.finfo(q.dtype).eps)
    worst = float((q.double().sum(dim=1) - 1.0).abs().max())
    if worst > slack:
        raise ValueError(f"the rows of q must sum to 1; a row is off by {worst:.3g}")
    return q.to(X.dtype)


# --- the model -------------------------------------------------------------------------


def _log_normaliser(d, n_features, variance):
    """``-log K - (D/2) log(2 pi sigma^2)`` in the dtype of d (variance a number or 0-d tensor)."""
    variance = torch.as_tensor(variance, dtype=d.dtype, device=d.device)
    return -math.log(d.shape[1]) - 0.5 * n_features * torch.log(2.0 * math.pi * variance)


def log_joint(X, means, variance):
    """``log p(x_i, k) = -log K - (D/2) log(2 pi sigma^2) - d_ik / (2 sigma^2)``, (N, K).

    See ``probabilistic.log_joint``.

    Examples
    --------
    >>> log_joint(torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0]]), variance=0.5)
    tensor([[-0.5724],
            [-1.5724]])
    """
    X, means, dtype = _data_and_means(X, means)
    variance = _variance(variance, dtype)
    return krbf_torch._returned(_log_joint(krbf_torch._squared_distances(X, means), variance, X.shape[1]), dtype)


def _log_joint(d, variance, n_features):
    return _log_normaliser(d, n_features, variance) - d / (2.0 * variance)


def _in_nearest(d, n_nearest):
    """Boolean (N, K): k is among the n_nearest closest means of x_i (ties: lowest index)."""
    order = torch.sort(d, dim=1, stable=True).indices[:, :n_nearest]
    return torch.zeros(d.shape, dtype=torch.bool, device=d.device).scatter_(1, order, True)


def _truncated_logits(d, variance, mask):
    return torch.where(mask, krbf_torch._logits(d, 2.0 * variance), -torch.inf)


def truncated_posterior(X, means, variance, n_nearest):
    """The truncated E-step, (N, K); see ``probabilistic.truncated_posterior``.

    Examples
    --------
    >>> X, means = torch.tensor([[0.0]]), torch.tensor([[0.0], [1.0], [3.0]])
    >>> truncated_posterior(X, means, variance=0.5, n_nearest=2)
    tensor([[0.7311, 0.2689, 0.0000]])
    """
    X, means, dtype = _data_and_means(X, means)
    variance = _variance(variance, dtype)
    n_nearest = _n_nearest(n_nearest, len(means))
    d = krbf_torch._squared_distances(X, means)
    return krbf_torch._returned(_posterior(d, variance, _in_nearest(d, n_nearest)), dtype)


def _posterior(d, variance, mask):
    return krbf_torch._softmax(_truncated_logits(d, variance, mask))


# --- free energies ---------------------------------------------------------------------


def variational_free_energy(X, means, variance, q):
    """``F(q, theta) = (1/N) sum_i [sum_k q_ik log p(x_i, k) + H(q_i)]``, 0-d.

    See ``probabilistic.variational_free_energy``.

    Examples
    --------
    >>> X, means = torch.tensor([[0.0]]), torch.tensor([[0.0], [0.0]])
    >>> variational_free_energy(X, means, 1.0, torch.tensor([[1.0, 0.0]]))
    tensor(-1.6121)
    """
    X, means, dtype = _data_and_means(X, means)
    variance = _variance(variance, dtype)
    q = _distribution(q, (len(X), len(means)), X)
    log_p = _log_joint(krbf_torch._squared_distances(X, means), variance, X.shape[1])
    return krbf_torch._returned(_variational_free_energy(log_p, q), dtype)


def _variational_free_energy(log_p, q):
    positive = q > 0
    expected = torch.sum(torch.where(positive, q * torch.where(positive, log_p, 0.0), 0.0), dim=1)
    entropy = -torch.sum(torch.where(positive, q * torch.log(torch.where(positive, q, 1.0)), 0.0), dim=1)
    return torch.mean(expected + entropy)


def truncated_free_energy(X, means, variance, n_nearest):
    """``(1/N) sum_i log sum_{k in K_i} p(x_i, k)``, 0-d; see ``probabilistic.truncated_free_energy``.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    >>> truncated_free_energy(X, X, 0.5, n_nearest=1)
    tensor(-1.2655, dtype=torch.float64)
    """
    X, means, dtype = _data_and_means(X, means)
    variance = _variance(variance, dtype)
    n_nearest = _n_nearest(n_nearest, len(means))
    d = krbf_torch._squared_distances(X, means)
    return krbf_torch._returned(_truncated_free_energy(d, variance, _in_nearest(d, n_nearest), X.shape[1]), dtype)


def _truncated_free_energy(d, variance, mask, n_features):
    log_partition = torch.logsumexp(_truncated_logits(d, variance, mask), dim=1)
    # The row minimum was detached in krbf_torch._logits; it is detached here too, so that the
    # two dependencies on it cancel in autograd as they do in exact arithmetic.
    nearest = d.min(dim=1).values.detach() / (2.0 * variance)
    return _log_normaliser(d, n_features, variance) + torch.mean(log_partition - nearest)


def log_likelihood(X, means, variance):
    """Mean log-likelihood of the mixture, 0-d; see ``probabilistic.log_likelihood``.

    Examples
    --------
    >>> log_likelihood(torch.tensor([[0.0]]), torch.tensor([[0.0], [0.0]]), variance=1.0)
    tensor(-0.9189)
    """
    X, means, dtype = _data_and_means(X, means)
    variance = _variance(variance, dtype)
    d = krbf_torch._squared_distances(X, means)
    mask = torch.ones(d.shape, dtype=torch.bool, device=d.device)
    return krbf_torch._returned(_truncated_free_energy(d, variance, mask, X.shape[1]), dtype)


# --- EM --------------------------------------------------------------------------------


def truncated_em_step(X, means, variance, n_nearest):
    """One truncated EM step, ``(means (K, D), variance 0-d)``; see ``probabilistic.truncated_em_step``.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]])
    >>> truncated_em_step(X, torch.tensor([[0.0], [10.0]]), 1.0, n_nearest=2)
    (tensor([[0.5000],
            [9.5000]]), tensor(0.2500))
    """
    X, means, dtype = _data_and_means(X, means)
    variance = _variance(variance, dtype)
    n_nearest = _n_nearest(n_nearest, len(means))
    new_means, new_variance = _truncated_em_step(X, means, variance, n_nearest, krbf_torch._squared_distances(X, means))
    return krbf_torch._returned(new_means, dtype), krbf_torch._returned(new_variance, dtype)


def _mean_weights(d, variance, mask):
    """Per-mean rescaled q (``krbf_torch._softmax_column_weights``); see ``probabilistic._mean_weights``."""
    live = mask.any(dim=0)
    weights = torch.zeros_like(d)
    masked = torch.where(mask, d, torch.inf)[:, live]
    weights[:, live] = krbf_torch._softmax_column_weights(masked, 2.0 * variance)
    return weights


def _new_means(X, means, variance, n_nearest, d, mask):
    """The M-step's means. With one nearest mean it is Lloyd's step, with all K the softmax
    soft step at T = 2 sigma^2: those are computed by ``kmeans_rbf.torch``'s steps (streamed,
    with certified labels), so that the identities hold bit for bit. A variance that
    requires grad takes the dense weights instead: a float temperature would cut its
    gradient."""
    if n_nearest == 1:
        return krbf_torch._step(X, means, None, "hard")
    if n_nearest == means.shape[0] and not (torch.is_tensor(variance) and variance.requires_grad):
        return krbf_torch._step(X, means, 2.0 * float(variance), "softmax")
    return krbf_torch._weighted_means(X, means, _mean_weights(d, variance, mask))


def _truncated_em_step(X, means, variance, n_nearest, d):
    mask = _in_nearest(d, n_nearest)
    q = _posterior(d, variance, mask)
    new_means = _new_means(X, means, variance, n_nearest, d, mask)
    spread = krbf_torch._squared_distances(X, new_means)
    new_variance = torch.sum(q * spread) / (X.shape[0] * X.shape[1])
    return new_means, new_variance


def fit(X, means0, variance0, n_nearest, n_iter):
    """``n_iter`` truncated EM steps; ``(means, variance, free_energies (n_iter + 1,))``.

    See ``probabilistic.fit``: the free energies are recorded at the initial parameters
    and after every step, and a variance that collapses to 0 raises ValueError.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]], dtype=torch.float64)
    >>> means, variance, F = fit(X, X[:2], 4.0, n_nearest=1, n_iter=3)
    >>> means.ravel(), F
    (tensor([0.5000, 9.5000], dtype=torch.float64), tensor([-6.8365, -3.0418, -1.4189, -1.4189], dtype=torch.float64))
    """
    X, means, dtype = _data_and_means(X, means0, "means0")
    variance = _variance(variance0, dtype, name="variance0")
    n_nearest = _n_nearest(n_nearest, len(means))
    n_iter = validation.validate_count(n_iter, "n_iter")
    d = krbf_torch._squared_distances(X, means)
    free_energies = [_truncated_free_energy(d, variance, _in_nearest(d, n_nearest), X.shape[1])]
    variance = torch.as_tensor(variance, dtype=X.dtype, device=X.device)
    for step in range(1, n_iter + 1):
        means, variance = _truncated_em_step(X, means, variance, n_nearest, d)
        if not bool(variance > 0):
            raise ValueError(
                f"the variance collapsed to 0 at step {step}: every point lies on the means it "
                "has mass on, where the likelihood is unbounded"
            )
        d = krbf_torch._squared_distances(X, means)
        free_energies.append(_truncated_free_energy(d, variance, _in_nearest(d, n_nearest), X.shape[1]))
    return (
        krbf_torch._returned(means, dtype),
        krbf_torch._returned(variance, dtype),
        krbf_torch._returned(torch.stack(free_energies), dtype),
    )


# --- deterministic annealing -----------------------------------------------------------


def critical_temperature(X):
    """``T_c = 2 lambda_max`` of the covariance of X normalised by N, 0-d.

    See ``probabilistic.critical_temperature``.

    Examples
    --------
    >>> critical_temperature(torch.tensor([[-1.0], [1.0]]))
    tensor(2.)
    """
    X = krbf_torch._floating_tensor(X, "X")
    validation.validate_points(X, "X")
    dtype = X.dtype
    X = X.to(krbf_torch._working_dtype(dtype))
    centred = X - X.mean(dim=0)
    covariance = centred.T @ centred / X.shape[0]
    return krbf_torch._returned(2.0 * torch.linalg.eigvalsh(covariance)[-1], dtype)
