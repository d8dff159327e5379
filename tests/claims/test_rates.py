"""Claim rates: at fixed C, how fast L_T and F_T reach J as T -> 0.

Claim (theory/convergence.md; proofs in proofs/proof_convergence.py). Per point, regrets
``a_ik = d_ik - min_l d_il``; s_i tied nearest centres; m the smallest positive regret over
all points, m' the next distinct one; A = (m/N) sum_i n_i(m)/s_i; E = e^{-m/T}:

(a) softmax: A E / (1 + (K-1) E) <= L_T - J <= A E + (K-1) m' e^{-m'/T}: log(L_T - J) has
    slope -m against 1/T and intercept log A;
(b) entmax-1.5: L_T = J exactly and F_T = J - T mean_i H_max(s_i) below
    T* = min_i m_i sqrt(s_i)/2 (``kmeans_rbf.bounds.entmax_exact_temperatures``), and
    L_T > J above it;
(c) softmax: F_T - J = -T mean_i log s_i up to a tail of order T E.

Tolerances: each value an implementation returns may be off by its float64 rounding,
``support.objectives_rounding`` (``kmeans_rbf.tolerances.error_bounds``); the fit of (a)
carries that rounding through to the slope and intercept (its docstring).
"""

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import multiprecision, reference
from kmeans_rbf.bounds import entmax_exact_temperatures, entropy_maximum, ties_and_gaps
from kmeans_rbf.strategies import cluster_counts, problems
from support import assert_bites, objectives, objectives_rounding


def _regrets(X, C):
    """``a_ik = d_ik - min_l d_il`` (N, K)."""
    return reference._regret(reference.squared_distances(X, C))


def _mean_tied_entropy(kind, ties):
    """``mean_i H_max(s_i)``: the entropy of the points' rows, uniform on their ties."""
    return float(np.mean([entropy_maximum(kind, int(s)) for s in ties]))


def _softmax_rate_bounds(X, C, T):
    """(lower, upper, m, A) of (a) (proofs: test_softmax_rate_is_exponential_with_exact_constant)."""
    a = _regrets(X, C)
    ties, _ = ties_and_gaps(X, C)
    positive = np.unique(a[a > 0])
    m = positive[0]
    A = m / len(X) * float(np.sum(np.sum(a == m, axis=1) / ties))
    E = np.exp(-m / T)
    K = a.shape[1]
    upper = A * E + ((K - 1) * positive[1] * np.exp(-positive[1] / T) if len(positive) > 1 else 0.0)
    return A * E / (1 + (K - 1) * E), upper, m, A


# --- (a) softmax: exponential in 1/T -------------------------------------------------------


@pytest.mark.claim("rates")
@given(problem=problems(n_clusters=cluster_counts()), ratio=st.floats(2.0, 30.0))
def test_softmax_excess_is_exponential_in_one_over_t(implementation, problem, ratio):
    X, C, _ = problem
    a = _regrets(X, C)
    assume(np.any(a > 0))
    m = float(np.min(a[a > 0]))
    T = m / ratio  # T <= m/2 < m', where the upper bound holds
    lower, upper, _, _ = _softmax_rate_bounds(X, C, T)
    J, L, _ = objectives(implementation, X, C, T, "softmax")
    eJ, eL, _ = objectives_rounding(X, C, T, "softmax")
    note(f"m={m!r} T={T!r}: {lower!r} <= L - J = {L - J!r} <= {upper!r}")
    assert lower - eJ - eL <= L - J <= upper + eJ + eL


# Known margins: X = {0, 2}, C = (0, 1): regrets 1 and 3, m = 1, A = 1/2. X = {0, 3},
# C = (-1, 1, 2): point 0 is tied (s = 2) with regret 3, point 3 has regrets 3 and 15:
# m = 3, A = (3/2)(1/2 + 1) = 9/4.
MARGINS = {
    "m=1,A=1/2": (np.array([[0.0], [2.0]]), np.array([[0.0], [1.0]]), 1.0, 0.5),
    "m=3,A=9/4,tied": (np.array([[0.0], [3.0]]), np.array([[-1.0], [1.0], [2.0]]), 3.0, 2.25),
}


@pytest.mark.claim("rates")
def test_softmax_log_excess_has_slope_minus_margin(implementation):
    """Least-squares fit of log(L_T - J) = log A - m/T over m/T in [4, 20]: slope -m, intercept log A.

    The residual rho_j = log(L - J) - log A + m/T_j is bounded by the two-sided bounds,
    |rho_j| <= max(log(1 + (K-1)E), log(1 + (K-1) m' e^{-m'/T}/(A E))) plus the rounding,
    2 (eJ + eL) / lower; so the fitted slope is within sum_j |x_j - xbar| rho_j /
    sum_j (x_j - xbar)^2 of -m and the intercept within max rho + |slope error| |xbar|.
    """
    for case, (X, C, m, A) in MARGINS.items():
        x = np.linspace(4.0, 20.0, 9) / m  # 1/T
        y, rho = [], []
        for inverse in x:
            T = 1.0 / inverse
            lower, upper, m_found, A_found = _softmax_rate_bounds(X, C, T)
            assert (m_found, A_found) == (m, A), "the documented margin and constant"
            J, L, _ = objectives(implementation, X, C, T, "softmax")
            eJ, eL, _ = objectives_rounding(X, C, T, "softmax")
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


# --- (b) entmax-1.5: exact below a finite temperature --------------------------------------


@pytest.mark.claim("rates")
@given(problem=problems(n_clusters=cluster_counts()), fraction=st.floats(1e-3, 1.0), above=st.floats(1.05, 1.5))
def test_entmax_is_exact_below_the_threshold_only(implementation, problem, fraction, above):
    X, C, _ = problem
    thresholds = entmax_exact_temperatures(X, C)
    assume(np.any(np.isfinite(thresholds)))
    critical = int(np.argmin(thresholds))
    T_star = float(thresholds[critical])
    T = fraction * T_star
    J, L, F = objectives(implementation, X, C, T, "entmax15")
    eJ, eL, eF = objectives_rounding(X, C, T, "entmax15")
    tied_entropy = _mean_tied_entropy("entmax15", ties_and_gaps(X, C)[0])
    note(f"T*={T_star!r}, T={T!r}: L - J = {L - J!r}, F - J = {F - J!r}")
    assert abs(L - J) <= eJ + eL, "L_T != J below the threshold"
    assert abs((F - J) + T * tied_entropy) <= eJ + eF, "F_T != J - T mean H(ties)"
    # Above the threshold the critical point's row is no longer hard: its excess is that of
    # the multi-precision entmax (Newton's method, not the sort-based rule), and the mean
    # excess is at least that over N.
    T_up = above * T_star
    a = _regrets(X, C)[critical]
    with mpmath.workdps(30):
        row = multiprecision.entmax15(-a / T_up)
        floor = float(sum(p * ak for p, ak in zip(row, a))) / len(X)
    J, L, _ = objectives(implementation, X, C, T_up, "entmax15")
    eJ, eL, _ = objectives_rounding(X, C, T_up, "entmax15")
    assume(floor > 10 * (eJ + eL))  # resolvable above the rounding
    note(f"T={T_up!r}: L - J = {L - J!r} >= {floor!r}")
    assert L - J >= floor - eJ - eL, "L_T = J above the threshold"


# --- (c) softmax free energy: linear in T with ties ---------------------------------------


@pytest.mark.claim("rates")
@given(problem=problems(n_clusters=cluster_counts()), ratio=st.floats(2.0, 30.0))
def test_softmax_free_energy_gap_is_linear_with_ties(implementation, problem, ratio):
    X, C, _ = problem
    a = _regrets(X, C)
    ties, _ = ties_and_gaps(X, C)
    assume(np.any(a > 0))
    T = float(np.min(a[a > 0])) / ratio
    J, _, F = objectives(implementation, X, C, T, "softmax")
    eJ, _, eF = objectives_rounding(X, C, T, "softmax")
    linear = -T * _mean_tied_entropy("softmax", ties)  # -(T/N) sum log s_i
    tail = T * np.mean((a.shape[1] - ties) / ties) * np.exp(-ratio)  # -(T/N) sum (K - s_i) E / s_i
    note(f"F - J = {F - J!r}, -(T/N) sum log s_i = {linear!r}, tail {tail!r}")
    assert linear - tail - eJ - eF <= F - J <= linear + eJ + eF


@pytest.mark.claim("rates")
@pytest.mark.parametrize(
    "test, broken",
    [
        (test_softmax_excess_is_exponential_in_one_over_t, variants.TEMPERATURE_SQUARED),
        (test_softmax_log_excess_has_slope_minus_margin, variants.TEMPERATURE_SQUARED),
        (test_entmax_is_exact_below_the_threshold_only, variants.SPARSEMAX_FOR_ENTMAX),
        (test_softmax_free_energy_gap_is_linear_with_ties, variants.TEMPERATURE_INVERTED),
    ],
    ids=["T^2-bounds", "T^2-fit", "sparsemax-threshold", "1/T-ties"],
)
def test_rates_bites(test, broken):
    assert_bites(test, broken)
