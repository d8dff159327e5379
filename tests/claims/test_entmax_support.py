"""Claims entmax-one-hot-threshold, entmax-exact-below-margin and entmax-support: where
entmax-1.5 responsibilities are exactly hard, and which centres they give mass to.
Statements, proofs and status: theory/entmax.md (ids in its headings).

* entmax-one-hot-threshold: a row is one-hot iff its margin (the gap d_(2) - d_(1)) is at
  least 2T, at the boundary itself too (integer data, where it is exact in float64).
* entmax-exact-below-margin: below half the smallest margin every entmax quantity is the
  hard one, bit for bit; softmax approaches it only at the rate e^(-m/T).
* entmax-support: centre k is in the support of point i iff S_ik < 4T^2
  (kmeans_rbf.bounds.entmax_support_sums), so the support lies in the 2T-thickened cell.

Exactness is checked bit for bit within one implementation: entmax rows below the margin are
exactly 0.0 and 1.0 in floating point, and what follows repeats the same floating-point
operations. Which side of a threshold an entry is on is decided only outside the band
kmeans_rbf.tolerances.decision_band around it; other comparisons use the float64 bounds of
kmeans_rbf.tolerances.error_bounds.
"""

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.bounds import entmax_support_sums
from kmeans_rbf.strategies import cluster_counts, datasets, problems, problems_below_the_margin
from kmeans_rbf.tolerances import decision_band, error_bounds, tolerance
from support import assert_bites

# --- entmax-one-hot-threshold ------------------------------------------------------------


@pytest.mark.claim("entmax-one-hot-threshold")
@given(problem=problems(n_clusters=cluster_counts()))
def test_entmax_row_is_one_hot_iff_gap_at_least_2T(implementation, problem):
    X, C, T = problem
    d = np.asarray(implementation.squared_distances(X, C))
    r = np.asarray(implementation.responsibilities(X, C, T, "entmax15"))
    gaps, band = reference._margins(d), decision_band(d, T)
    above, below = gaps >= 2 * T * (1 + band), gaps < 2 * T * (1 - band)
    note(f"gaps / 2T = {gaps / (2 * T)}, band {band:.1e}")
    assert np.array_equal(r[above], reference._responsibilities(d, None, "hard")[above])
    assert np.all(np.count_nonzero(r[below], axis=1) >= 2)


@st.composite
def dyadic_boundary_problems(draw):
    """``(X, C, T, i)`` with integer X and C and T = g_i / 2 exactly: row i sits on the threshold.

    Integer coordinates make d, the gap g_i and ``-g_i / T = -2`` exact in float64.
    """
    X = draw(datasets(geometry="grid"))
    K = draw(cluster_counts(min_value=2, max_value=16))
    C = np.array(
        draw(st.lists(st.integers(-4, 4), min_size=K * X.shape[1], max_size=K * X.shape[1])),
        dtype=np.float64,
    ).reshape(K, X.shape[1])
    gaps = reference.margins(X, C)
    rows = np.flatnonzero(gaps > 0)
    assume(len(rows) > 0)
    i = int(rows[draw(st.integers(0, len(rows) - 1))])
    return X, C, float(gaps[i]) / 2, i


@pytest.mark.claim("entmax-one-hot-threshold")
@given(problem=dyadic_boundary_problems())
def test_entmax_one_hot_at_the_exact_boundary(implementation, problem):
    X, C, T, i = problem
    d = np.asarray(implementation.squared_distances(X, C))
    hard = reference._responsibilities(d, None, "hard")[i]
    # gap = 2T exactly: one-hot; T slightly smaller: one-hot; T slightly larger: not.
    exact = np.asarray(implementation.responsibilities(X, C, T, "entmax15"))[i]
    colder = np.asarray(implementation.responsibilities(X, C, T * (1 - 2.0**-20), "entmax15"))[i]
    warmer = np.asarray(implementation.responsibilities(X, C, T * (1 + 2.0**-20), "entmax15"))[i]
    note(f"row {i}: d {d[i]}, T {T}: at 2T = gap {exact}, warmer {warmer}")
    assert np.array_equal(exact, hard)
    assert np.array_equal(colder, hard)
    # warmer: the runner-up gets ~(2^-20)^2 ~ 1e-12 of mass, far above rounding.
    assert np.count_nonzero(warmer) >= 2


@pytest.mark.claim("entmax-one-hot-threshold")
@pytest.mark.parametrize(
    "test",
    [test_entmax_one_hot_at_the_exact_boundary, test_entmax_row_is_one_hot_iff_gap_at_least_2T],
    ids=["boundary", "threshold"],
)
@pytest.mark.parametrize("broken", [variants.SPARSEMAX_FOR_ENTMAX, variants.ENTMAX_ALPHA2_SCALING], ids=lambda v: v.name)
def test_one_hot_threshold_bites(test, broken):
    assert_bites(test, broken)


# --- entmax-exact-below-margin -----------------------------------------------------------


@pytest.mark.claim("entmax-exact-below-margin")
@given(problem=problems_below_the_margin(n_clusters=cluster_counts()))
def test_entmax_is_exactly_hard_below_the_margin(implementation, problem):
    X, C, T, margin = problem
    # the drawn T, and T at 0.99 of the threshold (rows with gaps just above 2T)
    for temperature in [T] if np.isinf(margin) else [T, 0.99 * margin / 2]:
        note(f"margin {margin}, T {temperature}")
        r = np.asarray(implementation.responsibilities(X, C, temperature, "entmax15"))
        assert np.array_equal(r, np.asarray(implementation.responsibilities(X, C, None, "hard")))
        J = implementation.objective(X, C)
        assert implementation.objective(X, C, temperature, "entmax15") == J
        assert implementation.free_energy(X, C, temperature, "entmax15") == J
        soft = np.asarray(implementation.soft_step(X, C, temperature, "entmax15"))
        assert np.array_equal(soft, np.asarray(implementation.lloyd_step(X, C)))
        hard_gradient = np.asarray(implementation.gradient(X, C))
        assert np.array_equal(np.asarray(implementation.gradient(X, C, temperature, "entmax15")), hard_gradient)
        assert np.array_equal(
            np.asarray(implementation.free_energy_gradient(X, C, temperature, "entmax15")), hard_gradient
        )


@pytest.mark.claim("entmax-exact-below-margin")
@given(problem=problems_below_the_margin(n_clusters=cluster_counts()))
def test_softmax_approaches_hard_at_rate_exp_minus_m_over_T(implementation, problem):
    X, C, _, margin = problem
    assume(np.isfinite(margin))
    K, N = C.shape[0], X.shape[0]
    for ratio in (2.0, 8.0, 32.0):
        T = margin / ratio
        # relative: rounding of r_ik ~ exp(-regret/T) and of the margin seen by the implementation
        slack = decision_band(reference.squared_distances(X, C), T)
        Y = np.exp(-ratio)  # e^{-m/T}
        r = np.asarray(implementation.responsibilities(X, C, T, "softmax"))
        nearest = np.eye(K, dtype=bool)[np.asarray(implementation.assign(X, C))]
        leak = float(np.max(np.sum(np.where(nearest, 0.0, r), axis=1)))
        excess = implementation.objective(X, C, T, "softmax") - implementation.objective(X, C)
        err = 2 * error_bounds(X, C, T, "softmax", np.float64)["objective"]
        note(f"T = m/{ratio}: max leak {leak:.3e}, L - J {excess:.3e}, e^(-m/T) {Y:.3e}")
        assert Y / 2 * (1 - slack) <= leak <= (K - 1) * Y * (1 + slack)
        assert margin * Y / (K * N) * (1 - slack) - err <= excess <= (K - 1) * margin * Y * (1 + slack) + err


@pytest.mark.claim("entmax-exact-below-margin")
def test_entmax_is_exactly_hard_with_many_centres(implementation):
    # 13 centres, margins far above 2T: exactly hard in exact arithmetic. Catches the bug
    # this test found: a support size counting every k with tau_k < u_(k) instead of the
    # leading run; rounding puts tau_k below the clipped -1 at k = 5, 6, 10, 13, 15, ...,
    # so for K >= 13 the count reached such a k and r_i,nearest came out as 1 + 2^-51.
    X = np.array([[1.0], [2.0]])
    C = np.array([[1.5]] + [[10.0 + k] for k in range(12)])
    r = np.asarray(implementation.responsibilities(X, C, 1.0, "entmax15"))
    assert np.array_equal(r, np.asarray(implementation.responsibilities(X, C, None, "hard")))
    assert implementation.objective(X, C, 1.0, "entmax15") == implementation.objective(X, C)


@pytest.mark.claim("entmax-exact-below-margin")
@pytest.mark.parametrize(
    "test",
    [test_entmax_is_exactly_hard_below_the_margin, test_softmax_approaches_hard_at_rate_exp_minus_m_over_T],
    ids=["entmax", "softmax"],
)
def test_exact_below_margin_bites(test):
    assert_bites(test, variants.TEMPERATURE_DOUBLED)


# --- entmax-support ----------------------------------------------------------------------


@st.composite
def problems_near_a_support_boundary(draw):
    """``(X, C, T)`` with T within a factor 2 of sqrt(S_ik)/2 for some entry (i, k)."""
    X, C, _ = draw(problems(n_clusters=cluster_counts()))
    S = entmax_support_sums(reference.squared_distances(X, C))
    positive = np.flatnonzero(S > 0)
    assume(len(positive) > 0)
    entry = positive[draw(st.integers(0, len(positive) - 1))]
    return X, C, float(np.sqrt(S.flat[entry])) / 2 * draw(st.floats(0.5, 2.0))


@pytest.mark.claim("entmax-support")
@given(problem=st.one_of(problems(n_clusters=cluster_counts()), problems_near_a_support_boundary()))
def test_entmax_support_is_characterised_exactly(implementation, problem):
    X, C, T = problem
    d = np.asarray(implementation.squared_distances(X, C))
    r = np.asarray(implementation.responsibilities(X, C, T, "entmax15"))
    ratio = entmax_support_sums(d) / (4 * T**2)
    # |u_k - tau| >= |1 - ratio| / (2 sqrt K) near ratio = 1 (the mass function phi has
    # slope at most 2 sqrt(K phi)), so the band on ratio is 4 sqrt K that on u.
    band = 4 * np.sqrt(C.shape[0]) * decision_band(d, T)
    inside, outside = ratio < 1 - band, ratio > 1 + band
    note(f"S / 4T^2 = {ratio}, band {band:.1e}")
    assert np.all(r[inside] > 0)
    assert np.all(r[outside] == 0)
    # hence the 2T-thickened Voronoi cell contains the support
    regret = d - d.min(axis=1, keepdims=True)
    assert np.all(regret[r > 0] < 2 * T * (1 + band))


@pytest.mark.claim("entmax-support")
def test_thickened_cell_bound_is_tight_only_for_the_runner_up(implementation):
    # Runner-up with a unique nearest centre: in the support iff its regret is < 2T.
    X, T = np.array([[0.0]]), 1.0
    inside = np.array([[0.0], [np.sqrt(2 * T * (1 - 1e-6))]])
    r = np.asarray(implementation.responsibilities(X, inside, T, "entmax15"))
    assert r[0, 1] > 0
    # Two centres tied nearest (d = 1, 1) and a third at regret 1.9 T < 2T: outside the
    # support, since S = 2 (1.9 T)^2 > 4 T^2 (the threshold is sqrt(2) T here).
    tied = np.array([[-1.0], [1.0], [np.sqrt(1 + 1.9 * T)]])
    r = np.asarray(implementation.responsibilities(X, tied, T, "entmax15"))
    regret = np.asarray(implementation.squared_distances(X, tied))[0] - 1
    assert regret[2] < 2 * T and r[0, 2] == 0
    assert r[0, 0] == r[0, 1] and abs(r[0, 0] - 0.5) <= tolerance(np.float64)  # tau = -1/sqrt 2, rounded


@pytest.mark.claim("entmax-support")
def test_support_property_bites():
    assert_bites(test_entmax_support_is_characterised_exactly, variants.ENTMAX_ALPHA2_SCALING)
