"""Claims dead-centres, dead-centre-revival and dead-centre-permanence: an entmax-1.5 centre
that is nobody's nearest, at T below half its least regret, has no mass, no gradient and
keeps its place; it can revive when the other centres move (refuted: "never revives"), but
not when it is far enough from the data. Statements, proofs and status: theory/entmax.md
(ids in its headings).

Zero mass, zero gradients and the kept place are exact (a clipped entry is exactly 0.0) and
are checked bit for bit; what the other centres see with and without the dead one differs
by rounding only (the clipped entries still enter the threshold's sums), within the float64
bounds of kmeans_rbf.tolerances.error_bounds.
"""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.strategies import cluster_counts, problems, problems_with_a_dead_centre, temperatures
from kmeans_rbf.tolerances import error_bounds
from support import assert_bites

# --- dead-centres ------------------------------------------------------------------------


@pytest.mark.claim("dead-centres")
@given(problem=problems_with_a_dead_centre(n_clusters=cluster_counts(max_value=16)))
def test_dead_centre_has_no_mass_no_gradient_and_stays(implementation, problem):
    X, C, T, k = problem
    note(f"dead centre {k} at {C[k]}, T {T}")
    r = np.asarray(implementation.responsibilities(X, C, T, "entmax15"))
    assert np.all(r[:, k] == 0)
    assert np.all(np.asarray(implementation.free_energy_gradient(X, C, T, "entmax15"))[k] == 0)
    assert np.all(np.asarray(implementation.gradient(X, C, T, "entmax15"))[k] == 0)
    assert np.array_equal(np.asarray(implementation.soft_step(X, C, T, "entmax15"))[k], C[k])
    # The others do not see it: the same responsibilities and objectives without it.
    others = np.delete(C, k, axis=0)
    bounds = error_bounds(X, others, T, "entmax15", np.float64)
    r_without = np.asarray(implementation.responsibilities(X, others, T, "entmax15"))
    assert np.all(np.abs(np.delete(r, k, axis=1) - r_without) <= bounds["responsibilities"])
    L_without = implementation.objective(X, others, T, "entmax15")
    assert abs(implementation.objective(X, C, T, "entmax15") - L_without) <= bounds["objective"]


@pytest.mark.claim("dead-centres")
def test_dead_centre_property_bites():
    assert_bites(test_dead_centre_has_no_mass_no_gradient_and_stays, variants.EMPTY_CLUSTER_TO_ORIGIN)


# --- dead-centre-revival (refuted) -------------------------------------------------------


@pytest.mark.claim("dead-centre-revival")
def test_dead_centre_revives_when_the_others_move(implementation):
    # X = {0, 6}, C = (1, -2.5), T = 1. Regrets of c_1: 6.25 - 1 = 5.25 and
    # 72.25 - 25 = 47.25, both >= 2T: c_1 is dead. Step 1: c_0 -> 3, c_1 stays.
    # Now d(0, c_1) = 6.25 < d(0, c_0) = 9: c_1 is the nearest centre of x = 0, with
    # gap 2.75 >= 2T, so it takes x = 0 alone. Step 2: (6, 0), the optimum (J = 0).
    X, C, T = np.array([[0.0], [6.0]]), np.array([[1.0], [-2.5]]), 1.0
    trajectory = np.asarray(implementation.anneal(X, C, [T, T, T], "entmax15"))
    assert np.all(np.asarray(implementation.responsibilities(X, C, T, "entmax15"))[:, 1] == 0)
    assert np.array_equal(trajectory[1], [[3.0], [-2.5]])
    revived = np.asarray(implementation.responsibilities(X, trajectory[1], T, "entmax15"))
    assert np.array_equal(revived, [[0.0, 1.0], [1.0, 0.0]])
    assert np.array_equal(trajectory[2], [[6.0], [0.0]])
    assert np.array_equal(trajectory[3], [[6.0], [0.0]])


@pytest.mark.claim("dead-centre-revival")
def test_revival_counterexample_bites():
    assert_bites(test_dead_centre_revives_when_the_others_move, variants.DEAD_CENTRES_PRUNED)


# --- dead-centre-permanence --------------------------------------------------------------


@st.composite
def problems_with_a_far_centre(draw):
    """``(X, C, T, k)`` with min_i d_ik >= max(diam(X)^2, max_il d_il over the others) + 2T."""
    X, C, T = draw(problems(n_clusters=cluster_counts(max_value=16), temperature=temperatures(max_value=10.0)))
    diameter2 = float(reference.squared_distances(X, X).max())
    reach2 = max(diameter2, float(reference.squared_distances(X, C).max())) + 2 * T
    far = X.max(axis=0).copy()
    far[0] += np.sqrt(reach2) * draw(st.floats(1.01, 2.0))  # 1.01: clear of rounding
    k = draw(st.integers(0, len(C)))
    return X, np.insert(C, k, far, axis=0), T, k


@pytest.mark.claim("dead-centre-permanence")
@given(problem=problems_with_a_far_centre())
def test_far_dead_centre_stays_dead(implementation, problem):
    X, C, T, k = problem
    trajectory = np.asarray(implementation.anneal(X, C, [T] * 4, "entmax15"))
    for step, centres in enumerate(trajectory):
        note(f"step {step}: centres {centres.ravel()}")
        assert np.array_equal(centres[k], C[k])
        assert np.all(np.asarray(implementation.responsibilities(X, centres, T, "entmax15"))[:, k] == 0)


@pytest.mark.claim("dead-centre-permanence")
def test_permanence_property_bites():
    assert_bites(test_far_dead_centre_stays_dead, variants.DEAD_CENTRE_RESET)
