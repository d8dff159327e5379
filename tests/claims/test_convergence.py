"""Convergence as T -> 0 (MATH.md claims 1, 2 and 14): property tests on every backend.

Claims (theory/convergence.md): ``sandwich``, ``softmax-excess-bound``, ``uniform-rate``,
``gamma-convergence``, ``minimisers-compact``, ``fixed-points-hull``,
``no-equicoercivity``, ``rates``. Each property is a factory of an implementation; it
passes on ``conftest.BACKENDS`` and must fail (``assert_bites``) on a deliberately broken
variant of the reference.

Tolerances. Every quantity an implementation returns (J, L_T, F_T) is compared with exact
bounds, so each may be off by its float64 rounding error: the entries ``objective`` and
``free_energy`` of ``kmeans_rbf.tolerances.error_bounds`` at that problem (for J, those of
``kind='hard'``). An inequality between two computed quantities gets the sum of their two
entries. Where a test adds a term of its own, the comment beside it derives it.

Strategies written here (not in kmeans_rbf.strategies): ``coincident_problems`` (all
centres equal: the lower bound of the sandwich is attained), ``extremal_problems`` (the
configuration that attains the sharp upper constant), ``centre_sets`` (one dataset, many
centre configurations) and ``far_problems`` (centres far outside the data).
"""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import Phase, assume, given, note, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import lambertw

from conftest import BACKENDS
from kmeans_rbf import reference
from kmeans_rbf.strategies import centres, datasets, problems, temperatures
from kmeans_rbf.tolerances import error_bounds, tolerance
from support import legacy_assert_bites as assert_bites
from variants import variant

KINDS = ("softmax", "entmax15")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    # Every tensor here is tiny (N <= 24, K <= 5): torch's intra-op thread pool costs more
    # than it saves (1-5 ms per reduction on a loaded 2-core machine, 10x one thread). Only
    # speed changes; the previous setting is restored after this module.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --- the constants of the claims (proofs/proof_convergence.py) -------------------------


def entropy_maximum(kind, K):
    """H_max: log K (Shannon) or (4/3)(1 - K^-1/2) (Tsallis 1.5), the entropy at uniform p."""
    return float(np.log(K)) if kind == "softmax" else (4.0 / 3.0) * (1.0 - K**-0.5)


def _entmax_extremal(K):
    m = K - 1
    y = (9 + 12 * m - 3 * np.sqrt(9 + 8 * m)) / (18 * m * (m + 1))
    b, q = np.sqrt(1 - m * y), np.sqrt(y)
    return 2 * m * y * (b - q), 2 * (b - q)


def sharp_constant(kind, K):
    """c_K = sup_C (L_T - J)/T (claim uniform-rate): W((K-1)/e) or the entmax closed form."""
    if K == 1:
        return 0.0
    if kind == "softmax":
        return float(lambertw((K - 1) / np.e).real)
    return float(_entmax_extremal(K)[0])


def extremal_regret(kind, K):
    """The regret, in units of T, of the K - 1 non-nearest centres where c_K is attained."""
    if kind == "softmax":
        return 1.0 + sharp_constant(kind, K)
    return float(_entmax_extremal(K)[1])


# --- helpers -----------------------------------------------------------------------------


def _values(impl, X, C, T, kind):
    """(J, L_T, F_T) as computed by the implementation."""
    J = float(impl.objective(X, C))
    L = float(impl.objective(X, C, T, kind))
    F = float(impl.free_energy(X, C, T, kind))
    return J, L, F


def _slack(X, C, T, kind):
    """Float64 rounding bounds of (J, L_T, F_T) at this problem (module docstring)."""
    soft = error_bounds(X, C, T, kind, np.float64)
    hard = error_bounds(X, C, None, "hard", np.float64)
    return hard["objective"], soft["objective"], soft["free_energy"]


def _regret_structure(X, C):
    """Per point: regrets a (N, K), tie counts s_i, and the smallest positive regret m_i (inf if none)."""
    d = reference.squared_distances(X, C)
    a = d - d.min(axis=1, keepdims=True)
    ties = np.sum(a == 0, axis=1)
    positive = np.where(a > 0, a, np.inf)
    return d, a, ties, positive.min(axis=1)


def _entmax15_by_newton(z):
    """1.5-entmax of one row by Newton's method on sum_k [z_k/2 - tau]_+^2 = 1.

    An oracle independent of the sort-based algorithm: the function is convex and
    decreasing in tau and >= 0 at tau = max z/2 - 1, so the iterates increase to the root.
    """
    u = np.asarray(z, dtype=np.float64) / 2
    tau = u.max() - 1
    for _ in range(100):
        active = np.maximum(u - tau, 0.0)
        step = (np.sum(active**2) - 1) / (2 * np.sum(active))
        tau += step
        if step <= 1e-17:
            break
    return np.maximum(u - tau, 0.0) ** 2



# --- strategies of this module -----------------------------------------------------------


# --- deliberately broken variants --------------------------------------------------------

_TEMPERATURE_FUNCTIONS = ("responsibilities", "objective", "free_energy", "gradient", "free_energy_gradient", "soft_step")


def _temperature_variant(name, transform):
    """The reference with the temperature replaced by transform(T) in every soft function."""

    def wrap(function):
        def wrapped(X, C, temperature=None, kind=None):
            kind = kind if kind is not None else ("softmax" if function.__name__ in ("free_energy", "free_energy_gradient", "soft_step") else "hard")
            if temperature is not None:
                temperature = transform(temperature)
            return function(X, C, temperature, kind)

        wrapped.__name__ = function.__name__
        return wrapped

    return variant(name, **{f: wrap(getattr(reference, f)) for f in _TEMPERATURE_FUNCTIONS})


TEMPERATURE_SQUARED = _temperature_variant("temperature applied as T^2", lambda T: T * T)
TEMPERATURE_INVERTED = _temperature_variant("temperature applied as 1/T", lambda T: 1.0 / T)


def _free_energy_wrong_sign(X, C, temperature=None, kind="softmax"):
    # F = r.d + T H(r) instead of r.d - T H(r); since L - F = T H, that is 2 L - F.
    if kind == "hard":
        return reference.free_energy(X, C, temperature, kind)
    return 2 * reference.objective(X, C, temperature, kind) - reference.free_energy(X, C, temperature, kind)


ENTROPY_WRONG_SIGN = variant("entropy with the wrong sign in free_energy", free_energy=_free_energy_wrong_sign)


def _summed_objective(X, C, temperature=None, kind="hard"):
    # sum_i instead of (1/N) sum_i, for J and L_T alike.
    return len(X) * reference.objective(X, C, temperature, kind)


OBJECTIVE_SUMMED = variant("objective summed instead of averaged", objective=_summed_objective)


def _sparse_responsibilities(X, C, temperature=None, kind="hard"):
    if kind != "entmax15":
        return reference.responsibilities(X, C, temperature, kind)
    d = reference.squared_distances(X, C)
    return reference.sparsemax(-(d - d.min(axis=1, keepdims=True)) / temperature)


def _sparse_objective(X, C, temperature=None, kind="hard"):
    if kind != "entmax15":
        return reference.objective(X, C, temperature, kind)
    d = reference.squared_distances(X, C)
    return float(np.mean(np.sum(_sparse_responsibilities(X, C, temperature, kind) * d, axis=1)))


def _sparse_free_energy(X, C, temperature=None, kind="softmax"):
    # The sparsemax free energy: its own entropy (1 - sum p^2)/2, whose maximum is (1 - 1/K)/2.
    if kind != "entmax15":
        return reference.free_energy(X, C, temperature, kind)
    d = reference.squared_distances(X, C)
    r = _sparse_responsibilities(X, C, temperature, kind)
    return float(np.mean(np.sum(r * d, axis=1) - temperature * (1 - np.sum(r**2, axis=1)) / 2))


SPARSEMAX_FOR_ENTMAX = variant(
    "sparsemax in place of entmax15",
    responsibilities=_sparse_responsibilities,
    objective=_sparse_objective,
    free_energy=_sparse_free_energy,
)


def _naive_weights(X, C, temperature):
    # A naive softmax: exp(-d/T) / sum exp(-d/T) with no shift. Every exp underflows to 0
    # once d/T > ~745 and the weights become 0/0. The project turns NumPy warnings into
    # errors; this variant models a naive implementation that silently returns NaN (NumPy's
    # default), so the property sees the value, not a warning.
    d = reference.squared_distances(X, C)
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(-d / temperature)
        return d, e, e / e.sum(axis=1, keepdims=True)


def _naive_objective(X, C, temperature=None, kind="hard"):
    if kind != "softmax":
        return reference.objective(X, C, temperature, kind)
    d, _, r = _naive_weights(X, C, temperature)
    with np.errstate(invalid="ignore"):  # NaN weights propagate, as in a naive implementation
        return float(np.mean(np.sum(r * d, axis=1)))


def _naive_free_energy(X, C, temperature=None, kind="softmax"):
    if kind != "softmax":
        return reference.free_energy(X, C, temperature, kind)
    _, e, _ = _naive_weights(X, C, temperature)
    with np.errstate(divide="ignore"):  # log 0 = -inf, as in a naive implementation
        return float(np.mean(-temperature * np.log(e.sum(axis=1))))


SOFTMAX_WITHOUT_SHIFT = variant(
    "softmax without the max-shift", objective=_naive_objective, free_energy=_naive_free_energy
)


def _softmax_over_points_objective(X, C, temperature=None, kind="hard"):
    # The softmax taken over the wrong axis (the points, dim=0) instead of the centres.
    if kind != "softmax":
        return reference.objective(X, C, temperature, kind)
    d = reference.squared_distances(X, C)
    r = reference.softmax((-(d - d.min(axis=0, keepdims=True)) / temperature).T).T
    return float(np.mean(np.sum(r * d, axis=1)))


SOFTMAX_OVER_POINTS = variant("softmax over the points instead of the centres", objective=_softmax_over_points_objective)


def _lloyd_step_empty_to_origin(X, C):
    # sums / max(count, 1): an empty cell's centre lands on the origin instead of staying.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    r = np.eye(len(C))[reference.assign(X, C)]
    return (r.T @ X) / np.maximum(r.sum(axis=0), 1.0)[:, None]


LLOYD_EMPTY_TO_ORIGIN = variant("Lloyd step with empty centres sent to the origin", lloyd_step=_lloyd_step_empty_to_origin)


def _soft_step_without_the_factor_two(X, C, temperature=None, kind="softmax"):
    # A gradient step of N/n_k instead of N/(2 n_k): the mirror image of C through the mean.
    return 2 * reference.soft_step(X, C, temperature, kind) - np.asarray(C)


SOFT_STEP_MIRRORED = variant("soft step N/n_k", soft_step=_soft_step_without_the_factor_two)


# --- claim rates -------------------------------------------------------------------------------


def _softmax_rate_bounds(X, C, T):
    """(lower, upper) on L_T - J for softmax (proofs: test_softmax_rate_is_exponential...).

    A e^{-m/T} / (1 + (K-1) e^{-m/T}) <= L_T - J <= A e^{-m/T} + (K-1) m' e^{-m'/T}, with m
    the smallest positive regret, m' the next distinct one, A = (m/N) sum_i n_i(m)/s_i.
    """
    _, a, ties, _ = _regret_structure(X, C)
    positive = np.unique(a[a > 0])
    m = positive[0]
    A = m / len(X) * float(np.sum(np.sum(a == m, axis=1) / ties))
    E = np.exp(-m / T)
    K = a.shape[1]
    upper = A * E + ((K - 1) * positive[1] * np.exp(-positive[1] / T) if len(positive) > 1 else 0.0)
    return A * E / (1 + (K - 1) * E), upper, m, A


def softmax_rate_property(impl):
    @given(problem=problems(), ratio=st.floats(2.0, 30.0))
    def check(problem, ratio):
        X, C, _ = problem
        _, a, _, _ = _regret_structure(X, C)
        assume(np.any(a > 0))
        m = float(np.min(a[a > 0]))
        T = m / ratio  # T <= m/2 < m', where the upper bound holds
        lower, upper, _, _ = _softmax_rate_bounds(X, C, T)
        J, L, _ = _values(impl, X, C, T, "softmax")
        eJ, eL, _ = _slack(X, C, T, "softmax")
        note(f"m={m!r} T={T!r}: {lower!r} <= L - J = {L - J!r} <= {upper!r}")
        assert lower - eJ - eL <= L - J <= upper + eJ + eL

    return check


@pytest.mark.claim("rates")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_softmax_excess_is_exponential_in_one_over_t(implementation):
    softmax_rate_property(implementation)()


# Known margins: X = {0, 2}, C = (0, 1): regrets 1 and 3, m = 1, A = 1/2. X = {0, 3},
# C = (-1, 1, 2): point 0 is tied (s = 2) with regret 3, point 3 has regrets 3 and 15:
# m = 3, A = (3/2)(1/2 + 1) = 9/4.
MARGINS = {
    "m=1,A=1/2": (np.array([[0.0], [2.0]]), np.array([[0.0], [1.0]]), 1.0, 0.5),
    "m=3,A=9/4,tied": (np.array([[0.0], [3.0]]), np.array([[-1.0], [1.0], [2.0]]), 3.0, 2.25),
}


def rate_fit_property(impl, cases=tuple(MARGINS)):
    """Least-squares fit of log(L_T - J) = log A - m/T over m/T in [4, 20]: slope -m, intercept log A.

    The residual rho_j = log(L - J) - log A + m/T_j is bounded by the two-sided bounds,
    |rho_j| <= max(log(1 + (K-1)E), log(1 + (K-1) m' e^{-m'/T}/(A E))) plus the rounding,
    2 (eJ + eL) / lower; so the fitted slope is within sum_j |x_j - xbar| rho_j /
    sum_j (x_j - xbar)^2 of -m and the intercept within max rho + |slope error| |xbar|.
    """

    def check():
        for case in cases:
            X, C, m, A = MARGINS[case]
            x = np.linspace(4.0, 20.0, 9) / m  # 1/T
            y, rho = [], []
            for inverse in x:
                T = 1.0 / inverse
                lower, upper, m_found, A_found = _softmax_rate_bounds(X, C, T)
                assert (m_found, A_found) == (m, A), "the documented margin and constant"
                J, L, _ = _values(impl, X, C, T, "softmax")
                eJ, eL, _ = _slack(X, C, T, "softmax")
                assert L - J > 0, f"{case}: no excess to fit at T={T}"
                y.append(np.log(L - J))
                rho.append(max(np.log(A * np.exp(-m / T) / lower), np.log(upper / (A * np.exp(-m / T))))
                           + 2 * (eJ + eL) / lower)
            slope, intercept = np.polyfit(x, y, 1)
            rho = np.array(rho)
            slope_error = np.sum(np.abs(x - x.mean()) * rho) / np.sum((x - x.mean()) ** 2)
            fitted = f"{case}: slope {slope!r} (-m = {-m}), intercept {intercept!r} (log A = {np.log(A)!r})"
            assert abs(slope + m) <= slope_error, fitted
            assert abs(intercept - np.log(A)) <= rho.max() + slope_error * x.mean(), fitted

    return check


@pytest.mark.claim("rates")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_softmax_log_excess_has_slope_minus_margin(implementation):
    rate_fit_property(implementation)()


def entmax_threshold_property(impl):
    @given(problem=problems(), fraction=st.floats(1e-3, 1.0), above=st.floats(1.05, 1.5))
    def check(problem, fraction, above):
        X, C, _ = problem
        d, a, ties, margins = _regret_structure(X, C)
        assume(np.any(np.isfinite(margins)))
        # T* = min_i m_i sqrt(s_i) / 2: below it every row is uniform on its tied nearest centres
        thresholds = margins * np.sqrt(ties) / 2
        critical = int(np.argmin(thresholds))
        T_star = float(thresholds[critical])
        T = fraction * T_star
        J, L, F = _values(impl, X, C, T, "entmax15")
        eJ, eL, eF = _slack(X, C, T, "entmax15")
        tied_entropy = (4.0 / 3.0) * (1 - 1 / np.sqrt(ties))
        note(f"T*={T_star!r}, T={T!r}: L - J = {L - J!r}, F - J = {F - J!r}")
        assert abs(L - J) <= eJ + eL, "L_T != J below the threshold"
        assert abs((F - J) + T * np.mean(tied_entropy)) <= eJ + eF, "F_T != J - T mean H(ties)"
        # Above the threshold the critical point's row is no longer hard: its excess is the
        # Newton oracle's, and the mean excess is at least that over N.
        T_up = above * T_star
        row = _entmax15_by_newton(-a[critical] / T_up)
        floor = float(row @ a[critical]) / len(X)
        J, L, _ = _values(impl, X, C, T_up, "entmax15")
        eJ, eL, _ = _slack(X, C, T_up, "entmax15")
        assume(floor > 10 * (eJ + eL))  # resolvable above the rounding
        note(f"T={T_up!r}: L - J = {L - J!r} >= {floor!r}")
        assert L - J >= floor - eJ - eL, "L_T = J above the threshold"

    return check


@pytest.mark.claim("rates")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_entmax_is_exact_below_the_threshold_only(implementation):
    entmax_threshold_property(implementation)()


def softmax_free_energy_ties_property(impl):
    @given(problem=problems(), ratio=st.floats(2.0, 30.0))
    def check(problem, ratio):
        X, C, _ = problem
        _, a, ties, _ = _regret_structure(X, C)
        assume(np.any(a > 0))
        T = float(np.min(a[a > 0])) / ratio
        J, _, F = _values(impl, X, C, T, "softmax")
        eJ, _, eF = _slack(X, C, T, "softmax")
        linear = -T * np.mean(np.log(ties))
        tail = T * np.mean((a.shape[1] - ties) / ties) * np.exp(-ratio)  # -(T/N) sum (K - s_i) E / s_i
        note(f"F - J = {F - J!r}, -(T/N) sum log s_i = {linear!r}, tail {tail!r}")
        assert linear - tail - eJ - eF <= F - J <= linear + eJ + eF

    return check


@pytest.mark.claim("rates")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_softmax_free_energy_gap_is_linear_with_ties(implementation):
    softmax_free_energy_ties_property(implementation)()


@pytest.mark.claim("rates")
@pytest.mark.parametrize(
    "broken, make_property",
    [
        (TEMPERATURE_SQUARED, softmax_rate_property),
        (TEMPERATURE_SQUARED, rate_fit_property),
        (SPARSEMAX_FOR_ENTMAX, entmax_threshold_property),
        (TEMPERATURE_INVERTED, softmax_free_energy_ties_property),
    ],
    ids=["T^2-bounds", "T^2-fit", "sparsemax-threshold", "1/T-ties"],
)
def test_rates_bites(broken, make_property):
    test = make_property(broken)
    assert_bites(test if hasattr(test, "hypothesis") else test)
