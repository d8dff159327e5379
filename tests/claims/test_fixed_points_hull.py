"""Claim fixed-points-hull (refuted): "the convex hull of the data contains every fixed point".

Claim (theory/convergence.md; proof in proofs/proof_convergence.py): false for the Lloyd
step (an empty cell keeps its centre) and for the entmax-1.5 soft step (a dead centre keeps
its place): X = {0, 1}, C = (1/2, 10) is a fixed point of both, exactly, with c_2 outside
[0, 1]. What holds: every softmax soft step lands in conv(X)^K, since it is a convex
combination of the data with weights > 0.

Tolerances: the counterexample is exact; the hull test allows the rounding of a weighted
mean (its comment).
"""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf.strategies import cluster_counts, problems
from kmeans_rbf.tolerances import tolerance
from support import assert_bites


@st.composite
def far_problems(draw):
    """(X, C, T) with centres anywhere up to ~100 data diameters away from the data."""
    X, C, T = draw(problems(n_clusters=cluster_counts()))
    spread = float(np.ptp(X)) + 1.0
    shift = np.array(draw(st.lists(st.floats(-100, 100), min_size=C.size, max_size=C.size))).reshape(C.shape)
    return X, C + spread * shift, T


@pytest.mark.claim("fixed-points-hull")
def test_fixed_points_outside_the_hull(implementation):
    X, C = np.array([[0.0], [1.0]]), np.array([[0.5], [10.0]])  # c_2 = 10, hull [0, 1]
    lloyd = np.asarray(implementation.lloyd_step(X, C))
    entmax = np.asarray(implementation.soft_step(X, C, 1.0, "entmax15"))
    # exact: the non-empty cell's mean is 1/2 exactly; the empty / dead centre keeps 10
    assert np.array_equal(lloyd, C), f"Lloyd step moved the counterexample to {lloyd.ravel()}"
    assert np.array_equal(entmax, C), f"entmax soft step moved the counterexample to {entmax.ravel()}"
    assert C[1, 0] > X.max(), "the fixed point is outside the hull"


@pytest.mark.claim("fixed-points-hull")
@given(problem=far_problems())
def test_softmax_soft_step_lands_in_the_hull(implementation, problem):
    X, C, T = problem
    new = np.asarray(implementation.soft_step(X, C, T, "softmax"))
    # Each new centre is a weighted mean with weights >= 0, whatever their accuracy: it
    # lies in the bounding box of X up to the rounding of a mean of N <= 24 terms,
    # (N + 2) u max|x| <= tolerance(float64) max|x| (256 u).
    slack = tolerance(np.float64) * float(np.max(np.abs(X)))
    note(f"new centres {new.tolist()}")
    assert np.all(new >= X.min(axis=0) - slack) and np.all(new <= X.max(axis=0) + slack)


@pytest.mark.claim("fixed-points-hull")
@pytest.mark.parametrize(
    "test, broken",
    [
        (test_fixed_points_outside_the_hull, variants.EMPTY_CLUSTER_TO_ORIGIN),
        (test_softmax_soft_step_lands_in_the_hull, variants.SOFT_STEP_MIRRORED),
    ],
    ids=["empty-to-origin", "mirrored-step"],
)
def test_fixed_points_hull_bites(test, broken):
    assert_bites(test, broken)
