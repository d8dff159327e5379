"""MATH.md claims 5, 7 and 9: entmax-1.5 exactness, Voronoi order, support, dead centres,
empty clusters. Statements, proofs and status: theory/entmax.md (ids in its headings).

Every property is a factory of an implementation (tests/claims/support.py), run on each
implementation of conftest.BACKENDS and on a deliberately broken variant that it must
catch. Exactness claims are checked bit for bit *within* one implementation (entmax rows
below the margin are exactly 0.0 and 1.0 in floating point, and what follows repeats the
same floating-point operations); everything else uses kmeans_rbf.tolerances.

Decision bands. Whether an entry is in the entmax support, or a row is one-hot, is decided
by comparing ``u_k = z_k / 2`` with the threshold tau. The computed logits carry an
absolute error of a few units of roundoff times ``1 + (d_ik + min_l d_il) / T`` (the regret
``d_ik - min_l d_il`` is a difference of two rounded distances, then divided by T), and
tau a few units of roundoff (it is built from u clipped to [-1, 0]). ``_band`` is the
float64 entry of the tolerance table (256 u, which bounds the summation-order differences
of the implementations as well) times that condition; cases within a band of a threshold
are not decided by the property, everything outside must be exact.

Strategies written here (not in kmeans_rbf.strategies): problems_below_the_margin,
dyadic_boundary_problems, problems_near_a_support_boundary, problems_with_a_dead_centre,
problems_with_a_far_centre, integer_problems.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import Phase, assume, given, note, settings
from hypothesis import strategies as st

from conftest import BACKENDS
from kmeans_rbf import reference
from kmeans_rbf.strategies import datasets, problems, temperatures
from kmeans_rbf.tolerances import error_bounds, tolerance
from support import legacy_assert_bites as assert_bites
from variants import variant

SOFT_KINDS = ["softmax", "entmax15"]

# --- helpers ---------------------------------------------------------------------------


def _gaps(d):
    """``d_(2) - d_(1)`` per row: the margin of each point (inf with a single centre)."""
    if d.shape[1] == 1:
        return np.full(d.shape[0], np.inf)
    ordered = np.sort(d, axis=1)
    return ordered[:, 1] - ordered[:, 0]


def _support_sums(d):
    """``S_ik = sum_l [d_ik - d_il]_+^2``: k is in the entmax support iff S_ik < 4 T^2."""
    differences = np.maximum(d[:, :, None] - d[:, None, :], 0.0)
    return np.sum(differences**2, axis=2)


def _band(d, temperature):
    """Relative width of the undecidable band around a threshold (module doc)."""
    return tolerance(np.float64, 1.0 + 2.0 * float(d.max()) / temperature)


def _one_hot(d):
    """One-hot rows on the first nearest centre (the hard responsibilities)."""
    return np.eye(d.shape[1])[np.argmin(d, axis=1)]


def _error_bounds(X, C, temperature, kind):
    """``tolerances.error_bounds`` in float64."""
    return error_bounds(X, C, temperature, kind, np.float64)


def _resolvable(margin, d):
    # Every implementation's distances lie within tolerance(float64) * max d of the
    # reference's (tolerances.error_bounds["squared_distances"]); a margin 1e3 times larger
    # is seen by all of them to within 0.1 %.
    return margin >= 1e3 * tolerance(np.float64) * float(d.max())




# --- strategies --------------------------------------------------------------------------


@st.composite
def problems_below_the_margin(draw, *, fraction=st.floats(1e-3, 0.99)):
    """``(X, C, T, m)``: m > 0 the smallest gap d_(2) - d_(1) over the data, T <= 0.99 m/2."""
    X, C, T = draw(problems())
    d = reference.squared_distances(X, C)
    margin = float(np.min(_gaps(d)))
    assume(margin > 0)  # a tied nearest centre: no temperature is below the margin
    if np.isinf(margin):  # one centre: every row is one-hot at every T
        return X, C, T, margin
    assume(_resolvable(margin, d))
    return X, C, draw(fraction) * margin / 2, margin


@st.composite
def dyadic_boundary_problems(draw):
    """``(X, C, T, i)`` with integer X and C and T = g_i / 2 exactly: row i sits on the threshold.

    Integer coordinates make d, the gap g_i and ``-g_i / T = -2`` exact in float64.
    """
    X = draw(datasets(geometry="grid"))
    K = draw(st.integers(2, 5))
    C = np.array(
        draw(st.lists(st.integers(-4, 4), min_size=K * X.shape[1], max_size=K * X.shape[1])),
        dtype=np.float64,
    ).reshape(K, X.shape[1])
    gaps = _gaps(reference.squared_distances(X, C))
    rows = np.flatnonzero(gaps > 0)
    assume(len(rows) > 0)
    i = int(rows[draw(st.integers(0, len(rows) - 1))])
    return X, C, float(gaps[i]) / 2, i


@st.composite
def problems_near_a_support_boundary(draw):
    """``(X, C, T)`` with T within a factor 2 of sqrt(S_ik)/2 for some entry (i, k)."""
    X, C, _ = draw(problems())
    S = _support_sums(reference.squared_distances(X, C))
    positive = np.flatnonzero(S > 0)
    assume(len(positive) > 0)
    entry = positive[draw(st.integers(0, len(positive) - 1))]
    return X, C, float(np.sqrt(S.flat[entry])) / 2 * draw(st.floats(0.5, 2.0))


@st.composite
def problems_with_a_dead_centre(draw):
    """``(X, C, T, k)``: centre k is nobody's nearest and T <= 0.99 (least regret)/2, so dead."""
    X, C, _ = draw(problems(n_clusters=st.integers(1, 4)))
    low, high = X.min(axis=0), X.max(axis=0)
    unit = np.array(draw(st.lists(st.floats(-1.0, 2.0), min_size=X.shape[1], max_size=X.shape[1])))
    unit[np.abs(unit) < 1e-8] = 0.0  # as kmeans_rbf.strategies: no coordinate whose square underflows
    k = draw(st.integers(0, len(C)))
    C = np.insert(C, k, low + unit * (high - low + 1.0), axis=0)
    d = reference.squared_distances(X, C)
    least_regret = float(np.min(d[:, k] - np.delete(d, k, axis=1).min(axis=1)))
    assume(least_regret > 0 and _resolvable(least_regret, d))
    return X, C, draw(st.floats(1e-3, 0.99)) * least_regret / 2, k


@st.composite
def problems_with_a_far_centre(draw):
    """``(X, C, T, k)`` with min_i d_ik >= max(diam(X)^2, max_il d_il over the others) + 2T."""
    X, C, T = draw(problems(n_clusters=st.integers(1, 4), temperature=temperatures(max_value=10.0)))
    diameter2 = float(reference.squared_distances(X, X).max())
    reach2 = max(diameter2, float(reference.squared_distances(X, C).max())) + 2 * T
    far = X.max(axis=0).copy()
    far[0] += np.sqrt(reach2) * draw(st.floats(1.01, 2.0))  # 1.01: clear of rounding
    k = draw(st.integers(0, len(C)))
    return X, np.insert(C, k, far, axis=0), T, k


@st.composite
def integer_problems(draw):
    """``(X, C)`` with integer coordinates (exact distances and regrets), one centre far-ish."""
    X = draw(datasets(geometry="grid"))
    D, K = X.shape[1], draw(st.integers(1, 4))
    C = np.array(draw(st.lists(st.integers(-4, 4), min_size=K * D, max_size=K * D)), dtype=np.float64)
    far = np.array(draw(st.lists(st.integers(-8, 8), min_size=D, max_size=D)), dtype=np.float64)
    return X, np.vstack([C.reshape(K, D), far])


# --- broken variants ---------------------------------------------------------------------


def _responsibilities_with_map(entmax_map):
    """Public ``responsibilities`` whose entmax15 rows come from ``entmax_map(logits)``."""

    def responsibilities(X, C, temperature=None, kind="hard"):
        if kind != "entmax15":
            return reference.responsibilities(X, C, temperature, kind)
        d = reference.squared_distances(X, C)
        with np.errstate(over="ignore"):  # regret / T may overflow to inf: weight 0, as meant
            logits = -(d - d.min(axis=1, keepdims=True)) / temperature
        return entmax_map(logits)

    return responsibilities


def _plus_d_over_T(X, C, temperature=None, kind="hard"):
    # The bug: logits +d/T (a sign lost between "distance" and "similarity").
    if kind == "hard":
        return reference.responsibilities(X, C, temperature, kind)
    d = reference.squared_distances(X, C)
    shifted = (d - d.max(axis=1, keepdims=True)) / temperature
    return reference.softmax(shifted) if kind == "softmax" else reference.entmax15(shifted)


def _assign_highest_index_ties(X, C):
    # The bug: argmin taken over the reversed centres, so ties go to the highest index.
    d = reference.squared_distances(X, C)
    return d.shape[1] - 1 - np.argmin(d[:, ::-1], axis=1)


def _smoothed_entmax15(Z):
    # The bug: a floor added to every probability "to keep logs finite", renormalised.
    p = reference.entmax15(Z) + 1e-9
    return p / p.sum(axis=-1, keepdims=True)


def _rbf_width_convention(name):
    # The bug: the Gaussian RBF exp(-d / (2 sigma^2)) with sigma^2 read as T, so the
    # logits are -d / (2T): every soft quantity is the reference's at temperature 2T.
    function = getattr(reference, name)

    def at_double_temperature(X, C, temperature=None, kind="hard"):
        return function(X, C, None if temperature is None else 2 * temperature, kind)

    return at_double_temperature


_RBF_WIDTH_NAMES = ["responsibilities", "objective", "free_energy", "gradient", "free_energy_gradient", "soft_step"]


def _soft_step_dead_to_origin(X, C, temperature=None, kind="softmax"):
    # The bug: weighted means as sums / mass with empty groups set to zero, like a
    # scatter-mean (torch_scatter.scatter_mean, or index_add_ then where(count > 0)).
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    r = reference.responsibilities(X, C, temperature, kind)
    mass = r.sum(axis=0)
    sums = r.T @ X
    return np.where(mass[:, None] > 0, sums / np.where(mass > 0, mass, 1.0)[:, None], 0.0)


def _soft_step_reset_dead_units(X, C, temperature=None, kind="softmax"):
    # The bug: dead units re-initialised on a data point (codebook reset in VQ-VAE style).
    X = np.asarray(X, dtype=np.float64)
    step = reference.soft_step(X, C, temperature, kind)
    mass = reference.responsibilities(X, C, temperature, kind).sum(axis=0)
    step[mass == 0] = X[0]
    return step


def _anneal_with(soft_step):
    def anneal(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
        trajectory = [np.asarray(C0, dtype=np.float64)]
        for temperature in temperatures:
            for _ in range(steps_per_temperature):
                trajectory.append(soft_step(X, trajectory[-1], temperature, kind))
        return np.stack(trajectory)

    return anneal


def _anneal_pruning_dead_units(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    # The bug: a centre that once had zero mass is pruned (frozen and excluded) for good.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C0, dtype=np.float64).copy()
    alive = np.ones(len(C), dtype=bool)
    trajectory = [C.copy()]
    for temperature in temperatures:
        for _ in range(steps_per_temperature):
            r = reference.responsibilities(X, C[alive], temperature, kind)
            alive_indices = np.flatnonzero(alive)
            mass = r.sum(axis=0)
            C[alive_indices[mass > 0]] = (r.T @ X)[mass > 0] / mass[mass > 0][:, None]
            alive[alive_indices[mass == 0]] = False
            trajectory.append(C.copy())
    return np.stack(trajectory)


def _lloyd_relocating_empty_clusters(X, C):
    # The bug: an empty cluster is relocated to the point farthest from its centre (as
    # scikit-learn does) while the documentation promises "keep".
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    step = reference.lloyd_step(X, C)
    d = reference.squared_distances(X, C)
    counts = np.bincount(np.argmin(d, axis=1), minlength=len(C))
    step[counts == 0] = X[np.argmax(d.min(axis=1))]
    return step


def _naive_softmax_soft_step(X, C, temperature=None, kind="softmax"):
    # The bug: the weighted mean of the plain responsibilities; where a whole column
    # underflows, the centre "has no mass" and stays.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    r = reference.responsibilities(X, C, temperature, kind)
    mass = r.sum(axis=0)
    means = (r.T @ X) / np.where(mass > 0, mass, 1.0)[:, None]
    return np.where(mass[:, None] > 0, means, C)


# === entmax-one-hot-threshold ==========================================================


def one_hot_threshold_property(impl):
    @given(problem=problems())
    def check(problem):
        X, C, T = problem
        d = np.asarray(impl.squared_distances(X, C))
        r = np.asarray(impl.responsibilities(X, C, T, "entmax15"))
        gaps, band = _gaps(d), _band(d, T)
        above, below = gaps >= 2 * T * (1 + band), gaps < 2 * T * (1 - band)
        note(f"gaps / 2T = {gaps / (2 * T)}, band {band:.1e}")
        assert np.array_equal(r[above], _one_hot(d)[above])
        assert np.all(np.count_nonzero(r[below], axis=1) >= 2)

    return check


def one_hot_boundary_property(impl):
    @given(problem=dyadic_boundary_problems())
    def check(problem):
        X, C, T, i = problem
        d = np.asarray(impl.squared_distances(X, C))
        # gap = 2T exactly: one-hot; 2T (1 - 2^-20) < gap... i.e. T slightly larger: not.
        exact = np.asarray(impl.responsibilities(X, C, T, "entmax15"))[i]
        colder = np.asarray(impl.responsibilities(X, C, T * (1 - 2.0**-20), "entmax15"))[i]
        warmer = np.asarray(impl.responsibilities(X, C, T * (1 + 2.0**-20), "entmax15"))[i]
        note(f"row {i}: d {d[i]}, T {T}: at 2T = gap {exact}, warmer {warmer}")
        assert np.array_equal(exact, _one_hot(d)[i])
        assert np.array_equal(colder, _one_hot(d)[i])
        # warmer: the runner-up gets ~(2^-20)^2 ~ 1e-12 of mass, far above rounding.
        assert np.count_nonzero(warmer) >= 2

    return check


@pytest.mark.claim("entmax-one-hot-threshold")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_entmax_row_is_one_hot_iff_gap_at_least_2T(implementation):
    one_hot_threshold_property(implementation)()


@pytest.mark.claim("entmax-one-hot-threshold")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_entmax_one_hot_at_the_exact_boundary(implementation):
    one_hot_boundary_property(implementation)()


@pytest.mark.claim("entmax-one-hot-threshold")
@pytest.mark.parametrize(
    "broken",
    [
        variant("sparsemax for entmax15", responsibilities=_responsibilities_with_map(reference.sparsemax)),
        variant(
            "entmax15 with the alpha=2 scaling",
            responsibilities=_responsibilities_with_map(lambda Z: reference.entmax15(2 * Z)),
        ),
    ],
    ids=lambda v: v.name,
)
def test_one_hot_threshold_bites(broken):
    assert_bites(one_hot_boundary_property(broken))
    assert_bites(one_hot_threshold_property(broken))


# === entmax-exact-below-margin ===========================================================


def exact_below_margin_property(impl):
    @given(problem=problems_below_the_margin())
    def check(problem):
        X, C, T, margin = problem
        # the drawn T, and T at 0.99 of the threshold (rows with gaps just above 2T)
        for temperature in [T] if np.isinf(margin) else [T, 0.99 * margin / 2]:
            note(f"margin {margin}, T {temperature}")
            r = np.asarray(impl.responsibilities(X, C, temperature, "entmax15"))
            assert np.array_equal(r, np.asarray(impl.responsibilities(X, C, None, "hard")))
            J = impl.objective(X, C)
            assert impl.objective(X, C, temperature, "entmax15") == J
            assert impl.free_energy(X, C, temperature, "entmax15") == J
            soft = np.asarray(impl.soft_step(X, C, temperature, "entmax15"))
            assert np.array_equal(soft, np.asarray(impl.lloyd_step(X, C)))
            hard_gradient = np.asarray(impl.gradient(X, C))
            assert np.array_equal(np.asarray(impl.gradient(X, C, temperature, "entmax15")), hard_gradient)
            assert np.array_equal(np.asarray(impl.free_energy_gradient(X, C, temperature, "entmax15")), hard_gradient)

    return check


def softmax_rate_property(impl):
    @given(problem=problems_below_the_margin())
    def check(problem):
        X, C, _, margin = problem
        assume(np.isfinite(margin))
        K, N = C.shape[0], X.shape[0]
        for ratio in (2.0, 8.0, 32.0):
            T = margin / ratio
            d = reference.squared_distances(X, C)
            # relative: rounding of r_ik ~ exp(-regret/T) and of the margin seen by impl
            slack = _band(d, T)
            Y = np.exp(-ratio)  # e^{-m/T}
            r = np.asarray(impl.responsibilities(X, C, T, "softmax"))
            nearest = np.eye(K, dtype=bool)[np.asarray(impl.assign(X, C))]
            leak = float(np.max(np.sum(np.where(nearest, 0.0, r), axis=1)))
            excess = impl.objective(X, C, T, "softmax") - impl.objective(X, C)
            err = 2 * _error_bounds(X, C, T, "softmax")["objective"]
            note(f"T = m/{ratio}: max leak {leak:.3e}, L - J {excess:.3e}, e^(-m/T) {Y:.3e}")
            assert Y / 2 * (1 - slack) <= leak <= (K - 1) * Y * (1 + slack)
            assert margin * Y / (K * N) * (1 - slack) - err <= excess <= (K - 1) * margin * Y * (1 + slack) + err

    return check


@pytest.mark.claim("entmax-exact-below-margin")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_entmax_is_exactly_hard_below_the_margin(implementation):
    exact_below_margin_property(implementation)()


@pytest.mark.claim("entmax-exact-below-margin")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_softmax_approaches_hard_at_rate_exp_minus_m_over_T(implementation):
    softmax_rate_property(implementation)()


@pytest.mark.claim("entmax-exact-below-margin")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
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
def test_exact_below_margin_bites():
    broken = variant(
        "logits -d/(2T): RBF width sigma^2 read as T",
        **{name: _rbf_width_convention(name) for name in _RBF_WIDTH_NAMES},
    )
    assert_bites(exact_below_margin_property(broken))
    assert_bites(softmax_rate_property(broken))


# === voronoi-order =========================================================================


def voronoi_order_property(impl):
    @given(problem=problems(), kind=st.sampled_from(SOFT_KINDS))
    def check(problem, kind):
        X, C, T = problem
        d = np.asarray(impl.squared_distances(X, C))
        r = np.asarray(impl.responsibilities(X, C, T, kind))
        labels = np.asarray(impl.assign(X, C))
        # The hard rule: the first (lowest-index) nearest centre.
        assert np.array_equal(labels, np.argmin(d, axis=1))
        # Order preservation, exact in floating point (every step is a monotone rounding):
        # d_ij <= d_ik implies r_ij >= r_ik.
        closer = d[:, :, None] <= d[:, None, :]
        assert np.all(r[:, :, None] >= r[:, None, :], where=closer)
        # Decoding by the first maximum gives the Voronoi labels, on exact ties too (tied
        # distances give bit-identical responsibilities). A nearest centre that wins by less
        # than the rounding of r (gap / T <= 256 u) may tie in r and is not decided.
        gaps = _gaps(d)
        decided = (gaps == 0) | (gaps / T > tolerance(np.float64))
        note(f"kind {kind}, gaps / T {gaps / T}")
        assert np.array_equal(np.argmax(r, axis=1)[decided], labels[decided])

    return check


@pytest.mark.claim("voronoi-order")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_argmax_of_responsibilities_is_the_voronoi_cell(implementation):
    voronoi_order_property(implementation)()


@pytest.mark.claim("voronoi-order")
@pytest.mark.parametrize(
    "broken",
    [
        variant("logits +d/T", responsibilities=_plus_d_over_T),
        variant("argmin with highest-index ties", assign=_assign_highest_index_ties),
    ],
    ids=lambda v: v.name,
)
def test_voronoi_order_bites(broken):
    assert_bites(voronoi_order_property(broken))


# === entmax-order-converse (refuted) ====================================================


def order_converse_counterexample(impl):
    def check():
        # d = (0, 2.25, 4), T = 1: z = (0, -2.25, -4), entmax15 = (1, 0, 0). Then
        # p_3 >= p_2 although z_3 < z_2: "p_j >= p_k => z_j >= z_k" fails off the support.
        X, C = np.array([[0.0]]), np.array([[0.0], [1.5], [2.0]])
        d = np.asarray(impl.squared_distances(X, C))[0]
        p = np.asarray(impl.responsibilities(X, C, 1.0, "entmax15"))[0]
        assert p[2] >= p[1] and d[2] > d[1]
        assert np.array_equal(p, [1.0, 0.0, 0.0])

    return check


@pytest.mark.claim("entmax-order-converse")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_order_converse_counterexample(implementation):
    order_converse_counterexample(implementation)()


@pytest.mark.claim("entmax-order-converse")
def test_order_converse_counterexample_bites():
    broken = variant("entmax15 floored at 1e-9", responsibilities=_responsibilities_with_map(_smoothed_entmax15))
    assert_bites(order_converse_counterexample(broken))


# === entmax-support ========================================================================


def support_property(impl):
    @given(problem=st.one_of(problems(), problems_near_a_support_boundary()))
    def check(problem):
        X, C, T = problem
        d = np.asarray(impl.squared_distances(X, C))
        r = np.asarray(impl.responsibilities(X, C, T, "entmax15"))
        ratio = _support_sums(d) / (4 * T**2)
        # |u_k - tau| >= |1 - ratio| / (2 sqrt K) near ratio = 1 (the mass function
        # phi has slope at most 2 sqrt(K phi)), so the band on ratio is 4 sqrt K that on u.
        band = 4 * np.sqrt(C.shape[0]) * _band(d, T)
        inside, outside = ratio < 1 - band, ratio > 1 + band
        note(f"S / 4T^2 = {ratio}, band {band:.1e}")
        assert np.all(r[inside] > 0)
        assert np.all(r[outside] == 0)
        # hence the 2T-thickened Voronoi cell contains the support
        regret = d - d.min(axis=1, keepdims=True)
        assert np.all(regret[r > 0] < 2 * T * (1 + band))

    return check


@pytest.mark.claim("entmax-support")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_entmax_support_is_characterised_exactly(implementation):
    support_property(implementation)()


@pytest.mark.claim("entmax-support")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
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
    broken = variant(
        "entmax15 with the alpha=2 scaling",
        responsibilities=_responsibilities_with_map(lambda Z: reference.entmax15(2 * Z)),
    )
    assert_bites(support_property(broken))


# === dead-centres =============================================================================


def dead_centre_property(impl):
    @given(problem=problems_with_a_dead_centre())
    def check(problem):
        X, C, T, k = problem
        note(f"dead centre {k} at {C[k]}, T {T}")
        r = np.asarray(impl.responsibilities(X, C, T, "entmax15"))
        assert np.all(r[:, k] == 0)
        assert np.all(np.asarray(impl.free_energy_gradient(X, C, T, "entmax15"))[k] == 0)
        assert np.all(np.asarray(impl.gradient(X, C, T, "entmax15"))[k] == 0)
        assert np.array_equal(np.asarray(impl.soft_step(X, C, T, "entmax15"))[k], C[k])
        # The others do not see it: the same responsibilities and objectives without it
        # (up to rounding: the clipped entries still enter the threshold's sums).
        others = np.delete(C, k, axis=0)
        bounds = _error_bounds(X, others, T, "entmax15")
        r_without = np.asarray(impl.responsibilities(X, others, T, "entmax15"))
        assert np.all(np.abs(np.delete(r, k, axis=1) - r_without) <= bounds["responsibilities"])
        L_without = impl.objective(X, others, T, "entmax15")
        assert abs(impl.objective(X, C, T, "entmax15") - L_without) <= bounds["objective"]

    return check


@pytest.mark.claim("dead-centres")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_dead_centre_has_no_mass_no_gradient_and_stays(implementation):
    dead_centre_property(implementation)()


@pytest.mark.claim("dead-centres")
def test_dead_centre_property_bites():
    assert_bites(dead_centre_property(variant("dead centres to the origin", soft_step=_soft_step_dead_to_origin)))


# === dead-centre-revival (refuted) ============================================================


def revival_counterexample(impl):
    def check():
        # X = {0, 6}, C = (1, -2.5), T = 1. Regrets of c_1: 6.25 - 1 = 5.25 and
        # 72.25 - 25 = 47.25, both >= 2T: c_1 is dead. Step 1: c_0 -> 3, c_1 stays.
        # Now d(0, c_1) = 6.25 < d(0, c_0) = 9: c_1 is the nearest centre of x = 0, with
        # gap 2.75 >= 2T, so it takes x = 0 alone. Step 2: (6, 0), the optimum (J = 0).
        X, C, T = np.array([[0.0], [6.0]]), np.array([[1.0], [-2.5]]), 1.0
        trajectory = np.asarray(impl.anneal(X, C, [T, T, T], "entmax15"))
        assert np.all(np.asarray(impl.responsibilities(X, C, T, "entmax15"))[:, 1] == 0)
        assert np.array_equal(trajectory[1], [[3.0], [-2.5]])
        assert np.array_equal(np.asarray(impl.responsibilities(X, trajectory[1], T, "entmax15")), [[0.0, 1.0], [1.0, 0.0]])
        assert np.array_equal(trajectory[2], [[6.0], [0.0]])
        assert np.array_equal(trajectory[3], [[6.0], [0.0]])

    return check


@pytest.mark.claim("dead-centre-revival")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_dead_centre_revives_when_the_others_move(implementation):
    revival_counterexample(implementation)()


@pytest.mark.claim("dead-centre-revival")
def test_revival_counterexample_bites():
    assert_bites(revival_counterexample(variant("dead units pruned for good", anneal=_anneal_pruning_dead_units)))


# === dead-centre-permanence =================================================================


def permanence_property(impl):
    @given(problem=problems_with_a_far_centre())
    def check(problem):
        X, C, T, k = problem
        trajectory = np.asarray(impl.anneal(X, C, [T] * 4, "entmax15"))
        for step, centres in enumerate(trajectory):
            note(f"step {step}: centres {centres.ravel()}")
            assert np.array_equal(centres[k], C[k])
            assert np.all(np.asarray(impl.responsibilities(X, centres, T, "entmax15"))[:, k] == 0)

    return check


@pytest.mark.claim("dead-centre-permanence")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_far_dead_centre_stays_dead(implementation):
    permanence_property(implementation)()


@pytest.mark.claim("dead-centre-permanence")
def test_permanence_property_bites():
    broken = variant(
        "dead units reset to a data point",
        soft_step=_soft_step_reset_dead_units,
        anneal=_anneal_with(_soft_step_reset_dead_units),
    )
    assert_bites(permanence_property(broken))


# === empty-cluster-policy ===================================================================


def keep_policy_property(impl):
    with_a_dead_centre = problems_with_a_dead_centre().map(lambda p: (p[0], p[1], p[2]))

    @given(problem=st.one_of(problems(), with_a_dead_centre))
    def check(problem):
        X, C, _ = problem
        counts = np.bincount(np.asarray(impl.assign(X, C)), minlength=len(C))
        step = np.asarray(impl.lloyd_step(X, C))
        note(f"cell sizes {counts}")
        assert np.array_equal(step[counts == 0], C[counts == 0])

    return check


@pytest.mark.claim("empty-cluster-policy")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_lloyd_keeps_an_empty_centre(implementation):
    keep_policy_property(implementation)()


@pytest.mark.claim("empty-cluster-policy")
def test_keep_policy_bites():
    assert_bites(keep_policy_property(variant("relocate to the farthest point", lloyd_step=_lloyd_relocating_empty_clusters)))


# === empty-clusters ===========================================================================


def _limit_of_the_soft_step(X, C):
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


def soft_step_limit_property(impl):
    @given(problem=integer_problems(), temperature=st.sampled_from([1e-3, 1e-30, 1e-300]))
    def check(problem, temperature):
        X, C = problem
        # At these T every weight e^{-(rho - rho*)/T}, rho - rho* >= 1 an integer, is below
        # e^{-1000} and underflows: the step is the limit up to the rounding of a weighted
        # mean of at most N points with weights 1/mu_i (a few roundings each), far within
        # tolerance(float64) = 256 u of the largest coordinate.
        expected = _limit_of_the_soft_step(X, C)
        soft = np.asarray(impl.soft_step(X, C, temperature, "softmax"))
        note(f"T {temperature}: step {soft.ravel()}, limit {expected.ravel()}")
        assert np.all(np.abs(soft - expected) <= tolerance(np.float64) * max(1.0, float(np.abs(X).max())))
        # entmax15: a centre whose least regret exceeds 2T (here: every centre nobody is
        # tied-nearest to) has no mass and keeps its place exactly.
        d = np.asarray(impl.squared_distances(X, C))
        empty = np.min(d - d.min(axis=1, keepdims=True), axis=0) > 2 * temperature
        entmax = np.asarray(impl.soft_step(X, C, temperature, "entmax15"))
        assert np.array_equal(entmax[empty], C[empty])

    return check


def entmax_zero_mass_threshold_property(impl):
    eta = 1e-4

    @given(problem=problems_with_a_dead_centre())
    def check(problem):
        X, C, _, k = problem  # centre k is nobody's nearest: T_dead > 0
        d = reference.squared_distances(X, C)
        # n_k = 0 iff T <= T_dead = (1/2) min_i sqrt(S_ik) (column view of entmax-support).
        T = float(np.sqrt(_support_sums(d)[:, k].min()) / 2)
        # at T (1 -+ eta) the ratio S / 4T^2 is 1 +- 2 eta: outside the support band
        assume(2 * eta > 4 * np.sqrt(len(C)) * _band(d, T * (1 - eta)))
        note(f"centre {k}, T_dead {T}")
        colder = np.asarray(impl.responsibilities(X, C, T * (1 - eta), "entmax15"))
        warmer = np.asarray(impl.responsibilities(X, C, T * (1 + eta), "entmax15"))
        assert colder[:, k].sum() == 0
        assert np.array_equal(np.asarray(impl.soft_step(X, C, T * (1 - eta), "entmax15"))[k], C[k])
        assert warmer[:, k].sum() > 0

    return check


@pytest.mark.claim("empty-clusters")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_soft_step_tends_to_the_least_regret_points(implementation):
    soft_step_limit_property(implementation)()


@pytest.mark.claim("empty-clusters")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_entmax_centre_has_no_mass_exactly_below_its_dead_temperature(implementation):
    entmax_zero_mass_threshold_property(implementation)()


@pytest.mark.claim("empty-clusters")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
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
    assert np.allclose(_limit_of_the_soft_step(X, C)[2], expected, rtol=0, atol=4 * np.finfo(float).eps)
    for temperature in (1e-3, 1e-300):
        step = np.asarray(implementation.soft_step(X, C, temperature, "softmax"))
        # a weighted mean of two points: a few roundings of numbers <= 3 (tolerance table)
        assert np.all(np.abs(step[2] - expected) <= tolerance(np.float64) * 3)


@pytest.mark.claim("empty-clusters")
def test_empty_clusters_bite():
    assert_bites(soft_step_limit_property(variant("naive soft step", soft_step=_naive_softmax_soft_step)))
    broken = variant(
        "entmax15 with the alpha=2 scaling",
        responsibilities=_responsibilities_with_map(lambda Z: reference.entmax15(2 * Z)),
    )
    assert_bites(entmax_zero_mass_threshold_property(broken))
