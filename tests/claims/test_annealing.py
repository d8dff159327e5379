"""Claims monotone-collapse (refuted) and anneal-coincident-centres: under deterministic
annealing the distance to the nearest K-Means fixed point does not decrease monotonically
(the paper's "monotone collapse"), and centres that coincide never split, so annealing from
the data mean ends at a degenerate fixed point. Statements, proofs and status:
theory/trajectories.md (ids in its headings; MATH.md claim 13).

The counterexample is a five-point 1-D dataset whose Lloyd fixed points are known exactly
(``kmeans_rbf.fixed_points.distance_to_lloyd_fixed_points_1d``); its distances grow by far more than any rounding.
Coincident centres are compared within the float64 bound of the soft step of
kmeans_rbf.tolerances.error_bounds. The slow tests measure the same on synthetic 2-D
geometries and let Hypothesis search for non-monotone annealing.
"""

import itertools

import numpy as np
import pytest
from hypothesis import assume, example, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.fixed_points import distance_to_fixed_points, distance_to_lloyd_fixed_points_1d, proper_fixed_points
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import cluster_counts, datasets, problems
from kmeans_rbf.tolerances import error_bounds
from support import assert_bites

COLLAPSE_X = np.array([[0.0], [6.0], [9.0], [11.0], [11.0]])
COLLAPSE_C0 = np.array([[0.0], [11.0]])
COLLAPSE_SCHEDULE = [30.0, 20.0, 15.0, 10.0, 7.0, 5.0, 3.0, 2.0, 1.0]
COLLAPSE_STEPS = 50


@pytest.mark.claim("monotone-collapse")
def test_distance_to_lloyd_fixed_points_is_exact_on_known_configurations():
    # Catches: the distance to the half-lines where an empty centre may sit taken with the
    # wrong sign (it was: every point between them was "at distance 0" from one, which
    # mislabelled the softmax figure at T = 30). Values by hand for X = {0, 6, 9, 11, 11}:
    # fixed points (0, 37/4), (3, 31/3), and (37/5, o) with o = 37/5, o <= -37/5 or o >= 73/5.
    cases = [
        ((0.0, 37 / 4), 0.0),
        ((37 / 5, 20.0), 0.0),  # an empty centre beyond 73/5
        ((37 / 5, 10.0), 2.6),  # nearest: (37/5, 37/5); 4.6 from (37/5, 73/5)
        ((5.768, 8.961), 1.632),  # the softmax state at T = 30: nearest is (37/5, 37/5)
        ((1.0, 9.0), 1.0),  # nearest: (0, 37/4)
    ]
    for C, expected in cases:
        found = distance_to_lloyd_fixed_points_1d(COLLAPSE_X, np.array(C).reshape(2, 1))
        assert abs(found - expected) < 1e-12, (C, found, expected)


# --- monotone-collapse (refuted) ---------------------------------------------------------


@pytest.mark.claim("monotone-collapse")
@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_annealing_is_not_monotone_on_a_five_point_dataset(implementation, kind):
    trajectory = np.asarray(implementation.anneal(COLLAPSE_X, COLLAPSE_C0, COLLAPSE_SCHEDULE, kind, COLLAPSE_STEPS))
    assert trajectory.shape == (1 + len(COLLAPSE_SCHEDULE) * COLLAPSE_STEPS, 2, 1)
    ends = trajectory[COLLAPSE_STEPS::COLLAPSE_STEPS]
    distances = np.array([distance_to_lloyd_fixed_points_1d(COLLAPSE_X, C) for C in ends])
    print(f"{kind}: distances {distances.round(4)}")
    # Expected (softmax): 1.632, 0.558, 0.672, 1.268, 0.219, 0.041, 0.001, 0, 0 -- the
    # distance grows from T = 20 to T = 10 by 0.71, far above any rounding (at T = 30 the
    # nearest fixed point is the degenerate (37/5, 37/5); the nearest proper one is 2.768
    # away); entmax: 0.825, 1.241, 1.164, 0, ...: it grows from T = 30 to T = 20. Both end
    # on (0, 37/4).
    # 50 steps per temperature reach the soft fixed point to 1e-4 or better (200 steps
    # change no digit shown but entmax's 1.164 -> 1.158 at T = 15).
    increases = np.diff(distances)
    assert increases.max() > 0.3, f"monotone: {distances}"
    assert distances[-1] <= 1e-6


@pytest.mark.claim("monotone-collapse")
@pytest.mark.parametrize("broken", [variants.ANNEAL_IGNORES_THE_SCHEDULE, variants.ANNEAL_RETURNS_THE_LAST_STATE], ids=lambda v: v.name)
def test_collapse_counterexample_bites(broken):
    assert_bites(test_annealing_is_not_monotone_on_a_five_point_dataset, broken, kind="softmax")


def _geometry(name, rng):
    """Synthetic 2-D geometries: blobs, anisotropic blobs, uneven sizes and spreads, two rings."""
    triangle = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    if name == "blobs":
        return np.concatenate([mean + rng.normal(size=(20, 2)) for mean in triangle])
    if name == "anisotropic":
        X = np.concatenate([mean + rng.normal(size=(20, 2)) for mean in triangle])
        return X @ np.array([[0.6, -0.64], [-0.4, 0.85]])
    if name == "uneven":
        return np.concatenate(
            [1.5 * rng.normal(size=(40, 2)), [6.0, 0.0] + 0.5 * rng.normal(size=(8, 2)), [0.0, 6.0] + 0.3 * rng.normal(size=(3, 2))]
        )
    angle = rng.uniform(0, 2 * np.pi, 60)
    radius = np.where(np.arange(60) < 20, 1.0, 4.0) + 0.1 * rng.normal(size=60)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)]


@pytest.mark.slow
@pytest.mark.claim("monotone-collapse")
def test_annealing_distance_table_on_synthetic_geometries():
    rows = []
    for name, kind, steps in itertools.product(["blobs", "anisotropic", "uneven", "rings"], SOFT_KINDS, [1, 10, 50]):
        rng = np.random.default_rng(2)
        X = _geometry(name, rng)
        critical = 2 * np.linalg.eigvalsh(np.cov(X.T, bias=True)).max()  # T_c = 2 lambda_max
        schedule = 2 * critical * 0.8 ** np.arange(40)
        C0 = X[rng.choice(len(X), 3, replace=False)]
        ends = reference.anneal(X, C0, schedule, kind, steps)[steps::steps]
        starts = [X[rng.choice(len(X), 3, replace=False)] for _ in range(200)] + [ends[-1]]
        fixed = proper_fixed_points(X, starts)
        distances = np.array([distance_to_fixed_points(C, fixed) for C in ends])
        increases = np.diff(distances)
        merged = len(np.unique(ends[-1], axis=0)) < 3
        rows.append((name, kind, steps, int(np.sum(increases > 1e-9)), increases.max(), distances[-1], merged))
    print("\ngeometry     kind      steps/T  #increases  largest increase  final distance  merged")
    for row in rows:
        print("%-12s %-9s %7d  %10d  %16.3g  %14.3g  %s" % row)
    # Non-monotone in most runs; the largest increases are far above rounding.
    assert sum(row[3] > 0 for row in rows) >= len(rows) // 2
    assert max(row[4] for row in rows) > 0.1


# The claim as the paper states it, as a property: the search below must refute it.
@given(
    data=datasets(n_points=st.integers(3, 8), n_features=1, geometry=st.sampled_from(["uniform", "separated", "overlapping"])),
    ratio=st.sampled_from([0.5, 0.7]),
)
def annealing_is_monotone(implementation, data, ratio):
    x = np.sort(data.ravel())
    assume(x[-1] - x[0] > 1e-3)
    C0 = np.array([[x[0]], [x[-1]]])
    schedule = list(0.9 * 2 * x.var() * ratio ** np.arange(16))
    ends = np.asarray(implementation.anneal(data, C0, schedule, "softmax", 100))[100::100]
    distances = [distance_to_lloyd_fixed_points_1d(x, C) for C in ends]
    assert np.all(np.diff(distances) <= 1e-9 * (x[-1] - x[0])), f"not monotone: {np.round(distances, 4)}"


@pytest.mark.slow
@pytest.mark.claim("monotone-collapse")
def test_hypothesis_finds_non_monotone_annealing(implementation):
    # The search for counterexamples: the bite search, with a correct implementation as the
    # "broken" one, must make the claimed property fail.
    assert_bites(annealing_is_monotone, implementation)


# --- anneal-coincident-centres -----------------------------------------------------------


@pytest.mark.claim("anneal-coincident-centres")
@given(problem=problems(n_clusters=cluster_counts()), kind=st.sampled_from(SOFT_KINDS))
@example(problem=(np.array([[0.0], [1.0], [3.0]]), np.array([[0.0]]), 1.0), kind="softmax")
def test_coincident_centres_never_split(implementation, problem, kind):
    X, C, temperature = problem
    C = np.concatenate([C[:1], C])  # centres 0 and 1 coincide
    following = np.asarray(implementation.soft_step(X, C, temperature, kind))
    # Equal in exact arithmetic; each is computed to within the soft step's rounding
    # (torch's matrix product rounds two equal rows differently: seen at 1e-16).
    bound = error_bounds(X, C, temperature, kind, np.float64)["soft_step"]
    note(f"{following[0]} vs {following[1]}")
    assert np.all(np.abs(following[0] - following[1]) <= bound[0] + bound[1])


@pytest.mark.claim("anneal-coincident-centres")
@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_annealing_from_the_mean_ends_at_a_degenerate_fixed_point(implementation, kind):
    # The textbook start of deterministic annealing: every centre at the data mean 37/5.
    C0 = np.full((2, 1), COLLAPSE_X.mean())
    trajectory = np.asarray(implementation.anneal(COLLAPSE_X, C0, COLLAPSE_SCHEDULE, kind, 5))
    final = trajectory[-1]
    assert np.array_equal(final[0], final[1])
    assert np.array_equal(np.asarray(implementation.lloyd_step(COLLAPSE_X, final)), final)
    # ... a Lloyd fixed point with an empty cell, 3 away from the nearest proper one (3, 31/3).
    assert distance_to_lloyd_fixed_points_1d(COLLAPSE_X, final) == 0.0
    proper = [(0.0, 37 / 4), (3.0, 31 / 3)]
    assert min(max(abs(final[0, 0] - f0), abs(final[1, 0] - f1)) for f0, f1 in proper) > 2.9


@pytest.mark.claim("anneal-coincident-centres")
def test_coincident_centres_property_bites():
    # A soft step that is Lloyd's gives the cell to the first of the two: they split.
    assert_bites(test_coincident_centres_never_split, variants.SOFT_STEP_IS_LLOYDS)
