"""Claims sandwich, softmax-excess-bound, uniform-rate: J, L_T and F_T at one temperature.

Claims (theory/convergence.md; proofs in proofs/proof_convergence.py):

* ``sandwich``: J - T H_max <= F_T <= J <= L_T <= J + T H_max for both maps and every C;
  the lower bound is attained where all centres coincide;
* ``softmax-excess-bound``: L_T - J <= (K - 1) T / e for softmax, the published constant;
* ``uniform-rate``: L_T - J <= c_K T with the sharp constant c_K, attained on
  ``extremal_problems``; J - F_T = T H_max is attained at coincident centres.

The constants H_max, c_K and t_K are those of ``kmeans_rbf.bounds``. Every test runs on each
implementation (the ``implementation`` fixture); its bite test runs it on broken variants.

Tolerances. Every value an implementation returns (J, L_T, F_T) is compared with exact
bounds, so each may be off by its float64 rounding error, ``support.objectives_rounding``
(the entries of ``kmeans_rbf.tolerances.error_bounds``); an inequality between two computed
values gets the sum of their two bounds.
"""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf.bounds import entropy_maximum, extremal_regret, sharp_constant
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import cluster_counts, coincident_problems, datasets, problems, temperatures
from support import assert_bites, objectives, objectives_rounding


@st.composite
def extremal_problems(draw, kind, *, data=datasets(), n_clusters=cluster_counts(min_value=2), temperature=temperatures()):
    """(X, C, T) with c_1 = x_1 and c_2 = ... = c_K at squared distance T t_K from x_1.

    x_1 then has regrets (0, T t_K, ..., T t_K), where its excess L_1 - J_1 is c_K T. With
    probability 1/2 every point is x_1 (then L_T - J = c_K T exactly).
    """
    X = draw(data)
    if draw(st.booleans()):
        X = np.repeat(X[:1], len(X), axis=0)
    K, T = draw(n_clusters), draw(temperature)
    offset = np.zeros(X.shape[1])
    offset[0] = np.sqrt(T * extremal_regret(kind, K))
    C = np.vstack([X[:1], np.repeat(X[:1] + offset, K - 1, axis=0)])
    return X, C, T


# --- sandwich ------------------------------------------------------------------------------


def _values_and_gap(implementation, problem, kind):
    """(J, L_T, F_T), their float64 rounding bounds, and the width T H_max of the sandwich."""
    X, C, T = problem
    values = objectives(implementation, X, C, T, kind)
    gap = T * entropy_maximum(kind, len(C))
    note(f"(J, L, F) = {values!r}, T*H_max = {gap!r}")
    return values, objectives_rounding(X, C, T, kind), gap


@pytest.mark.claim("sandwich")
@given(problem=problems(n_clusters=cluster_counts()), kind=st.sampled_from(SOFT_KINDS))
def test_sandwich(implementation, problem, kind):
    (J, L, F), (eJ, eL, eF), gap = _values_and_gap(implementation, problem, kind)
    assert J - gap <= F + eJ + eF, "F_T below J - T H_max"
    assert F <= J + eJ + eF, "F_T above J"
    assert J <= L + eJ + eL, "L_T below J"
    assert L <= J + gap + eJ + eL, "L_T above J + T H_max"


@pytest.mark.claim("sandwich")
@pytest.mark.claim("uniform-rate")
@given(problem=coincident_problems(n_clusters=cluster_counts()), kind=st.sampled_from(SOFT_KINDS))
def test_free_energy_gap_is_attained_at_coincident_centres(implementation, problem, kind):
    (J, L, F), (eJ, eL, eF), gap = _values_and_gap(implementation, problem, kind)
    assert abs(F - (J - gap)) <= eJ + eF, "F_T != J - T H_max at coincident centres"
    assert abs(L - J) <= eJ + eL, "L_T != J at coincident centres"


@pytest.mark.claim("sandwich")
@pytest.mark.parametrize(
    "test, broken",
    [
        (test_sandwich, variants.ENTROPY_WRONG_SIGN),
        (test_sandwich, variants.OBJECTIVE_SUMMED),
        (test_sandwich, variants.SOFTMAX_WITHOUT_SHIFT),
        (test_free_energy_gap_is_attained_at_coincident_centres, variants.TEMPERATURE_SQUARED),
        (test_free_energy_gap_is_attained_at_coincident_centres, variants.TEMPERATURE_INVERTED),
        (test_free_energy_gap_is_attained_at_coincident_centres, variants.SPARSEMAX_FOR_ENTMAX),
    ],
    ids=["wrong-sign-entropy", "summed-objective", "no-max-shift", "T^2-coincident", "1/T-coincident",
         "sparsemax-coincident"],
)
def test_sandwich_bites(test, broken):
    assert_bites(test, broken)


# --- softmax-excess-bound and uniform-rate -----------------------------------------------


def _assert_excess_at_most(implementation, problem, kind, constant):
    """L_T - J <= constant * T at ``problem``, up to the rounding of both values."""
    X, C, T = problem
    J, L, _ = objectives(implementation, X, C, T, kind)
    eJ, eL, _ = objectives_rounding(X, C, T, kind)
    bound = constant * T
    note(f"L - J = {L - J!r}, bound {bound!r}")
    assert L - J <= bound + eJ + eL


@pytest.mark.claim("softmax-excess-bound")
@given(problem=st.one_of(problems(n_clusters=cluster_counts()), extremal_problems("softmax")))
def test_softmax_excess_is_at_most_k_minus_one_t_over_e(implementation, problem):
    _assert_excess_at_most(implementation, problem, "softmax", (len(problem[1]) - 1) / np.e)


@pytest.mark.claim("softmax-excess-bound")
@pytest.mark.parametrize("broken", [variants.OBJECTIVE_SUMMED, variants.TEMPERATURE_SQUARED], ids=["summed", "T^2"])
def test_softmax_excess_bound_bites(broken):
    # T -> T^2 only shows where T > 1 and the excess is near the bound: about one draw in
    # ten (assert_bites searches up to its own budget).
    assert_bites(test_softmax_excess_is_at_most_k_minus_one_t_over_e, broken)


@pytest.mark.claim("uniform-rate")
@given(data=st.data(), kind=st.sampled_from(SOFT_KINDS))
def test_excess_is_at_most_the_sharp_constant(implementation, data, kind):
    problem = data.draw(st.one_of(problems(n_clusters=cluster_counts()), extremal_problems(kind)))
    _assert_excess_at_most(implementation, problem, kind, sharp_constant(kind, len(problem[1])))


@pytest.mark.claim("uniform-rate")
@given(data=st.data(), kind=st.sampled_from(SOFT_KINDS))
def test_sharp_constant_is_attained(implementation, data, kind):
    X, C, T = data.draw(extremal_problems(kind))
    J, L, _ = objectives(implementation, X, C, T, kind)
    eJ, eL, _ = objectives_rounding(X, C, T, kind)
    c_T = sharp_constant(kind, len(C)) * T
    note(f"L - J = {L - J!r}, c_K T = {c_T!r}, N = {len(X)}")
    # x_1 alone contributes c_K T / N; the others contribute >= 0 ...
    assert L - J >= c_T / len(X) - eJ - eL
    # ... and exactly c_K T each when they all sit at x_1.
    if np.all(X == X[0]):
        assert abs((L - J) - c_T) <= eJ + eL


@pytest.mark.claim("uniform-rate")
@pytest.mark.parametrize(
    "broken",
    [variants.OBJECTIVE_SUMMED, variants.SPARSEMAX_FOR_ENTMAX, variants.TEMPERATURE_INVERTED],
    ids=["summed", "sparsemax", "1/T"],
)
def test_uniform_rate_bites(broken):
    assert_bites(test_sharp_constant_is_attained, broken)
