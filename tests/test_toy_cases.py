"""Hand-computed cases with exact expected values, for every implementation.

Each expected value is worked out in the comment beside it; the comparison tolerance is
the float64 entry of the tolerance table (summation order only), scaled by the size of
the numbers involved.
"""

import math

import numpy as np
import pytest

from kmeans_rbf.tolerances import tolerance

RTOL = tolerance(np.float64)

# The tie case of claim ties-break-trajectories: D = 1, X = {0, 1, 2}, C = (0, 2); x = 1 is equidistant.
TIE_X = np.array([[0.0], [1.0], [2.0]])
TIE_C = np.array([[0.0], [2.0]])


def assert_exact(actual, expected, scale=1.0):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale)


def test_squared_distances(implementation):
    # (0-0)^2 + (0-0)^2 = 0, (0-3)^2 + (0-4)^2 = 25, (1-0)^2 + (1-0)^2 = 2, (1-3)^2 + (1-4)^2 = 13
    X = np.array([[0.0, 0.0], [1.0, 1.0]])
    C = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert_exact(implementation.squared_distances(X, C), [[0.0, 25.0], [2.0, 13.0]])


def test_assign_breaks_ties_to_the_lowest_index(implementation):
    assert list(implementation.assign(TIE_X, TIE_C)) == [0, 0, 1]
    # All centres equal: every point goes to centre 0.
    assert list(implementation.assign(TIE_X, np.zeros((3, 1)))) == [0, 0, 0]


@pytest.mark.parametrize(
    "function, row, expected",
    [
        # e^0 : e^-inf : e^log 3 = 1 : 0 : 3
        ("softmax", [0.0, -np.inf, math.log(3.0)], [0.25, 0.0, 0.75]),
        # u = z/2 = (0, -0.2, -2.5); tau = -0.8: (0.8^2, 0.6^2, 0) sums to 1
        ("entmax15", [0.0, -0.4, -5.0], [0.64, 0.36, 0.0]),
        # tau = -0.75: (0 + 0.75, -0.5 + 0.75, 0) = (0.75, 0.25, 0) sums to 1
        ("sparsemax", [0.0, -0.5, -3.0], [0.75, 0.25, 0.0]),
        # one element: the only point of the simplex
        ("entmax15", [7.0], [1.0]),
        # gap exactly 2 between the two largest: entmax15 is exactly one-hot
        ("entmax15", [0.0, -2.0, -2.0], [1.0, 0.0, 0.0]),
    ],
)
def test_maps(implementation, function, row, expected):
    assert_exact(getattr(implementation, function)(np.array([row])), [expected])


def test_hard_objective(implementation):
    # X = {0, 1, 3}, C = (0, 3): nearest squared distances 0, 1, 0 -> J = 1/3
    X, C = np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [3.0]])
    assert_exact(implementation.objective(X, C), 1.0 / 3.0)
    assert_exact(implementation.free_energy(X, C, None, "hard"), 1.0 / 3.0)


def test_entmax_objective_and_free_energy(implementation):
    # X = {0}, C = (0, 2), T = 10: d = (0, 4), z = (0, -0.4), r = (0.64, 0.36).
    # L = 0.36 * 4 = 1.44; H_1.5(r) = (4/3)(1 - 0.8^3 - 0.6^3) = (4/3)(0.272);
    # F = 1.44 - 10 (4/3) 0.272 = (4.32 - 10.88) / 3 = -6.56 / 3.
    X, C = np.array([[0.0]]), np.array([[0.0], [2.0]])
    assert_exact(implementation.responsibilities(X, C, 10.0, "entmax15"), [[0.64, 0.36]])
    assert_exact(implementation.objective(X, C, 10.0, "entmax15"), 1.44, scale=4)
    assert_exact(implementation.free_energy(X, C, 10.0, "entmax15"), -6.56 / 3, scale=4)


def test_softmax_free_energy(implementation):
    # Two equal centres at the point: F = -T log(e^0 + e^0) = -log 2 at T = 1.
    assert_exact(implementation.free_energy(np.array([[0.0]]), np.zeros((2, 1)), 1.0, "softmax"), -math.log(2))


def test_gradients(implementation):
    # Hard: J = (c - 0)^2 at c = 1 -> dJ/dc = 2.
    assert_exact(implementation.gradient(np.array([[0.0]]), np.array([[1.0]])), [[2.0]])
    # Softmax, X = {0}, C = (0, 1), T = 1: L(c_1) = c^2 e^{-c^2} / (1 + e^{-c^2}),
    # dL/dc at c = 1 is 2 / (1 + e)^2; c_0 sits on the point, so its gradient is 0.
    X, C = np.array([[0.0]]), np.array([[0.0], [1.0]])
    assert_exact(implementation.gradient(X, C, 1.0, "softmax"), [[0.0], [2.0 / (1 + math.e) ** 2]])
    # Entmax15, X = {0}, C = (0, 2), T = 10: r = (0.64, 0.36), s = (0.8, 0.6), a = (0, 0.4);
    # s.a / sum s = 6/35, (J a)_1 = 0.6 (0.4 - 6/35) = 4.8/35, g_1 = 0.36 - 4.8/35 = 7.8/35,
    # grad c_1 = 2 g_1 (2 - 0) = 31.2 / 35.
    X, C = np.array([[0.0]]), np.array([[0.0], [2.0]])
    assert_exact(implementation.gradient(X, C, 10.0, "entmax15"), [[0.0], [31.2 / 35]])
    # Free energy (envelope theorem): 2 r_1 (c_1 - x) = 2 * 0.36 * 2 = 1.44.
    assert_exact(implementation.free_energy_gradient(X, C, 10.0, "entmax15"), [[0.0], [1.44]])


def test_lloyd_step_on_a_tie(implementation):
    # Claim ties-break-trajectories: x = 1 goes to c_0, so c_0 = (0 + 1) / 2 and c_1 = 2.
    assert_exact(implementation.lloyd_step(TIE_X, TIE_C), [[0.5], [2.0]])


@pytest.mark.parametrize("kind", ["softmax", "entmax15"])
def test_soft_step_on_a_tie_splits_the_point(implementation, kind):
    # At T = 1e-3 the outer points are one-hot (softmax: e^-4000 = 0 in float64) and the
    # tied point has r = (1/2, 1/2): c_0 = (0 + 1/2) / (3/2) = 1/3, c_1 = 5/3.
    assert_exact(implementation.soft_step(TIE_X, TIE_C, 1e-3, kind), [[1 / 3], [5 / 3]])


def test_empty_cluster_policies(implementation):
    # X = {0, 1}, C = (0, 100): centre 1 is nobody's nearest.
    X, C = np.array([[0.0], [1.0]]), np.array([[0.0], [100.0]])
    # Lloyd and entmax15 (zero mass: a dead centre) keep it where it was.
    assert_exact(implementation.lloyd_step(X, C), [[0.5], [100.0]])
    assert_exact(implementation.soft_step(X, C, 1e-3, "entmax15"), [[0.5], [100.0]])
    # Softmax gives it mass e^{-regret/T} even when that underflows: the regrets are
    # 100^2 - 0 = 10000 for x = 0 and 99^2 - 1 = 9800 for x = 1, so as T -> 0 it moves
    # onto x = 1 (claim empty-clusters), here exactly (relative weight e^{-200/T} = 0).
    assert_exact(implementation.soft_step(X, C, 1e-3, "softmax"), [[0.5], [1.0]])


def test_kmeans_and_anneal(implementation):
    X = np.array([[0.0], [1.0], [9.0], [10.0]])
    # From C = (0, 1): step 1 gives (0, (1 + 9 + 10)/3 = 20/3), step 2 (0.5, 9.5), fixed.
    assert_exact(implementation.kmeans(X, np.array([[0.0], [1.0]]), 1), [[0.0], [20 / 3]], scale=10)
    assert_exact(implementation.kmeans(X, np.array([[0.0], [1.0]]), 5), [[0.5], [9.5]], scale=10)
    assert_exact(implementation.kmeans(X, np.array([[0.0], [1.0]]), 0), [[0.0], [1.0]])
    trajectory = implementation.anneal(X, np.array([[4.0], [6.0]]), [100.0, 0.01], "entmax15", 2)
    assert trajectory.shape == (5, 2, 1)
    assert_exact(trajectory[0], [[4.0], [6.0]])
    assert_exact(trajectory[-1], [[0.5], [9.5]], scale=10)
