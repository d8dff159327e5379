"""Claims voronoi-order and entmax-order-converse: the soft maps keep the order of the
distances, so decoding by the largest responsibility gives the Voronoi partition at every T;
the converse "p_j >= p_k implies z_j >= z_k" fails for entmax-1.5 off its support.
Statements, proofs and status: theory/entmax.md (ids in its headings).

Order preservation is exact in floating point (every step of the maps is a monotone
rounding) and is checked bit for bit. Decoding is not decided where a nearest centre wins by
less than the rounding of r: a gap / T within the float64 entry of kmeans_rbf.tolerances.
"""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import cluster_counts, problems
from kmeans_rbf.tolerances import tolerance
from support import assert_bites

# --- voronoi-order -----------------------------------------------------------------------


@pytest.mark.claim("voronoi-order")
@given(problem=problems(n_clusters=cluster_counts()), kind=st.sampled_from(SOFT_KINDS))
def test_argmax_of_responsibilities_is_the_voronoi_cell(implementation, problem, kind):
    X, C, T = problem
    d = np.asarray(implementation.squared_distances(X, C))
    r = np.asarray(implementation.responsibilities(X, C, T, kind))
    labels = np.asarray(implementation.assign(X, C))
    # The hard rule: the first (lowest-index) nearest centre.
    assert np.array_equal(labels, np.argmin(d, axis=1))
    # Order preservation, exact in floating point: d_ij <= d_ik implies r_ij >= r_ik.
    closer = d[:, :, None] <= d[:, None, :]
    assert np.all(r[:, :, None] >= r[:, None, :], where=closer)
    # Decoding by the first maximum gives the Voronoi labels, on exact ties too (tied
    # distances give bit-identical responsibilities). A nearest centre that wins by less
    # than the rounding of r (gap / T <= 256 u) may tie in r with the centre it beats, and
    # the first maximum may then be that one: such a row is not decided. The gap is to the
    # nearest centre *not* tied with the nearest ones (with d = (1e-16, 0, 0) the two exact
    # ties do not decide the row: centre 0 ties with them in r and comes first).
    regrets = d - d.min(axis=1, keepdims=True)
    gaps = np.min(np.where(regrets > 0, regrets, np.inf), axis=1)
    decided = gaps / T > tolerance(np.float64)
    note(f"kind {kind}, gaps / T {gaps / T}")
    assert np.array_equal(np.argmax(r, axis=1)[decided], labels[decided])


# HIGHEST_INDEX_TIES is correct for the oracle, which allows any nearest centre; the
# package's own rule, and this claim's, is the lowest index.
@pytest.mark.claim("voronoi-order")
@pytest.mark.parametrize("broken", [variants.LOGITS_SIGN_FLIPPED, variants.HIGHEST_INDEX_TIES], ids=lambda v: v.name)
def test_voronoi_order_bites(broken):
    assert_bites(test_argmax_of_responsibilities_is_the_voronoi_cell, broken)


# --- entmax-order-converse (refuted) -----------------------------------------------------


@pytest.mark.claim("entmax-order-converse")
def test_order_converse_counterexample(implementation):
    # d = (0, 2.25, 4), T = 1: z = (0, -2.25, -4), entmax15 = (1, 0, 0). Then
    # p_3 >= p_2 although z_3 < z_2: "p_j >= p_k => z_j >= z_k" fails off the support.
    X, C = np.array([[0.0]]), np.array([[0.0], [1.5], [2.0]])
    d = np.asarray(implementation.squared_distances(X, C))[0]
    p = np.asarray(implementation.responsibilities(X, C, 1.0, "entmax15"))[0]
    assert p[2] >= p[1] and d[2] > d[1]
    assert np.array_equal(p, [1.0, 0.0, 0.0])


@pytest.mark.claim("entmax-order-converse")
def test_order_converse_counterexample_bites():
    assert_bites(test_order_converse_counterexample, variants.ENTMAX_FLOORED)
