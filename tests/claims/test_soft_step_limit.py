"""Claim soft-step-limit: as T -> 0 with no ties the soft step becomes the Lloyd step.

Claim (theory/gradients.md; proofs in proofs/proof_gradients.py), with m = min_i (d_i(2) -
d_i(1)) > 0 the smallest margin (``reference.margins``):

(a) entmax15: for 0 < T <= m/2 the soft step is the Lloyd step bit for bit, empty cells
    included;
(b) softmax: if no Voronoi cell is empty, every centre is within the bound B_k(T) of the
    proof, of order exp(-m/T), of the Lloyd step; the hypothesis "no empty cell" cannot be
    dropped (an empty centre moves to the point of smallest regret).

Tolerances: (a) is exact; (b) adds the float64 bounds of both steps
(``kmeans_rbf.tolerances.error_bounds``) to B_k, computed itself to within 16 ulps.
"""

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.strategies import cluster_counts, problems, problems_with_full_cells
from kmeans_rbf.tolerances import error_bounds, unit_roundoff
from support import assert_bites


@pytest.mark.claim("soft-step-limit")
@given(problem=problems(n_clusters=cluster_counts()), fraction=st.floats(1e-3, 1.0))
def test_entmax_soft_step_is_lloyd_below_half_the_margin(implementation, problem, fraction):
    X, C, _ = problem
    margin = float(np.min(reference.margins(X, C)))
    assume(len(C) >= 2 and 1e-12 < margin < np.inf)
    T = fraction * (margin / 2)  # T <= m/2, rounding included (fraction <= 1)
    soft, lloyd = implementation.soft_step(X, C, T, "entmax15"), implementation.lloyd_step(X, C)
    note(f"m = {margin!r}, T = {T!r}: soft {soft.ravel()}, Lloyd {lloyd.ravel()}")
    # Exact: every gap regret_ik >= m = 2 (m/2) >= 2T, so regret/T >= 2 in floating point
    # too (rounding is monotone and m / (m/2) = 2 exactly): the responsibilities are the
    # exact one-hot rows, and both steps compute the same weighted means of the same X.
    assert np.array_equal(soft, lloyd)


@pytest.mark.claim("soft-step-limit")
@given(problem=st.one_of(problems(), problems_with_full_cells(n_clusters=cluster_counts(min_value=6, max_value=16))), ratio=st.floats(2.0, 60.0))
def test_softmax_soft_step_within_the_bound(implementation, problem, ratio):
    # (Every cell must be occupied: many centres come from problems_with_full_cells.)
    X, C, _ = problem
    margin = float(np.min(reference.margins(X, C)))
    K = len(C)
    sizes = np.bincount(reference.assign(X, C), minlength=K)
    assume(K >= 2 and 1e-12 < margin < np.inf and np.all(sizes > 0))
    T = margin / ratio
    eta = np.exp(-margin / T)
    # The claim's hypothesis (K-1) eta < 1: with ratio >= 2 it holds up to K = 8 whatever
    # the ratio; more centres need a larger ratio (it failed as a test assumption once K
    # was drawn beyond 5: a negative "bound").
    assume((K - 1) * eta < 1)
    lloyd_exact = reference.lloyd_step(X, C)
    reach = np.max(np.linalg.norm(X[:, None, :] - lloyd_exact[None, :, :], axis=2), axis=0)
    # B_k = eta ((K-1)|S_k| + N - |S_k|) R_k / (|S_k| (1 - (K-1) eta)) (proof: the
    # deviation identity and the softmax weight bounds), for (K-1) eta < 1 (assumed above).
    # Computed in float64 to a few ulps: 16 u relative covers it.
    B = eta * ((K - 1) * sizes + len(X) - sizes) * reach / (sizes * (1 - (K - 1) * eta))
    B *= 1 + 16 * unit_roundoff(np.float64)
    # Both steps round: the float64 bounds of each (per centre).
    soft_bound = error_bounds(X, C, T, "softmax", np.float64)["soft_step"][:, 0]
    lloyd_bound = error_bounds(X, C, None, "hard", np.float64)["lloyd_step"][:, 0]
    soft, lloyd = implementation.soft_step(X, C, T, "softmax"), implementation.lloyd_step(X, C)
    deviation = np.max(np.abs(soft - lloyd), axis=1)
    note(f"m = {margin!r}, T = {T!r}, eta = {eta:.3g}: deviation {deviation}, bound {B}")
    assert np.all(deviation <= B + soft_bound + lloyd_bound)


@pytest.mark.claim("soft-step-limit")
@pytest.mark.parametrize(
    "test", [test_entmax_soft_step_is_lloyd_below_half_the_margin, test_softmax_soft_step_within_the_bound],
    ids=["entmax", "softmax"],
)
def test_soft_step_limit_properties_bite(test):
    assert_bites(test, variants.SOFT_STEP_AT_A_MILLION_T)


@pytest.mark.claim("soft-step-limit")
def test_softmax_limit_needs_every_cell_occupied(implementation):
    # The hypothesis "no empty Voronoi cell" cannot be dropped for softmax. X = {0, 1},
    # C = (0.5, 10): both points are in the cell of c_0, Lloyd keeps c_1 = 10, while the
    # softmax soft step sends c_1 to the point of smallest regret d_i1 - d_i0 (x = 1: 80.75
    # against 99.75 for x = 0), for every small T: the distance to Lloyd's step stays 9.
    # Its weight relative to x = 0 is exp(-19/T) <= exp(-19): c_1 = 1 to within 1e-8 * 1.
    X, C = np.array([[0.0], [1.0]]), np.array([[0.5], [10.0]])
    lloyd = implementation.lloyd_step(X, C)
    assert np.array_equal(lloyd, [[0.5], [10.0]])
    for T in (1.0, 1e-1, 1e-3, 1e-6):
        soft = implementation.soft_step(X, C, T, "softmax")
        assert abs(soft[1, 0] - 1.0) <= 1e-8
        assert abs(soft[1, 0] - lloyd[1, 0]) >= 9.0 - 1e-8
    # entmax15 below half the margin (m = 80.75, at x = 1) keeps the dead centre, as Lloyd does.
    assert np.array_equal(implementation.soft_step(X, C, 0.3, "entmax15"), lloyd)
