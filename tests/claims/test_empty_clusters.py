"""Claims empty-cluster-policy and empty-clusters: Lloyd's step keeps an empty centre in
place; as T -> 0 the softmax soft step sends an empty centre to its points of least regret,
and an entmax-1.5 centre has no mass exactly below its dead temperature
min_i sqrt(S_ik) / 2 (kmeans_rbf.bounds.entmax_support_sums). Statements, proofs and status:
theory/entmax.md (ids in its headings).

The limit of the soft step is computed in exact rational arithmetic on integer data, and
compared within the float64 entry of kmeans_rbf.tolerances (the weighted mean of a few
points). The dead temperature is tested just outside the band
kmeans_rbf.tolerances.decision_band of the entmax support around it.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.bounds import entmax_support_sums
from kmeans_rbf.strategies import cluster_counts, datasets, problems, problems_with_a_dead_centre
from kmeans_rbf.tolerances import decision_band, tolerance
from support import assert_bites

# --- empty-cluster-policy ----------------------------------------------------------------


@pytest.mark.claim("empty-cluster-policy")
@given(problem=st.one_of(problems(n_clusters=cluster_counts()), problems_with_a_dead_centre(n_clusters=cluster_counts(max_value=16)).map(lambda p: p[:3])))
def test_lloyd_keeps_an_empty_centre(implementation, problem):
    X, C, _ = problem
    counts = np.bincount(np.asarray(implementation.assign(X, C)), minlength=len(C))
    step = np.asarray(implementation.lloyd_step(X, C))
    note(f"cell sizes {counts}")
    assert np.array_equal(step[counts == 0], C[counts == 0])


# RELOCATE_TO_FARTHEST_POINT is correct for the oracle, which allows scikit-learn's policy;
# the package documents "keep".
@pytest.mark.claim("empty-cluster-policy")
def test_keep_policy_bites():
    assert_bites(test_lloyd_keeps_an_empty_centre, variants.RELOCATE_TO_FARTHEST_POINT)


# --- empty-clusters ----------------------------------------------------------------------


@st.composite
def integer_problems(draw):
    """``(X, C)`` with integer coordinates (exact distances and regrets), one centre far-ish."""
    X = draw(datasets(geometry="grid"))
    D, K = X.shape[1], draw(cluster_counts(max_value=16))
    C = np.array(draw(st.lists(st.integers(-4, 4), min_size=K * D, max_size=K * D)), dtype=np.float64)
    far = np.array(draw(st.lists(st.integers(-8, 8), min_size=D, max_size=D)), dtype=np.float64)
    return X, np.vstack([C.reshape(K, D), far])


def limit_of_the_soft_step(X, C):
    """Exact T -> 0 limit of the softmax soft step (theory/entmax.md, empty-clusters).

    Centre k goes to the mean of the points of least regret rho_ik = d_ik - min_l d_il,
    each weighted by 1/mu_i, mu_i the number of centres tied nearest to x_i. Exact
    rational arithmetic on integer data.
    """
    Xi = [[int(v) for v in row] for row in X]
    Ci = [[int(v) for v in row] for row in C]
    d = [[sum((a - b) ** 2 for a, b in zip(x, c)) for c in Ci] for x in Xi]
    regret = [[v - min(row) for v in row] for row in d]
    mu = [row.count(0) for row in regret]
    limits = []
    for k in range(len(Ci)):
        least = min(row[k] for row in regret)
        A = [i for i, row in enumerate(regret) if row[k] == least]
        weight = sum(Fraction(1, mu[i]) for i in A)
        limits.append([float(sum(Fraction(Xi[i][j], mu[i]) for i in A) / weight) for j in range(len(Xi[0]))])
    return np.array(limits)


@pytest.mark.claim("empty-clusters")
@given(problem=integer_problems(), temperature=st.sampled_from([1e-3, 1e-30, 1e-300]))
def test_soft_step_tends_to_the_least_regret_points(implementation, problem, temperature):
    X, C = problem
    # At these T every weight e^{-(rho - rho*)/T}, rho - rho* >= 1 an integer, is below
    # e^{-1000} and underflows: the step is the limit up to the rounding of a weighted
    # mean of at most N points with weights 1/mu_i (a few roundings each), far within
    # tolerance(float64) = 256 u of the largest coordinate.
    expected = limit_of_the_soft_step(X, C)
    soft = np.asarray(implementation.soft_step(X, C, temperature, "softmax"))
    note(f"T {temperature}: step {soft.ravel()}, limit {expected.ravel()}")
    assert np.all(np.abs(soft - expected) <= tolerance(np.float64) * max(1.0, float(np.abs(X).max())))
    # entmax15: a centre whose least regret exceeds 2T (here: every centre nobody is
    # tied-nearest to) has no mass and keeps its place exactly.
    d = np.asarray(implementation.squared_distances(X, C))
    empty = np.min(d - d.min(axis=1, keepdims=True), axis=0) > 2 * temperature
    entmax = np.asarray(implementation.soft_step(X, C, temperature, "entmax15"))
    assert np.array_equal(entmax[empty], C[empty])


@pytest.mark.claim("empty-clusters")
@given(problem=problems_with_a_dead_centre(n_clusters=cluster_counts(max_value=16)))
def test_entmax_centre_has_no_mass_exactly_below_its_dead_temperature(implementation, problem):
    X, C, _, k = problem  # centre k is nobody's nearest: T_dead > 0
    d = reference.squared_distances(X, C)
    T = float(np.sqrt(entmax_support_sums(d)[:, k].min()) / 2)
    # at T (1 -+ eta) the ratio S / 4T^2 is 1 +- 2 eta: outside the band of the support
    eta = 1e-4
    assume(2 * eta > 4 * np.sqrt(len(C)) * decision_band(d, T * (1 - eta)))
    note(f"centre {k}, T_dead {T}")
    colder = np.asarray(implementation.responsibilities(X, C, T * (1 - eta), "entmax15"))
    warmer = np.asarray(implementation.responsibilities(X, C, T * (1 + eta), "entmax15"))
    assert colder[:, k].sum() == 0
    assert np.array_equal(np.asarray(implementation.soft_step(X, C, T * (1 - eta), "entmax15"))[k], C[k])
    assert warmer[:, k].sum() > 0


@pytest.mark.claim("empty-clusters")
def test_empty_centre_moves_onto_the_least_regret_points_at_T_1e_300(implementation):
    # X = {0, 1, 5}, C = (0, 5, 20): c_2 is nobody's nearest; its regrets are 400 - 0,
    # 361 - 1 = 360 and 225 - 0 = 225, so it moves onto x = 5.
    X, C = np.array([[0.0], [1.0], [5.0]]), np.array([[0.0], [5.0], [20.0]])
    step = np.asarray(implementation.soft_step(X, C, 1e-300, "softmax"))
    assert np.array_equal(step[2], [5.0])
    # Two points of least regret, one of them tied between two centres:
    # x_0 = (-1, 0): d = (13, 13, 26), mu = 2, regret of c_2 = 13;
    # x_1 = (-3, 2): d = (17, 25, 58), regret 41; x_2 = (3, 3): d = (4, 72, 17), regret 13.
    # Limit (x_0 / 2 + x_2) / (1/2 + 1) = (5/3, 2), not the plain mean (1, 3/2) of the two.
    X = np.array([[-1.0, 0.0], [-3.0, 2.0], [3.0, 3.0]])
    C = np.array([[1.0, 3.0], [-3.0, -3.0], [4.0, -1.0]])
    expected = np.array([5.0 / 3.0, 2.0])
    assert np.allclose(limit_of_the_soft_step(X, C)[2], expected, rtol=0, atol=4 * np.finfo(float).eps)
    for temperature in (1e-3, 1e-300):
        step = np.asarray(implementation.soft_step(X, C, temperature, "softmax"))
        # a weighted mean of two points: a few roundings of numbers <= 3 (tolerance table)
        assert np.all(np.abs(step[2] - expected) <= tolerance(np.float64) * 3)


@pytest.mark.claim("empty-clusters")
@pytest.mark.parametrize(
    "test, broken",
    [
        (test_soft_step_tends_to_the_least_regret_points, variants.SOFT_STEP_UNDERFLOWS),
        (test_entmax_centre_has_no_mass_exactly_below_its_dead_temperature, variants.ENTMAX_ALPHA2_SCALING),
    ],
    ids=["limit", "dead temperature"],
)
def test_empty_clusters_bite(test, broken):
    assert_bites(test, broken)
