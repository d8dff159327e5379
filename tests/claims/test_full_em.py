"""Claims truncated-free-energy-below-likelihood, truncated-em-full-is-em, soft-kmeans-is-em,
sklearn-one-step: with every cluster in K_i, truncated EM is the EM of the mixture.

Statements, status and proofs: theory/probabilistic.md (registry: theory/claims.toml;
proofs: proofs/proof_probabilistic.py). Tested on every implementation (the ``implementation``
fixture: the reference with ``kmeans_rbf.probabilistic``, torch float64 with
``kmeans_rbf.torch_probabilistic``), against computations written independently of it: the
log-likelihood and an EM step from scipy's normal log-densities, the softmax responsibilities,
soft step and free energy of the package at ``T = 2 sigma^2``, and scikit-learn's spherical
``GaussianMixture``. The variance is drawn like a temperature (``temperatures``:
log-uniform on [1e-3, 1e3]).

Tolerances. Every bound is the float64 entry of ``kmeans_rbf.tolerances`` (256 u: summation
order) times the condition of the quantity and its scale: ``truncated_free_energy_scale``
for free energies and log-likelihoods; ``error_bounds`` at ``T = 2 sigma^2`` for the
responsibilities and the means (the posterior is ``softmax(-d / (2 sigma^2))``); for the
variance, the propagation of those errors derived in ``_em_bounds``; for scikit-learn, in
addition, its own deviations (``_assert_sklearn_step``). Draws whose bound exceeds
``MEANINGFUL`` of the scale are skipped (``assume``), never compared loosely.
"""

import warnings

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import assume, given, note
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import variants
from kmeans_rbf import probabilistic, reference
from kmeans_rbf.strategies import cluster_counts, datasets, problems, temperatures
from kmeans_rbf.tolerances import (
    MEANINGFUL,
    condition_of_responsibilities,
    error_bounds,
    tolerance,
    truncated_free_energy_scale,
)
from support import assert_bites

F64 = tolerance(np.float64)  # 256 u: two float64 evaluations that differ in summation order


def _independent_log_joint(X, means, variance):
    """``log N(x_i; mu_k, sigma^2 I)`` by scipy, shape (N, K), without the prior 1/K."""
    return np.stack([scipy.stats.norm.logpdf(X, loc=mu, scale=np.sqrt(variance)).sum(axis=1) for mu in means], axis=1)


# --- truncated-free-energy-below-likelihood ----------------------------------------------


@pytest.mark.claim("truncated-free-energy-below-likelihood")
@given(problem=problems(n_clusters=cluster_counts()), variance=temperatures(), data=st.data())
def test_truncated_free_energy_is_below_the_likelihood(implementation, problem, variance, data):
    X, C, _ = problem
    K = len(C)
    bound = F64 * truncated_free_energy_scale(X, C, variance, K)
    F = [implementation.truncated_free_energy(X, C, variance, n) for n in range(1, K + 1)]
    ell = implementation.log_likelihood(X, C, variance)
    note(f"F_1..F_K = {F}, log-likelihood {ell}")
    assert all(b >= a - 2 * bound for a, b in zip(F, F[1:]))
    assert abs(F[-1] - ell) <= 2 * bound
    # (1/N) sum_i logsumexp_k [log(1/K) + log N(x_i; mu_k, sigma^2 I)], by scipy.
    independent = float(np.mean(scipy.special.logsumexp(_independent_log_joint(X, C, variance) - np.log(K), axis=1)))
    assert abs(ell - independent) <= 2 * bound
    # The ELBO form at the truncated posterior is the log-sum form, and any other q on
    # the same K_i does no better (the gap is a KL divergence).
    n = data.draw(st.integers(1, K), label="n_nearest")
    q = implementation.truncated_posterior(X, C, variance, n)
    assert abs(implementation.variational_free_energy(X, C, variance, q) - F[n - 1]) <= 2 * bound
    other = np.where(q > 0, data.draw(st.floats(0.1, 1.0), label="weight") + np.arange(K), 0.0)
    other /= other.sum(axis=1, keepdims=True)
    assert implementation.variational_free_energy(X, C, variance, other) <= F[n - 1] + 2 * bound


@pytest.mark.claim("truncated-free-energy-below-likelihood")
def test_truncated_free_energy_is_below_the_likelihood_property_bites():
    assert_bites(test_truncated_free_energy_is_below_the_likelihood, variants.LIKELIHOOD_WITHOUT_PRIOR)


# --- truncated-em-full-is-em ------------------------------------------------------------


def _independent_em_step(X, means, variance):
    """Full EM for the model, from scipy log-densities; no rescaling tricks."""
    log_p = _independent_log_joint(X, means, variance)
    r = np.exp(log_p - scipy.special.logsumexp(log_p, axis=1, keepdims=True))
    mass = r.sum(axis=0)
    if not np.all(mass > 0):
        # A mean whose every weight underflowed: this step is undefined there (the callers
        # assume every mass > 1e-6 before they use the result).
        return np.full(np.shape(means), np.nan), np.nan, r
    new_means = r.T @ X / mass[:, None]
    new_variance = float(np.sum(r * reference.squared_distances(X, new_means))) / X.size
    return new_means, new_variance, r


def _em_bounds(X, C, variance, new_means, r):
    """Bounds on |step - independent step| for the means (per centre) and the variance.

    Means: the soft-step bound at T = 2 sigma^2 (error_bounds). Variance:
    ``s = (1/(N D)) sum_ik r_ik d_ik`` moves by ``(1/(N D)) sum_ik (|dr_ik| d_ik + r_ik |dd_ik|)``
    with ``|dr| <= tol(kappa)`` per entry, ``|dd_ik| <= 2 reach |dmu_k| + tol d_ik`` and
    ``sum_i r_ik |dmu_k| <= n_k tol(kappa N / n_k) spread = N tol(kappa) spread``: in all
    ``tol(kappa) (K max d + 2 K reach spread + max d) / D``, plus the second-order term
    ``sum_k (n_k / N) |dmu_k|^2 / D`` (where points sit on their means, the only one).
    """
    bounds = error_bounds(X, C, 2 * variance, "softmax", np.float64)
    d = reference.squared_distances(X, new_means)
    kappa = condition_of_responsibilities(reference.squared_distances(X, C), r, 2 * variance, "softmax")
    reach = float(np.max(np.abs(new_means[None, :, :] - X[:, None, :])))
    spread = max(float(np.max(np.abs(X))), float(np.max(np.abs(new_means))))
    K, D = len(C), X.shape[1]
    variance_bound = tolerance(np.float64, kappa) * (K * float(d.max()) + 2 * K * reach * spread + float(d.max())) / D
    mass = r.sum(axis=0)
    means_bound = bounds["soft_step"][:, 0]
    finite = np.isfinite(means_bound)
    variance_bound += float(np.sum(mass[finite] / len(X) * D * means_bound[finite] ** 2)) / D
    return bounds["soft_step"], variance_bound, kappa


@pytest.mark.claim("truncated-em-full-is-em")
@given(problem=problems(n_clusters=cluster_counts()), variance=temperatures())
def test_all_nearest_step_is_full_em(implementation, problem, variance):
    X, C, _ = problem
    K = len(C)
    expected_means, expected_variance, r = _independent_em_step(X, C, variance)
    assume(np.all(r.sum(axis=0) > 1e-6))  # the independent step divides by n_k
    means_bound, variance_bound, kappa = _em_bounds(X, C, variance, expected_means, r)
    assume(tolerance(np.float64, kappa) <= MEANINGFUL)
    means, new_variance = implementation.truncated_em_step(X, C, variance, K)
    note(f"means {means.ravel()} vs {expected_means.ravel()}; variance {new_variance} vs {expected_variance}")
    assert np.all(np.abs(means - expected_means) <= means_bound)
    assert abs(new_variance - expected_variance) <= variance_bound


@pytest.mark.claim("truncated-em-full-is-em")
def test_all_nearest_step_is_full_em_property_bites():
    assert_bites(test_all_nearest_step_is_full_em, variants.VARIANCE_AT_THE_OLD_MEANS)


# --- soft-kmeans-is-em ------------------------------------------------------------------


@pytest.mark.claim("soft-kmeans-is-em")
@given(problem=problems(n_clusters=cluster_counts()))
def test_soft_kmeans_is_em_at_half_temperature(implementation, problem):
    X, C, T = problem
    N, D = X.shape
    K = len(C)
    bounds = error_bounds(X, C, T, "softmax", np.float64)
    q = implementation.truncated_posterior(X, C, T / 2, K)
    r = implementation.responsibilities(X, C, T, "softmax")
    assert np.all(np.abs(q - r) <= 2 * bounds["responsibilities"])
    means, _ = implementation.truncated_em_step(X, C, T / 2, K)
    soft = implementation.soft_step(X, C, T, "softmax")
    note(f"EM means {means.ravel()}, soft step {soft.ravel()}")
    assert np.all(np.abs(means - soft) <= 2 * bounds["soft_step"])
    # Mean log-likelihood at sigma^2 = T/2 against the softmax free energy: the error
    # of F_T / T is the free-energy bound over T; the logarithms are rounded once.
    ell = implementation.log_likelihood(X, C, T / 2)
    F_T = implementation.free_energy(X, C, T, "softmax")
    expected = -np.log(K) - 0.5 * D * np.log(np.pi * T) - F_T / T
    bound = 2 * bounds["free_energy"] / T + F64 * truncated_free_energy_scale(X, C, T / 2, K)
    assert abs(ell - expected) <= bound


@pytest.mark.claim("soft-kmeans-is-em")
def test_soft_kmeans_is_em_property_bites():
    assert_bites(test_soft_kmeans_is_em_at_half_temperature, variants.EXPONENT_WITHOUT_THE_HALF)


# --- sklearn-one-step -------------------------------------------------------------------


def _sklearn_one_step(X, means, variance, max_iter=1):
    """scikit-learn's spherical GaussianMixture from equal weights and equal variances."""
    K = len(means)
    model = GaussianMixture(
        K,
        covariance_type="spherical",
        weights_init=np.full(K, 1.0 / K),
        means_init=means,
        precisions_init=np.full(K, 1.0 / variance),
        max_iter=max_iter,
        reg_covar=0.0,
        init_params="random",  # overwritten by the *_init arguments; avoids running KMeans
        random_state=0,
    )
    with warnings.catch_warnings():
        # With max_iter = 1 sklearn always warns: its convergence test compares two lower
        # bounds, and one iteration gives only one. Not a defect of the fit.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return model


def _assert_sklearn_step(X, C, variance, means, new_variance, ell):
    """sklearn's one-step fit from (C, variance) against our step (means, new_variance).

    Bounds: ours against the independent EM step (``_em_bounds``), twice (both sides round);
    sklearn adds 10 eps to n_k (a relative change 10 eps / n_k of the means), and computes
    each component's variance as E_r[x^2] - mu^2 (cancellation: an absolute error up to F64
    times the largest second moment ||x||^2, kept by the weighted average). Its lower bound
    after one iteration is the mean log-likelihood ``ell`` at the start.
    """
    expected_means, _, r = _independent_em_step(X, C, variance)
    mass = r.sum(axis=0)
    means_bound, variance_bound, _ = _em_bounds(X, C, variance, expected_means, r)
    second_moment = float(np.max(np.sum(X**2, axis=1)))
    model = _sklearn_one_step(X, C, variance)
    shift = 10 * np.finfo(float).eps / mass[:, None] * np.abs(means)
    message = f"means {means.ravel()} vs sklearn {model.means_.ravel()}"
    assert np.all(np.abs(means - model.means_) <= 2 * means_bound + shift), message
    pooled = float(model.weights_ @ model.covariances_)
    assert abs(new_variance - pooled) <= 2 * variance_bound + 2 * F64 * second_moment
    assert abs(model.lower_bound_ - ell) <= 2 * F64 * truncated_free_energy_scale(X, C, variance, len(C))


@pytest.mark.claim("sklearn-one-step")
@given(problem=problems(data=datasets(n_points=st.integers(2, 24))), variance=temperatures())
def test_one_step_matches_sklearn_spherical_mixture(implementation, problem, variance):
    X, C, _ = problem
    K, D = len(C), X.shape[1]
    assume(K <= len(X))  # sklearn needs n_samples >= n_components
    expected_means, _, r = _independent_em_step(X, C, variance)
    mass = r.sum(axis=0)
    assume(np.all(mass > 1e-6))
    _, _, kappa = _em_bounds(X, C, variance, expected_means, r)
    assume(tolerance(np.float64, kappa) <= MEANINGFUL)
    # sklearn fails outright on a component whose variance E[x^2] - mu^2 rounds to <= 0
    # (with reg_covar = 0): such draws are outside its domain.
    second_moment = float(np.max(np.sum(X**2, axis=1)))
    component_variances = np.sum(r * reference.squared_distances(X, expected_means), axis=0) / (mass * D)
    assume(np.all(component_variances > 4 * F64 * second_moment))
    means, new_variance = implementation.truncated_em_step(X, C, variance, K)
    _assert_sklearn_step(X, C, variance, means, new_variance, implementation.log_likelihood(X, C, variance))


@pytest.mark.claim("sklearn-one-step")
def test_one_step_matches_sklearn_property_bites():
    assert_bites(test_one_step_matches_sklearn_spherical_mixture, variants.VARIANCE_AT_THE_OLD_MEANS)


@pytest.mark.claim("sklearn-one-step")
def test_sklearn_differs_from_the_second_step_on():
    # Where the models stop coinciding: sklearn learns the weights n_k / N and one variance
    # per component, so from its second iteration on it leaves the shared-variance,
    # equal-prior model. X = {0, 1, 2, 3, 6}, means (0, 6), variance 2: two sklearn
    # iterations give means (1.3452, 5.0415) and weights (0.7146, 0.2854); two EM steps of
    # our model give (1.3025, 4.9412). Each one-step fit restarted from equal weights and
    # the pooled variance agrees with the corresponding step of ours.
    X = np.array([[0.0], [1.0], [2.0], [3.0], [6.0]])
    C0, s0 = np.array([[0.0], [6.0]]), 2.0
    C1, s1 = probabilistic.truncated_em_step(X, C0, s0, 2)
    C2, s2 = probabilistic.truncated_em_step(X, C1, s1, 2)
    _assert_sklearn_step(X, C0, s0, C1, s1, probabilistic.log_likelihood(X, C0, s0))
    _assert_sklearn_step(X, C1, s1, C2, s2, probabilistic.log_likelihood(X, C1, s1))
    two_iterations = _sklearn_one_step(X, C0, s0, max_iter=2)
    # Differences of order 0.1, against bounds of order 1e-13 above.
    assert np.max(np.abs(two_iterations.means_ - C2)) > 0.01
    assert abs(two_iterations.weights_[0] - 0.5) > 0.1
