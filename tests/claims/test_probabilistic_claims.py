"""MATH.md claims 11 and 12, project issue 5: the probabilistic view and deterministic annealing.

Statements, status and proofs: theory/probabilistic.md, ids in its headings (registry:
theory/claims.toml; symbolic and z3 proofs: proofs/proof_probabilistic.py).

Every property is a factory of an implementation, run on each implementation (the NumPy
reference with ``kmeans_rbf.probabilistic``, torch float64 with
``kmeans_rbf.torch_probabilistic``, through one NumPy-in/NumPy-out wrapper, ``IMPLEMENTATIONS``)
and on a deliberately broken variant that it must catch (``assert_bites``).

Tolerances. Results are compared with values computed from other float64 results, so every
bound is the float64 entry of ``kmeans_rbf.tolerances`` (256 u: summation order) times the
condition of the quantity and its scale, derived where it is used. The variance of the
mixture plays the temperature ``T = 2 sigma^2`` in ``error_bounds`` and
``condition_of_responsibilities`` (the posterior is ``softmax(-d / (2 sigma^2))``).

Strategies written here (not in kmeans_rbf.strategies): ``variances`` (the variance drawn
like a temperature, log-uniform on [1e-3, 1e3]).
"""

import types
import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
import torch
from hypothesis import Phase, assume, given, note, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from conftest import DEVICES
from kmeans_rbf import probabilistic, reference, torch_probabilistic
from kmeans_rbf import torch as torch_backend
from kmeans_rbf.strategies import datasets, problems, temperatures
from kmeans_rbf.tolerances import condition_of_responsibilities, error_bounds, tolerance
from support import legacy_assert_bites as assert_bites
from variants import variant

F64 = tolerance(np.float64)  # 256 u: two float64 evaluations that differ in summation order


# --- implementations under test --------------------------------------------------------


def _namespace(base, model):
    functions = {f: getattr(base, f) for f in base.__all__}
    functions.update({f: getattr(model, f) for f in model.__all__})
    return types.SimpleNamespace(**functions)


def _to_numpy(value):
    if isinstance(value, tuple):
        return tuple(_to_numpy(v) for v in value)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.double() if value.is_floating_point() else value
        return value.numpy() if value.ndim else value.item()
    return value


class Implementation:
    """Calls one implementation (reference or torch, base package and mixture) with NumPy
    arrays and returns NumPy arrays and floats; torch computes in float64 on ``device``."""

    def __init__(self, name, functions, device=None):
        self.name, self.functions, self.device = name, functions, device

    def __getattr__(self, function_name):
        function = getattr(self.functions, function_name)

        def call(*args, **kwargs):
            if self.device is not None:
                args = [self._tensor(a) for a in args]
                kwargs = {k: self._tensor(v) for k, v in kwargs.items()}
            return _to_numpy(function(*args, **kwargs))

        return call

    def _tensor(self, value):
        if isinstance(value, np.ndarray):
            return torch.tensor(value, dtype=torch.float64, device=self.device)
        return value

    def __repr__(self):
        return self.name


IMPLEMENTATIONS = [Implementation("reference", _namespace(reference, probabilistic))] + [
    Implementation(f"torch-{device}", _namespace(torch_backend, torch_probabilistic), device) for device in DEVICES
]
_MIXTURE = {f: getattr(probabilistic, f) for f in probabilistic.__all__}


def broken(name, **replacements):
    """The reference (base package and mixture) with some functions replaced."""
    return Implementation(name, variant(name, **{**_MIXTURE, **replacements}))


parametrize_implementations = pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=repr)



@st.composite
def variances(draw):
    """A variance sigma^2, log-uniform on [1e-3, 1e3] (the range of ``temperatures``)."""
    return draw(temperatures())


def _distinct_rows(X):
    return len(np.unique(X, axis=0))


# --- truncated-em-hard-is-lloyd ---------------------------------------------------------


def hard_is_lloyd_property(impl):
    @given(problem=problems(), variance=variances())
    def check(problem, variance):
        X, C, _ = problem
        means, new_variance = impl.truncated_em_step(X, C, variance, 1)
        lloyd = impl.lloyd_step(X, C)
        # Same cells as Lloyd's, so the same means up to summation order: the Lloyd bound
        # of the tolerance table (per centre, N / n_k times the float64 tolerance).
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

    return check


@pytest.mark.claim("truncated-em-hard-is-lloyd")
@parametrize_implementations
def test_one_nearest_step_is_the_lloyd_step(implementation):
    hard_is_lloyd_property(implementation)()


def _step_without_renormalising(X, means, variance, n_nearest):
    # The bug: the posterior restricted to K_i but not renormalised on it, so each point
    # weighs by its full-posterior mass on K_i (< 1) instead of 1.
    X, means = np.asarray(X, dtype=float), np.asarray(means, dtype=float)
    d = reference.squared_distances(X, means)
    q = np.where(probabilistic._in_nearest(d, n_nearest), reference.responsibilities(X, means, 2 * variance, "softmax"), 0.0)
    new_means = reference._weighted_means(X, means, q)
    new_variance = float(np.sum(q * reference.squared_distances(X, new_means))) / X.size
    return new_means, new_variance


@pytest.mark.claim("truncated-em-hard-is-lloyd")
def test_one_nearest_step_property_bites():
    assert_bites(hard_is_lloyd_property(broken("q not renormalised", truncated_em_step=_step_without_renormalising)))


@pytest.mark.claim("truncated-em-hard-is-lloyd")
@parametrize_implementations
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


def _normaliser_scale(K, D, variance):
    """Size of the terms of ``-log K - (D/2) log(2 pi e sigma^2)`` (each rounded once)."""
    return np.log(K) + 0.5 * D * (abs(np.log(2 * np.pi * variance)) + 1.0)


def hard_free_energy_property(impl):
    @given(problem=problems(), variance=variances())
    def check(problem, variance):
        X, C, _ = problem
        N, D = X.shape
        K = len(C)
        J = impl.objective(X, C)
        assume(J > 0)  # sigma^2 = J / D must be a variance
        s = J / D
        F = impl.truncated_free_energy(X, C, s, 1)
        expected = -np.log(K) - 0.5 * D * np.log(2 * np.pi * np.e * s)
        # F = normaliser - mean_i min_k d_ik / (2 s): the mean is J up to summation order,
        # so J / (2s) = D/2 up to F64 relative; the logarithms are rounded once each.
        bound = F64 * _normaliser_scale(K, D, s)
        note(f"F = {F}, -log K - (D/2) log(2 pi e J/D) = {expected}")
        assert abs(F - expected) <= bound
        # J/D is the maximiser over sigma^2: F(s) - F(rho s) = (D/2)(1/rho - 1 + log rho).
        for rho in (0.5, 2.0):
            F_rho = impl.truncated_free_energy(X, C, rho * s, 1)
            gap = 0.5 * D * (1 / rho - 1 + np.log(rho))
            # (J / (2 rho s) = D / (2 rho) is one more term of size D / rho at most.)
            assert abs((F - F_rho) - gap) <= bound + F64 * (_normaliser_scale(K, D, rho * s) + D / rho)
        # After an M-step from any (C, variance): F(q_old, theta_new) = -log K - (D/2) log(2 pi e s_new).
        q_old = impl.truncated_posterior(X, C, variance, 1)
        means, s_new = impl.truncated_em_step(X, C, variance, 1)
        assume(s_new > 0)
        F_old_q = impl.variational_free_energy(X, means, s_new, q_old)
        assert abs(F_old_q - (-np.log(K) - 0.5 * D * np.log(2 * np.pi * np.e * s_new))) <= F64 * _normaliser_scale(K, D, s_new)

    return check


@pytest.mark.claim("truncated-free-energy-hard")
@parametrize_implementations
def test_free_energy_at_variance_J_over_D(implementation):
    hard_free_energy_property(implementation)()


def _free_energy_without_D(X, means, variance, n_nearest):
    # The bug: the normaliser of the D-dimensional Gaussian written as -(1/2) log(2 pi s).
    D = np.shape(X)[1]
    return probabilistic.truncated_free_energy(X, means, variance, n_nearest) + 0.5 * (D - 1) * np.log(2 * np.pi * variance)


@pytest.mark.claim("truncated-free-energy-hard")
def test_free_energy_at_variance_J_over_D_property_bites():
    assert_bites(hard_free_energy_property(broken("normaliser without D", truncated_free_energy=_free_energy_without_D)))


# --- truncated-free-energy-monotone -----------------------------------------------------


def _free_energy_scale(X, means, variance, n_nearest):
    """The size of the terms whose rounding makes up the error of a computed free energy.

    F = normaliser + mean_i [log sum_{K_i} exp(logits) - min_k d_ik / (2 s)]: the normaliser
    (logarithms), the distances over 2s, the log of at most n_nearest terms; and, since the
    parameters themselves are rounded results of the previous step, F's sensitivity to a
    relative change u of them: ``|dF/dmu| |mu| <= reach * spread / s`` and ``|dF/ds| s <= D``.
    """
    X, means = np.asarray(X), np.asarray(means)
    d = reference.squared_distances(X, means)
    reach = float(np.max(np.abs(means[None, :, :] - X[:, None, :])))
    spread = max(float(np.max(np.abs(X))), float(np.max(np.abs(means))))
    D = X.shape[1]
    return (
        _normaliser_scale(len(means), D, variance)
        + (float(d.max()) + 2 * D * reach * spread) / (2 * variance)
        + np.log(n_nearest)
        + D
    )


def monotone_property(impl):
    @given(problem=problems(), variance=variances(), n_nearest=st.integers(1, 5))
    def check(problem, variance, n_nearest):
        X, C, _ = problem
        n_nearest = min(n_nearest, len(C))
        # More distinct points than means: every cell keeps two distinct points with mass,
        # so the variance never collapses to 0 (probabilistic.fit would raise).
        assume(_distinct_rows(X) > len(C))
        means, s = C, variance
        F = impl.truncated_free_energy(X, means, s, n_nearest)
        scale = _free_energy_scale(X, means, s, n_nearest)
        history = [F]
        for _ in range(4):
            means, s = impl.truncated_em_step(X, means, s, n_nearest)
            F_next = impl.truncated_free_energy(X, means, s, n_nearest)
            scale_next = _free_energy_scale(X, means, s, n_nearest)
            history.append(F_next)
            note(f"free energies {history}")
            assert F_next >= F - F64 * (scale + scale_next)
            F, scale = F_next, scale_next

    return check


@pytest.mark.claim("truncated-free-energy-monotone")
@parametrize_implementations
def test_truncated_free_energy_never_decreases(implementation):
    monotone_property(implementation)()


def _step_dividing_by_N(X, means, variance, n_nearest):
    # The bug: the M-step means divided by the number of points N instead of the mass n_k.
    X = np.asarray(X, dtype=float)
    q = probabilistic.truncated_posterior(X, means, variance, n_nearest)
    new_means = q.T @ X / len(X)
    new_variance = float(np.sum(q * reference.squared_distances(X, new_means))) / X.size
    return new_means, new_variance


@pytest.mark.claim("truncated-free-energy-monotone")
def test_truncated_free_energy_never_decreases_property_bites():
    assert_bites(monotone_property(broken("means over N", truncated_em_step=_step_dividing_by_N)))


# --- truncated-free-energy-below-likelihood ----------------------------------------------


def _independent_log_likelihood(X, means, variance):
    """(1/N) sum_i logsumexp_k [log(1/K) + sum_j log N(x_ij; mu_kj, sigma^2)], by scipy."""
    log_p = np.stack(
        [scipy.stats.norm.logpdf(X, loc=mu, scale=np.sqrt(variance)).sum(axis=1) for mu in means], axis=1
    ) - np.log(len(means))
    return float(np.mean(scipy.special.logsumexp(log_p, axis=1)))


def below_likelihood_property(impl):
    @given(problem=problems(), variance=variances(), data=st.data())
    def check(problem, variance, data):
        X, C, _ = problem
        K = len(C)
        bound = F64 * _free_energy_scale(X, C, variance, K)
        F = [impl.truncated_free_energy(X, C, variance, n) for n in range(1, K + 1)]
        ell = impl.log_likelihood(X, C, variance)
        note(f"F_1..F_K = {F}, log-likelihood {ell}")
        assert all(b >= a - 2 * bound for a, b in zip(F, F[1:]))
        assert abs(F[-1] - ell) <= 2 * bound
        assert abs(ell - _independent_log_likelihood(X, C, variance)) <= 2 * bound
        # The ELBO form at the truncated posterior is the log-sum form, and any other q on
        # the same K_i does no better (the gap is a KL divergence).
        n = data.draw(st.integers(1, K), label="n_nearest")
        q = impl.truncated_posterior(X, C, variance, n)
        assert abs(impl.variational_free_energy(X, C, variance, q) - F[n - 1]) <= 2 * bound
        other = np.where(q > 0, data.draw(st.floats(0.1, 1.0), label="weight") + np.arange(K), 0.0)
        other /= other.sum(axis=1, keepdims=True)
        assert impl.variational_free_energy(X, C, variance, other) <= F[n - 1] + 2 * bound

    return check


@pytest.mark.claim("truncated-free-energy-below-likelihood")
@parametrize_implementations
def test_truncated_free_energy_is_below_the_likelihood(implementation):
    below_likelihood_property(implementation)()


def _log_likelihood_without_prior(X, means, variance):
    # The bug: the mixture density summed without the prior 1/K.
    return probabilistic.log_likelihood(X, means, variance) + np.log(len(means))


@pytest.mark.claim("truncated-free-energy-below-likelihood")
def test_truncated_free_energy_is_below_the_likelihood_property_bites():
    assert_bites(below_likelihood_property(broken("no prior 1/K", log_likelihood=_log_likelihood_without_prior)))


# --- truncated-em-full-is-em ------------------------------------------------------------


def _independent_em_step(X, means, variance):
    """Full EM for the model, from scipy log-densities; no rescaling tricks."""
    log_p = np.stack([scipy.stats.norm.logpdf(X, loc=mu, scale=np.sqrt(variance)).sum(axis=1) for mu in means], axis=1)
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


def full_em_property(impl):
    @given(problem=problems(), variance=variances())
    def check(problem, variance):
        X, C, _ = problem
        K = len(C)
        expected_means, expected_variance, r = _independent_em_step(X, C, variance)
        assume(np.all(r.sum(axis=0) > 1e-6))  # the independent step divides by n_k
        means_bound, variance_bound, kappa = _em_bounds(X, C, variance, expected_means, r)
        assume(tolerance(np.float64, kappa) <= 0.05)  # a bound above 5% checks nothing
        means, new_variance = impl.truncated_em_step(X, C, variance, K)
        note(f"means {means.ravel()} vs {expected_means.ravel()}; variance {new_variance} vs {expected_variance}")
        assert np.all(np.abs(means - expected_means) <= means_bound)
        assert abs(new_variance - expected_variance) <= variance_bound

    return check


@pytest.mark.claim("truncated-em-full-is-em")
@parametrize_implementations
def test_all_nearest_step_is_full_em(implementation):
    full_em_property(implementation)()


def _variance_at_the_old_means(X, means, variance, n_nearest):
    # The bug: the variance update computed with the distances to the old means.
    X = np.asarray(X, dtype=float)
    new_means, _ = probabilistic.truncated_em_step(X, means, variance, n_nearest)
    q = probabilistic.truncated_posterior(X, means, variance, n_nearest)
    return new_means, float(np.sum(q * reference.squared_distances(X, means))) / X.size


@pytest.mark.claim("truncated-em-full-is-em")
def test_all_nearest_step_is_full_em_property_bites():
    assert_bites(full_em_property(broken("variance at old means", truncated_em_step=_variance_at_the_old_means)))


# --- soft-kmeans-is-em ------------------------------------------------------------------


def soft_kmeans_property(impl):
    @given(problem=problems())
    def check(problem):
        X, C, T = problem
        N, D = X.shape
        K = len(C)
        bounds = error_bounds(X, C, T, "softmax", np.float64)
        q = impl.truncated_posterior(X, C, T / 2, K)
        r = impl.responsibilities(X, C, T, "softmax")
        assert np.all(np.abs(q - r) <= 2 * bounds["responsibilities"])
        means, _ = impl.truncated_em_step(X, C, T / 2, K)
        soft = impl.soft_step(X, C, T, "softmax")
        note(f"EM means {means.ravel()}, soft step {soft.ravel()}")
        assert np.all(np.abs(means - soft) <= 2 * bounds["soft_step"])
        # Mean log-likelihood at sigma^2 = T/2 against the softmax free energy: the error
        # of F_T / T is the free-energy bound over T; the logarithms are rounded once.
        ell = impl.log_likelihood(X, C, T / 2)
        F_T = impl.free_energy(X, C, T, "softmax")
        expected = -np.log(K) - 0.5 * D * np.log(np.pi * T) - F_T / T
        bound = 2 * bounds["free_energy"] / T + F64 * _free_energy_scale(X, C, T / 2, K)
        assert abs(ell - expected) <= bound

    return check


@pytest.mark.claim("soft-kmeans-is-em")
@parametrize_implementations
def test_soft_kmeans_is_em_at_half_temperature(implementation):
    soft_kmeans_property(implementation)()


def _exponent_without_the_half(function):
    # The bug: the component density written exp(-d / sigma^2): the E-step (and everything
    # downstream) then sees the variance sigma^2 / 2.
    def wrong(X, means, variance, *args):
        return function(X, means, variance / 2, *args)

    return wrong


@pytest.mark.claim("soft-kmeans-is-em")
def test_soft_kmeans_is_em_property_bites():
    wrong = broken(
        "exp(-d / sigma^2)",
        truncated_posterior=_exponent_without_the_half(probabilistic.truncated_posterior),
        truncated_em_step=_exponent_without_the_half(probabilistic.truncated_em_step),
    )
    assert_bites(soft_kmeans_property(wrong))


# --- annealing-fixed-point --------------------------------------------------------------


def fixed_point_property(impl):
    @given(X=datasets(), K=st.integers(1, 5), T=temperatures())
    def check(X, K, T):
        M = np.tile(X.mean(axis=0), (K, 1))
        # Identical centres give bitwise identical distances, so every weight of a point is
        # the same: the step is a plain mean of X, rounded like X.mean (kappa = 1), twice.
        bound = 2 * F64 * max(float(np.max(np.abs(X))), np.finfo(float).tiny)
        step = impl.soft_step(X, M, T, "softmax")
        note(f"mean {M[0]}, soft step {step}")
        assert np.all(np.abs(step - M) <= bound)

    return check


@pytest.mark.claim("annealing-fixed-point")
@parametrize_implementations
def test_all_at_mean_is_a_fixed_point(implementation):
    fixed_point_property(implementation)()


def _soft_step_with_rbf_activations(X, C, temperature=None, kind="softmax"):
    # The bug: centres weighted by the raw RBF activations exp(-d/T), not normalised per
    # point into responsibilities (computed per column in the log domain, so it is defined).
    X, C = np.asarray(X, dtype=float), np.asarray(C, dtype=float)
    d = reference.squared_distances(X, C)
    w = np.exp(-(d - d.min(axis=0)) / temperature)
    return w.T @ X / w.sum(axis=0)[:, None]


@pytest.mark.claim("annealing-fixed-point")
def test_all_at_mean_is_a_fixed_point_property_bites():
    assert_bites(fixed_point_property(broken("RBF activations", soft_step=_soft_step_with_rbf_activations)))


# --- annealing-critical-temperature -----------------------------------------------------

# Datasets with known structure: three 1-D clusters; an anisotropic 2-D cloud; a 3-D
# cloud; the 9 + 1 dataset of annealing-global-minimum (a subcritical transition).
_RNG = np.random.default_rng(20240605)
ANNEALING_DATASETS = {
    "1d-three-clusters": np.array([[-4.0], [-3.5], [-3.0], [0.0], [0.4], [3.0], [3.6], [4.1]]),
    "2d-anisotropic": _RNG.standard_normal((12, 2)) @ np.array([[3.0, 0.0], [1.0, 0.5]]) + [5.0, -2.0],
    "3d-cloud": _RNG.uniform(-2.0, 2.0, (10, 3)) + [0.0, 10.0, 0.0],
    "9+1": np.array([[0.0]] * 9 + [[1.0]]),
}


def _covariance(X):
    centred = X - X.mean(axis=0)
    return centred.T @ centred / len(X)


def _soft_step_jacobian(X, C, T):
    """Jacobian of torch's soft step at C by autograd, as a (K D, K D) array."""
    Xt = torch.tensor(X, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(
        lambda c: torch_backend.soft_step(Xt, c, T, "softmax"), torch.tensor(C, dtype=torch.float64)
    )
    return jacobian.reshape(C.size, C.size).numpy()


def _growth(X, C, T):
    """Spectral radius of the soft step's Jacobian at C (the linear growth per step)."""
    return float(np.max(np.abs(np.linalg.eigvals(_soft_step_jacobian(X, C, T)))))


def critical_temperature_property(impl):
    def check():
        for name, X in ANNEALING_DATASETS.items():
            K = 3
            formula = impl.critical_temperature(X)
            M = np.tile(X.mean(axis=0), (K, 1))
            trace = float(np.trace(_covariance(X)))
            R = np.sqrt(trace)
            # The annealing path: from 4 tr(Sigma) >= 2 T_c down by 5% per temperature, 30
            # soft steps at each, each time from a fresh 1e-6 R perturbation (identical centres
            # would stay identical forever). At each temperature, the linear growth of the
            # soft step at the annealed configuration (autograd Jacobian, spectral radius);
            # the first temperature where it exceeds 1 brackets T_c with the one before.
            rng = np.random.default_rng(0)
            C = M
            path, previous = [4.0 * trace], None
            while True:
                T = path[-1]
                C = C + 1e-6 * R * rng.standard_normal(M.shape)
                C = impl.anneal(X, C, [T], "softmax", steps_per_temperature=30)[-1]
                if _growth(X, C, T) > 1.0:
                    break
                # Above T_c the path stays at the mean.
                assert np.max(np.abs(C - M)) <= 1e-3 * R, (name, T)
                previous = T
                path.append(0.95 * T)
            assert previous is not None, f"{name}: unstable at the first temperature of the path"
            # Refine at the fixed point itself, the bracket widened by one grid step on each
            # side (the annealed configuration is the mean only up to its perturbation).
            numeric = scipy.optimize.brentq(
                lambda t: _growth(X, M, t) - 1.0, 0.95 * T, previous / 0.95, rtol=4 * np.finfo(float).eps
            )
            # Jacobian entries are means of terms (2/T) y_a y_b / K of size <= 2 max d / T
            # (d the squared distances to the mean), rounded with the condition kappa of the
            # uniform responsibilities; an eigenvalue moves by at most K D times an entry's
            # error, and T_c by the same relative amount (d growth / d T = -growth / T).
            d = reference.squared_distances(X, M)
            kappa = condition_of_responsibilities(d, np.full(d.shape, 1.0 / K), numeric, "softmax")
            rtol = K * X.shape[1] * tolerance(np.float64, kappa) * 2 * float(d.max()) / numeric + 4 * np.finfo(float).eps
            message = f"{name}: numerical T_c {numeric}, formula {formula}, rtol {rtol:.2e}"
            assert abs(numeric - formula) <= rtol * formula, message
            # Further down the path the centres leave the mean: at T_c / 2 the growth is 2
            # per step, 1e-6 R * 2^30 ~ 1e3 R: the centres leave the mean.
            C = C + 1e-6 * R * rng.standard_normal(M.shape)
            C = impl.anneal(X, C, [numeric / 2], "softmax", steps_per_temperature=30)[-1]
            assert np.max(np.abs(C - M)) > 1e-3 * R, name

    return check


@pytest.mark.claim("annealing-critical-temperature")
@parametrize_implementations
def test_critical_temperature_along_an_annealing_path(implementation):
    critical_temperature_property(implementation)()


def _critical_temperature_not_centred(X):
    # The bug: the second-moment matrix about the origin, X^T X / N, instead of the covariance.
    X = np.asarray(X, dtype=float)
    return 2.0 * float(np.linalg.eigvalsh(X.T @ X / len(X))[-1])


@pytest.mark.claim("annealing-critical-temperature")
def test_critical_temperature_property_bites():
    assert_bites(
        critical_temperature_property(broken("covariance not centred", critical_temperature=_critical_temperature_not_centred))
    )


def hessian_property(free_energy):
    """The autograd Hessian of a torch free energy ``free_energy(X, C, T)`` at the mean."""

    @given(X=datasets(n_points=st.integers(2, 12)), K=st.integers(2, 4), T=temperatures(min_value=1e-2, max_value=1e2))
    def check(X, K, T):
        D = X.shape[1]
        M = np.tile(X.mean(axis=0), (K, 1))
        d = reference.squared_distances(X, M)
        # Entries are means of (2/K)[delta - (2/T)(delta_kl - 1/K) y_a y_b], of size
        # <= (2/K)(1 + 2 max d / T); like the gradient of L_T they go through the
        # responsibilities twice, so the bound is tolerance(kappa) * kappa times that size.
        kappa = condition_of_responsibilities(d, np.full(d.shape, 1.0 / K), T, "softmax")
        assume(tolerance(np.float64, kappa) * kappa <= 0.05)
        Xt = torch.tensor(X, dtype=torch.float64)
        H = torch.autograd.functional.hessian(lambda c: free_energy(Xt, c, T), torch.tensor(M, dtype=torch.float64))
        H = H.reshape(K * D, K * D).numpy()
        formula = 2.0 / K * (np.eye(K * D) - 2.0 / T * np.kron(np.eye(K) - 1.0 / K, _covariance(X)))
        bound = tolerance(np.float64, kappa) * kappa * 2.0 / K * (1 + 2 * float(d.max()) / T)
        note(f"max |H - formula| = {np.max(np.abs(H - formula)):.3e}, bound {bound:.3e}")
        assert np.all(np.abs(H - formula) <= bound)

    return check


@pytest.mark.claim("annealing-critical-temperature")
def test_hessian_at_the_mean_matches_the_formula():
    hessian_property(lambda X, C, T: torch_backend.free_energy(X, C, T, "softmax"))()


@pytest.mark.claim("annealing-critical-temperature")
def test_hessian_property_bites():
    # The bug: the free energy without its factor T, -(1/N) sum_i log sum_k exp(-d_ik / T).
    assert_bites(hessian_property(lambda X, C, T: torch_backend.free_energy(X, C, T, "softmax") / T))


def unstable_below_property(impl):
    def check():
        for name, X in ANNEALING_DATASETS.items():
            K, D = 2, X.shape[1]
            T_c = impl.critical_temperature(X)
            M = np.tile(X.mean(axis=0), (K, 1))
            top = np.linalg.eigh(_covariance(X))[1][:, -1]
            R = float(np.sqrt(np.trace(_covariance(X))))
            direction = np.kron([1.0, -1.0], top).reshape(K, D)
            bound = 2 * error_bounds(X, M, T_c, "softmax", np.float64)["free_energy"]
            for factor in (1.1, 0.9):
                T = factor * T_c
                C = impl.anneal(X, M + 1e-4 * R * direction, [T], "softmax", steps_per_temperature=200)[-1]
                moved = float(np.max(np.abs(C - M)))
                gain = impl.free_energy(X, M, T, "softmax") - impl.free_energy(X, C, T, "softmax")
                message = f"{name} at {factor} T_c: distance from the mean {moved:.3e}, F(mean) - F(C) = {gain:.3e}"
                if factor > 1:
                    # Growth 2 lambda_max / T = 1/1.1 per step: 1e-4 R shrinks by 1.1^-200;
                    # half of the steps are left as room for the nonlinear transient.
                    assert moved < 1e-4 * R * 1.1**-100, message
                else:
                    # Growth 1/0.9 per step: 1e-4 R * 1.11^200 >> R, so the perturbation
                    # runs to another stationary point, below the mean.
                    assert moved > 1e-3 * R, message
                    assert gain > bound, message

    return check


@pytest.mark.claim("annealing-critical-temperature")
@parametrize_implementations
def test_mean_is_stable_above_and_unstable_below(implementation):
    unstable_below_property(implementation)()


def _critical_temperature_unbiased(X):
    # The bug: np.cov's default normalisation N - 1.
    X = np.asarray(X, dtype=float)
    return 2.0 * float(np.linalg.eigvalsh(np.atleast_2d(np.cov(X, rowvar=False)))[-1])


def _critical_temperature_of_the_variance(X):
    # The bug: T and sigma^2 mixed up, T_c = lambda_max (the threshold in sigma^2).
    return probabilistic.critical_temperature(X) / 2


@pytest.mark.claim("annealing-critical-temperature")
def test_mean_is_stable_above_and_unstable_below_property_bites():
    assert_bites(
        unstable_below_property(broken("T_c = lambda_max", critical_temperature=_critical_temperature_of_the_variance))
    )


# --- annealing-global-minimum (refuted) --------------------------------------------------

NINE_AND_ONE = ANNEALING_DATASETS["9+1"]


def global_minimum_counterexample(impl):
    def check():
        X, K = NINE_AND_ONE, 3
        T = 1.01 * impl.critical_temperature(X)  # T_c = 2 * 9/100
        M = np.tile(X.mean(axis=0), (K, 1))
        C = impl.anneal(X, np.array([[0.0], [0.0], [1.0]]), [T], "softmax", steps_per_temperature=500)[-1]
        F_mean, F_split = impl.free_energy(X, M, T, "softmax"), impl.free_energy(X, C, T, "softmax")
        bound = 2 * error_bounds(X, M, T, "softmax", np.float64)["free_energy"]
        # Above T_c, a configuration below the mean ...
        assert F_split < F_mean - bound, f"T = {T}: F(mean) = {F_mean}, F(split {C.ravel()}) = {F_split}"
        # ... while the mean is still a strict local minimum: the soft step contracts there.
        assert _growth(X, M, T) < 1.0

    return check


@pytest.mark.claim("annealing-global-minimum")
@parametrize_implementations
def test_mean_is_not_the_global_minimum_above_the_critical_temperature(implementation):
    global_minimum_counterexample(implementation)()


@pytest.mark.claim("annealing-global-minimum")
def test_counterexample_property_bites():
    assert_bites(global_minimum_counterexample(broken("covariance over N - 1", critical_temperature=_critical_temperature_unbiased)))


def _search_below_the_mean(X, K, T, starts, seed):
    """The lowest F_T found by L-BFGS from ``starts`` random data-based starts."""
    rng = np.random.default_rng(seed)
    D = X.shape[1]

    def objective(c):
        return reference.free_energy(X, c.reshape(K, D), T, "softmax")

    def gradient(c):
        return reference.free_energy_gradient(X, c.reshape(K, D), T, "softmax").ravel()

    best = np.inf
    for _ in range(starts):
        C0 = X[rng.integers(0, len(X), K)] + 0.05 * rng.standard_normal((K, D))
        best = min(best, scipy.optimize.minimize(objective, C0.ravel(), jac=gradient, method="L-BFGS-B").fun)
    return best


def _search_datasets(n_random, rng):
    """Structured families (cross-polytopes, heavy cluster plus outliers, simplex vertices,
    D = 1..6), then ``n_random`` random draws (Gaussian, exponential, blobs, sphere)."""
    for D in range(1, 7):
        yield np.vstack([np.eye(D), -np.eye(D)])
        for outliers in (1, 2, 3, 5):
            yield np.array([[0.0] * D] * (20 - outliers) + [[1.0] + [0.0] * (D - 1)] * outliers)
        yield np.eye(D + 1)[:, :D]
    for _ in range(n_random):
        N, D, shape = int(rng.integers(3, 16)), int(rng.integers(1, 7)), int(rng.integers(4))
        if shape == 0:
            X = rng.standard_normal((N, D))
        elif shape == 1:
            X = rng.exponential(size=(N, D))
        elif shape == 2:
            centres = 3 * rng.standard_normal((int(rng.integers(2, 5)), D))
            X = centres[rng.integers(0, len(centres), N)] + 0.2 * rng.standard_normal((N, D))
        else:
            X = rng.standard_normal((N, D))
            X /= np.linalg.norm(X, axis=1, keepdims=True)
        yield X


def two_centre_search(impl, n_random=40, starts=10, factors=(1.01,), structured=True):
    def check():
        rng = np.random.default_rng(7)
        datasets_ = _search_datasets(n_random, rng)
        if not structured:
            datasets_ = list(datasets_)[-n_random:]
        for index, X in enumerate(datasets_):
            if impl.critical_temperature(X) == 0:
                continue  # every point equal: nothing to split
            for factor in factors:
                T = factor * impl.critical_temperature(X)
                M = np.tile(X.mean(axis=0), (2, 1))
                F_mean = reference.free_energy(X, M, T, "softmax")
                best = _search_below_the_mean(X, 2, T, starts, index)
                # L-BFGS stops at a gradient tolerance, so it may end slightly above the
                # mean's value; a configuration *below* it by more than the rounding of F
                # is a counterexample.
                bound = 2 * error_bounds(X, M, T, "softmax", np.float64)["free_energy"]
                assert best >= F_mean - bound, (index, factor, X, best, F_mean)

    return check


@pytest.mark.slow
@pytest.mark.claim("annealing-global-minimum-two-centres")
def test_no_two_centre_configuration_below_the_mean_above_the_critical_temperature():
    two_centre_search(IMPLEMENTATIONS[0], n_random=200, starts=10, factors=(1.001, 1.01, 1.1))()


@pytest.mark.claim("annealing-global-minimum-two-centres")
def test_two_centre_search_bites():
    broken_impl = broken("T_c = lambda_max", critical_temperature=_critical_temperature_of_the_variance)
    assert_bites(two_centre_search(broken_impl, n_random=5, starts=5, structured=False))


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


def _assert_sklearn_step(X, C, variance, means, new_variance, ell=None):
    """sklearn's one-step fit from (C, variance) against our step (means, new_variance).

    Bounds: ours against the independent EM step (``_em_bounds``), twice (both sides round);
    sklearn adds 10 eps to n_k (a relative change 10 eps / n_k of the means), and computes
    each component's variance as E_r[x^2] - mu^2 (cancellation: an absolute error up to F64
    times the largest second moment ||x||^2, kept by the weighted average).
    """
    K = len(C)
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
    if ell is not None:
        # sklearn's lower bound after one iteration is the mean log-likelihood at the start.
        assert abs(model.lower_bound_ - ell) <= 2 * F64 * _free_energy_scale(X, C, variance, K)


def sklearn_property(impl):
    @given(problem=problems(data=datasets(n_points=st.integers(2, 24))), variance=variances())
    def check(problem, variance):
        X, C, _ = problem
        K, D = len(C), X.shape[1]
        assume(K <= len(X))  # sklearn needs n_samples >= n_components
        expected_means, _, r = _independent_em_step(X, C, variance)
        mass = r.sum(axis=0)
        assume(np.all(mass > 1e-6))
        _, _, kappa = _em_bounds(X, C, variance, expected_means, r)
        assume(tolerance(np.float64, kappa) <= 0.05)
        # sklearn fails outright on a component whose variance E[x^2] - mu^2 rounds to <= 0
        # (with reg_covar = 0): such draws are outside its domain.
        second_moment = float(np.max(np.sum(X**2, axis=1)))
        component_variances = np.sum(r * reference.squared_distances(X, expected_means), axis=0) / (mass * D)
        assume(np.all(component_variances > 4 * F64 * second_moment))
        means, new_variance = impl.truncated_em_step(X, C, variance, K)
        _assert_sklearn_step(X, C, variance, means, new_variance, impl.log_likelihood(X, C, variance))

    return check


@pytest.mark.claim("sklearn-one-step")
@parametrize_implementations
def test_one_step_matches_sklearn_spherical_mixture(implementation):
    sklearn_property(implementation)()


@pytest.mark.claim("sklearn-one-step")
def test_one_step_matches_sklearn_property_bites():
    assert_bites(sklearn_property(broken("variance at old means", truncated_em_step=_variance_at_the_old_means)))


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
