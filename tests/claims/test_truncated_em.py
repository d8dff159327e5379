"""Claims truncated-em-hard-is-lloyd, truncated-free-energy-hard, truncated-free-energy-monotone:
k-means is truncated EM of an isotropic Gaussian mixture (Lücke & Forster, arXiv 1704.04812).

Statements, status and proofs: theory/probabilistic.md (registry: theory/claims.toml;
proofs: proofs/proof_probabilistic.py). Tested on every implementation (the ``implementation``
fixture: the reference with ``kmeans_rbf.probabilistic``, torch float64 with
``kmeans_rbf.torch_probabilistic``): the step with one nearest cluster is Lloyd's step at any
variance, with the variance update of the *old* cells; the free energy with one nearest
cluster at its optimal variance ``J / D``; truncated EM never decreases its free energy.
The variance is drawn like a temperature (``temperatures``: log-uniform on [1e-3, 1e3]).

Tolerances. Results are compared with values computed from other float64 results, so every
bound is the float64 entry of ``kmeans_rbf.tolerances`` (256 u: summation order) times the
scale of the quantity: the Lloyd-step bound of ``error_bounds`` for the means, and
``log_normaliser_scale`` / ``truncated_free_energy_scale`` (the sizes of the rounded terms
of a free energy) for the free energies.
"""

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.strategies import cluster_counts, problems, temperatures
from kmeans_rbf.tolerances import error_bounds, log_normaliser_scale, tolerance, truncated_free_energy_scale
from support import assert_bites

F64 = tolerance(np.float64)  # 256 u: two float64 evaluations that differ in summation order


# --- truncated-em-hard-is-lloyd ---------------------------------------------------------


@pytest.mark.claim("truncated-em-hard-is-lloyd")
@given(problem=problems(n_clusters=cluster_counts()), variance=temperatures())
def test_one_nearest_step_is_the_lloyd_step(implementation, problem, variance):
    X, C, _ = problem
    means, new_variance = implementation.truncated_em_step(X, C, variance, 1)
    lloyd = implementation.lloyd_step(X, C)
    # Same cells as Lloyd's, so the same means up to summation order: the Lloyd bound of
    # the tolerance table (per centre, N / n_k times the float64 tolerance).
    bound = error_bounds(X, C, None, "hard", np.float64)["lloyd_step"]
    note(f"means {means.ravel()}, Lloyd {lloyd.ravel()}")
    assert np.all(np.abs(means - lloyd) <= bound)
    # The variance is the distortion of the *old* cells at the new means, over N D.
    labels = reference.assign(X, C)
    spread = reference.squared_distances(X, lloyd)
    cells = float(np.mean(spread[np.arange(len(X)), labels])) / X.shape[1]
    variance_bound = F64 * max(float(spread.max()), np.finfo(float).tiny)
    note(f"variance {new_variance}, cell distortion / D {cells}")
    assert abs(new_variance - cells) <= variance_bound
    # ... which is at least J(new means) / D: the new cells can only be better.
    assert new_variance >= reference.objective(X, lloyd) / X.shape[1] - variance_bound


@pytest.mark.claim("truncated-em-hard-is-lloyd")
def test_one_nearest_step_property_bites():
    assert_bites(test_one_nearest_step_is_the_lloyd_step, variants.POSTERIOR_NOT_RENORMALISED)


@pytest.mark.claim("truncated-em-hard-is-lloyd")
def test_variance_update_uses_the_old_cells(implementation):
    # X = {0, 1, 9, 10}, means (0, 1): cells {0}, {1, 9, 10}; new means (0, 20/3); the
    # variance (0 + (17/3)^2 + (7/3)^2 + (10/3)^2) / 4 = 146/12 = 12.1666..., while the new
    # cells {0, 1}, {9, 10} have J(new means) = (0 + 1 + (7/3)^2 + (10/3)^2) / 4 = 79/18.
    X = np.array([[0.0], [1.0], [9.0], [10.0]])
    means, variance = implementation.truncated_em_step(X, np.array([[0.0], [1.0]]), 4.0, 1)
    np.testing.assert_allclose(means, [[0.0], [20.0 / 3.0]], rtol=F64)
    np.testing.assert_allclose(variance, 146.0 / 12.0, rtol=F64)
    np.testing.assert_allclose(reference.objective(X, means), 79.0 / 18.0, rtol=F64)


# --- truncated-free-energy-hard ---------------------------------------------------------


@pytest.mark.claim("truncated-free-energy-hard")
@given(problem=problems(n_clusters=cluster_counts()), variance=temperatures())
def test_free_energy_at_variance_J_over_D(implementation, problem, variance):
    X, C, _ = problem
    N, D = X.shape
    K = len(C)
    J = implementation.objective(X, C)
    assume(J > 0)  # sigma^2 = J / D must be a variance
    s = J / D
    F = implementation.truncated_free_energy(X, C, s, 1)
    expected = -np.log(K) - 0.5 * D * np.log(2 * np.pi * np.e * s)
    # F = normaliser - mean_i min_k d_ik / (2s): the mean is J up to summation order,
    # so J / (2s) = D/2 up to F64 relative; the logarithms are rounded once each.
    bound = F64 * log_normaliser_scale(K, D, s)
    note(f"F = {F}, -log K - (D/2) log(2 pi e J/D) = {expected}")
    assert abs(F - expected) <= bound
    # J/D is the maximiser over sigma^2: F(s) - F(rho s) = (D/2)(1/rho - 1 + log rho).
    for rho in (0.5, 2.0):
        F_rho = implementation.truncated_free_energy(X, C, rho * s, 1)
        gap = 0.5 * D * (1 / rho - 1 + np.log(rho))
        # (J / (2 rho s) = D / (2 rho) is one more term of size D / rho at most.)
        assert abs((F - F_rho) - gap) <= bound + F64 * (log_normaliser_scale(K, D, rho * s) + D / rho)
    # After an M-step from any (C, variance): F(q_old, theta_new) = -log K - (D/2) log(2 pi e s_new).
    q_old = implementation.truncated_posterior(X, C, variance, 1)
    means, s_new = implementation.truncated_em_step(X, C, variance, 1)
    assume(s_new > 0)
    F_old_q = implementation.variational_free_energy(X, means, s_new, q_old)
    expected_new = -np.log(K) - 0.5 * D * np.log(2 * np.pi * np.e * s_new)
    assert abs(F_old_q - expected_new) <= F64 * log_normaliser_scale(K, D, s_new)


@pytest.mark.claim("truncated-free-energy-hard")
def test_free_energy_at_variance_J_over_D_property_bites():
    assert_bites(test_free_energy_at_variance_J_over_D, variants.NORMALISER_WITHOUT_D)


# --- truncated-free-energy-monotone -----------------------------------------------------


@pytest.mark.claim("truncated-free-energy-monotone")
@given(problem=problems(n_clusters=cluster_counts(max_value=12)), variance=temperatures(), n_nearest=cluster_counts(max_value=12))
def test_truncated_free_energy_never_decreases(implementation, problem, variance, n_nearest):
    X, C, _ = problem
    n_nearest = min(n_nearest, len(C))
    # More distinct points than means: every cell keeps two distinct points with mass,
    # so the variance never collapses to 0 (probabilistic.fit would raise).
    assume(len(np.unique(X, axis=0)) > len(C))
    means, s = C, variance
    F = implementation.truncated_free_energy(X, means, s, n_nearest)
    scale = truncated_free_energy_scale(X, means, s, n_nearest)
    history = [F]
    for _ in range(4):
        means, s = implementation.truncated_em_step(X, means, s, n_nearest)
        F_next = implementation.truncated_free_energy(X, means, s, n_nearest)
        scale_next = truncated_free_energy_scale(X, means, s, n_nearest)
        history.append(F_next)
        note(f"free energies {history}")
        assert F_next >= F - F64 * (scale + scale_next)
        F, scale = F_next, scale_next


@pytest.mark.claim("truncated-free-energy-monotone")
def test_truncated_free_energy_never_decreases_property_bites():
    assert_bites(test_truncated_free_energy_never_decreases, variants.EM_MEANS_OVER_N)
