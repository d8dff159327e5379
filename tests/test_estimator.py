"""Tests of ``kmeans_rbf.estimator.SoftKMeans``: scikit-learn's own estimator checks, hand
computed toy fits, agreement with the NumPy reference, and argument validation.

Each test names, in its docstring or a comment, the broken variant of the estimator it
would catch.
"""

import functools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils.estimator_checks import parametrize_with_checks

from kmeans_rbf import reference
from kmeans_rbf.estimator import AUTO_TEMPERATURE_FRACTION, SoftKMeans
from kmeans_rbf.kinds import KINDS, SOFT_KINDS


# --- scikit-learn's estimator checks ----------------------------------------------------


def _check_id(obj):
    """Short test ids: ``kind=softmax-check_clustering(readonly_memmap=True)``.

    The default ids print the estimator with changed parameters only, which hides
    ``kind`` for the default kind entmax15.
    """
    if isinstance(obj, SoftKMeans):
        return f"kind={obj.kind}"
    if isinstance(obj, functools.partial):
        keywords = ",".join(f"{k}={v}" for k, v in obj.keywords.items())
        return f"{obj.func.__name__}({keywords})" if keywords else obj.func.__name__
    return getattr(obj, "__name__", None)


# n_clusters=3 matches check_clustering (which sets it anyway) and keeps k <= n_samples in
# every check except check_fit2d_1sample, which expects the n_samples error; max_iter=30
# bounds the soft kinds' run time (the blobs of check_clustering converge well before).
@parametrize_with_checks(
    [SoftKMeans(n_clusters=3, kind=kind, max_iter=30, random_state=0) for kind in KINDS]
).with_args(ids=_check_id)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --- hand-computed toy fits -------------------------------------------------------------

# Two pairs on a line. From the initial centres (0, 12) the first step assigns {0, 2} to
# c_0 and {10, 12} to c_1 (midpoint 6), so the centres move to the pair means (1, 11); the
# second step changes nothing (shift 0 <= tol), so n_iter_ = 2. At (1, 11) every point is
# at squared distance 1 from its own centre, so J = L_T = 1. The margin between a point's
# two squared distances is 144 or 96 at the start (x = 2: d = (4, 100)) and 120 or 80 at
# the end (x = 2: d = (1, 81)), always >= 2T at T = 1, so entmax15 is exactly one-hot
# (claim entmax-exact-below-margin): the entmax fit is the Lloyd fit, bit for bit.
PAIRS = np.array([[0.0], [2.0], [10.0], [12.0]])
PAIRS_INIT = np.array([[0.0], [12.0]])


@pytest.mark.parametrize("kind", ["hard", "entmax15"])
def test_two_pairs_fit_the_pair_means_exactly(kind):
    """Catches: a wrong update (e.g. sum instead of mean), labels from the initial instead
    of the final centres, an off-by-one iteration count, a wrong objective."""
    est = SoftKMeans(n_clusters=2, kind=kind, temperature=1.0, init=PAIRS_INIT).fit(PAIRS)
    assert_array_equal(est.cluster_centers_, [[1.0], [11.0]])
    assert_array_equal(est.labels_, [0, 0, 1, 1])
    assert est.n_iter_ == 2
    assert est.objective_ == 1.0
    assert est.score(PAIRS) == -1.0
    assert_array_equal(est.transform(PAIRS), [[1, 0], [1, 0], [0, 1], [0, 1]])
    assert_array_equal(est.predict([[5.0], [6.0], [6.5]]), [0, 0, 1])  # 6: tie -> 0


def test_two_pairs_softmax_leaks_exp_minus_margin():
    """Softmax at T = 1 is not exactly hard: x = 2 gives c_1 the weight e^-80 (~1.8e-35),
    far below float64 resolution around 1 or 11, so the centres agree to rounding. Catches
    a softmax fit that ignores the temperature (at T = 1e3 the centres would collapse)."""
    est = SoftKMeans(n_clusters=2, kind="softmax", temperature=1.0, init=PAIRS_INIT)
    est.fit(PAIRS)
    assert_allclose(est.cluster_centers_, [[1.0], [11.0]], rtol=0, atol=1e-14)
    leak = est.transform([[2.0]])[0, 1]  # d = (1, 81): e^-80 / (1 + e^-80)
    assert_allclose(leak, math.exp(-80.0), rtol=1e-12)


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("seed", range(10))
def test_two_pairs_from_any_data_initialisation(init, seed):
    """From any two distinct data rows, Lloyd reaches the pair means on PAIRS (check: the
    midpoint of any two rows is 1, 5, 6, 7 or 11; no row sits on it, so no tie arises).
    Catches an initialisation that draws a row twice (both centres on one point: the
    first step leaves the second centre empty and the fit sticks at a worse solution)."""
    est = SoftKMeans(n_clusters=2, kind="hard", init=init, random_state=seed).fit(PAIRS)
    assert_array_equal(np.sort(est.cluster_centers_, axis=0), [[1.0], [11.0]])
    assert est.objective_ == 1.0


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_initialisations_pick_distinct_rows(init):
    """With N = K the only way to reach J = 0 is one centre on each row: a draw with
    replacement would leave some row without a centre for some seed."""
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    for seed in range(20):
        est = SoftKMeans(n_clusters=4, kind="hard", init=init, random_state=seed).fit(X)
        assert est.objective_ == 0.0
        assert_array_equal(np.unique(est.labels_), [0, 1, 2, 3])


def test_tie_is_split_by_entmax_and_kept_by_lloyd():
    """Claim ties-break-trajectories: X = {0, 1, 2}, C0 = (0, 2). x = 1 is equidistant from both centres.
    Lloyd gives it to c_0 (lowest index): c = (0.5, 2), then a fixed point. One entmax15
    step at small T splits it 1/2-1/2 (regret 0 for both) while x = 0 and x = 2 are one-hot
    (margin 4 >= 2T): c_0 = (0 + 1/2) / (1 + 1/2) = 1/3 and c_1 = 5/3 by symmetry.
    Catches a kind that is ignored (hard used for every kind, or the reverse).

    (1/3, 5/3) is a fixed point of the soft step, but an unstable one at small T: a shift
    e of both centres changes d_0 - d_1 at x = 1 by -8e/3 and the responsibility by
    ~e/T, so rounding errors grow ~0.4/T per step and a long run ends at Lloyd's (0.5, 2)
    (after ~7 steps at T = 1e-3). Hence max_iter=1 here.
    """
    X = np.array([[0.0], [1.0], [2.0]])
    init = np.array([[0.0], [2.0]])
    hard = SoftKMeans(n_clusters=2, kind="hard", init=init).fit(X)
    assert_array_equal(hard.cluster_centers_, [[0.5], [2.0]])
    assert hard.n_iter_ == 2
    soft = SoftKMeans(n_clusters=2, kind="entmax15", temperature=1e-3, init=init, max_iter=1)
    soft.fit(X)
    assert_allclose(soft.cluster_centers_, [[1 / 3], [5 / 3]], rtol=1e-15)
    # the rounding of 1/3 and 5/3 already tips the tie by ~1e-13 (the instability above)
    assert_allclose(soft.transform([[1.0]]), [[0.5, 0.5]], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["hard", "entmax15"])
def test_far_centre_stays_dead(kind):
    """A centre that no point reaches (empty Voronoi cell; zero entmax mass, since every
    regret >= 9604 >> 2T) keeps its place, the reference's documented policy. Catches a
    0/0 = NaN centre or a silent relocation."""
    X = np.array([[0.0], [1.0], [2.0]])
    est = SoftKMeans(n_clusters=2, kind=kind, temperature=1.0, init=[[1.0], [100.0]]).fit(X)
    assert_array_equal(est.cluster_centers_, [[1.0], [100.0]])
    assert_array_equal(est.labels_, [0, 0, 0])


# --- agreement with the reference -------------------------------------------------------


def _blobs(seed=0, n=60):
    """Three overlapping Gaussian blobs in 3-D (soft responsibilities are not one-hot)."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 1.0], [0.0, 2.5, -1.0]])
    return means[rng.integers(0, 3, size=n)] + rng.normal(size=(n, 3))


@pytest.mark.parametrize("max_iter", [1, 2, 5, 300])
def test_hard_fit_equals_reference_kmeans(max_iter):
    """fit(kind="hard") from an explicit init is ``reference.kmeans`` for n_iter_ steps.
    Catches an extra or missing step, a different tie rule, early stopping at tol=0."""
    X = _blobs()
    init = X[:4].copy()
    est = SoftKMeans(n_clusters=4, kind="hard", init=init, tol=0.0, max_iter=max_iter)
    est.fit(X)
    assert 1 <= est.n_iter_ <= max_iter
    if max_iter <= 5:  # Lloyd from these rows of these blobs needs more than 5 steps
        assert est.n_iter_ == max_iter
    else:  # tol = 0: it stopped early because the last step was an exact fixed point
        assert est.n_iter_ < max_iter
        assert_array_equal(reference.lloyd_step(X, est.cluster_centers_), est.cluster_centers_)
    assert_array_equal(est.cluster_centers_, reference.kmeans(X, init, est.n_iter_))
    assert_array_equal(init, X[:4])  # the init parameter is not written to


@pytest.mark.parametrize("kind", KINDS)
def test_fitted_quantities_equal_the_reference(kind):
    """labels_, objective_, predict, transform and score are the reference functions at
    the fitted centres and temperature, on training and on new data. Catches transform
    returning distances, score returning +L_T or a sum, a temperature not passed through."""
    X, X_new = _blobs(0), _blobs(1, n=25)
    est = SoftKMeans(n_clusters=3, kind=kind, temperature=0.7, random_state=0).fit(X)
    C, T = est.cluster_centers_, est.temperature_
    assert T == (None if kind == "hard" else 0.7)
    # the soft kinds are really soft here, so a hard transform would be caught
    if kind != "hard":
        assert np.any((est.transform(X) > 0) & (est.transform(X) < 1))
    assert_array_equal(est.labels_, reference.assign(X, C))
    assert est.objective_ == reference.objective(X, C, T, kind)
    assert_array_equal(est.predict(X_new), reference.assign(X_new, C))
    assert_array_equal(est.transform(X_new), reference.responsibilities(X_new, C, T, kind))
    assert est.score(X_new) == -reference.objective(X_new, C, T, kind)
    assert est.score(X) == -est.objective_


@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_soft_fit_equals_reference_soft_steps(kind):
    """fit(kind=soft) from an explicit init is n_iter_ reference soft steps at T. Catches
    a Lloyd step used for the soft kinds, or the "auto" temperature used instead of T."""
    X = _blobs()
    init = X[:3].copy()
    est = SoftKMeans(n_clusters=3, kind=kind, temperature=0.5, init=init, max_iter=7)
    est.fit(X)
    C = init
    for _ in range(est.n_iter_):
        C = reference.soft_step(X, C, temperature=0.5, kind=kind)
    assert_array_equal(est.cluster_centers_, C)


@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_stops_at_tol_relative_to_the_data_variance(kind):
    """The run stops at the first step whose largest squared centre shift is
    <= tol * mean feature variance, and not before. Catches an absolute tol (the data are
    scaled by 1e3, so an absolute tol would stop far too late) and a sum/max mix-up
    checked against the stated rule."""
    X = 1e3 * _blobs()
    tol = 1e-4
    init = X[:3].copy()
    est = SoftKMeans(n_clusters=3, kind=kind, temperature=0.5e6, init=init, tol=tol)
    est.fit(X)
    threshold = tol * np.mean(np.var(X, axis=0))
    C, shifts = init, []
    for _ in range(est.n_iter_):
        new = reference.soft_step(X, C, temperature=0.5e6, kind=kind)
        shifts.append(np.max(np.sum((new - C) ** 2, axis=1)))
        C = new
    assert est.n_iter_ < est.max_iter
    assert shifts[-1] <= threshold
    assert all(shift > threshold for shift in shifts[:-1])


@pytest.mark.parametrize("kind", KINDS)
def test_fit_transform_and_fit_predict_agree_with_fit(kind):
    """fit_transform(X) == fit(X).transform(X) and fit_predict(X) == labels_ == predict(X),
    with a random init and a fixed seed (the same seed must give the same fit)."""
    X = _blobs()
    make = functools.partial(SoftKMeans, n_clusters=3, kind=kind, random_state=3)
    est = make().fit(X)
    assert_array_equal(make().fit_transform(X), est.transform(X))
    assert_array_equal(make().fit_predict(X), est.labels_)
    assert_array_equal(est.predict(X), est.labels_)
    assert_allclose(est.transform(X).sum(axis=1), 1.0, rtol=1e-14)


def test_float32_input_is_computed_in_float64():
    """float32 data give the float64 fit of the same values (the reference's precision).
    Catches a fit that keeps float32 arithmetic."""
    X32 = _blobs().astype(np.float32)
    est32 = SoftKMeans(n_clusters=3, kind="softmax", temperature=0.5, random_state=0).fit(X32)
    est64 = SoftKMeans(n_clusters=3, kind="softmax", temperature=0.5, random_state=0)
    est64.fit(X32.astype(np.float64))
    assert est32.cluster_centers_.dtype == np.float64
    assert est32.transform(X32).dtype == np.float64
    assert_array_equal(est32.cluster_centers_, est64.cluster_centers_)


def test_feature_names_out():
    est = SoftKMeans(n_clusters=2, temperature=1.0, init=PAIRS_INIT).fit(PAIRS)
    assert list(est.get_feature_names_out()) == ["softkmeans0", "softkmeans1"]


# --- the default temperature ------------------------------------------------------------


@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_auto_temperature_is_a_fraction_of_the_feature_variance(kind):
    X = _blobs()
    est = SoftKMeans(n_clusters=3, kind=kind, random_state=0).fit(X)
    assert est.temperature == "auto"  # the parameter is not overwritten
    assert est.temperature_ == AUTO_TEMPERATURE_FRACTION * np.mean(np.var(X, axis=0))
    assert SoftKMeans(n_clusters=3, kind="hard").fit(X).temperature_ is None


@pytest.mark.parametrize("kind", SOFT_KINDS)
@pytest.mark.parametrize("scale", [2.0**-10, 2.0**12])
def test_auto_temperature_is_scale_equivariant(kind, scale):
    """Fitting scale * X from scale * C0 gives scale * centres and the same
    responsibilities. A power of two scales every float exactly, so the equality is exact.
    Catches any fixed default temperature (e.g. 1.0): with T fixed, rescaling the data
    changes how soft the assignment is, hence the centres."""
    X, init = _blobs(), _blobs()[:3]
    est = SoftKMeans(n_clusters=3, kind=kind, init=init, max_iter=20).fit(X)
    scaled = SoftKMeans(n_clusters=3, kind=kind, init=scale * init, max_iter=20)
    scaled.fit(scale * X)
    assert scaled.temperature_ == scale**2 * est.temperature_
    assert_array_equal(scaled.cluster_centers_, scale * est.cluster_centers_)
    assert_array_equal(scaled.transform(scale * X), est.transform(X))


def test_auto_temperature_on_constant_data():
    """Zero variance must not give T = 0 (an invalid temperature)."""
    X = np.ones((5, 2))
    est = SoftKMeans(n_clusters=2, kind="softmax", random_state=0).fit(X)
    assert est.temperature_ > 0
    assert_array_equal(est.cluster_centers_, np.ones((2, 2)))


# --- bad input ---------------------------------------------------------------------------


def test_unknown_kind():
    with pytest.raises(ValueError, match=r"kind must be one of 'hard', 'softmax', 'entmax15'"):
        SoftKMeans(n_clusters=2, kind="gaussian").fit(PAIRS)


@pytest.mark.parametrize("kind", KINDS)  # "hard" does not use T but validates it
@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_bad_temperature(kind, temperature):
    est = SoftKMeans(n_clusters=2, kind=kind, temperature=temperature)
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
        est.fit(PAIRS)


def test_bad_temperature_strings_and_none():
    with pytest.raises(ValueError, match=r"temperature must be 'auto' or a finite number"):
        SoftKMeans(n_clusters=2, temperature="hot").fit(PAIRS)
    with pytest.raises(ValueError, match=r"temperature is required for kind='softmax'"):
        SoftKMeans(n_clusters=2, kind="softmax", temperature=None).fit(PAIRS)
    # kind="hard" ignores the temperature, so None is fine there
    SoftKMeans(n_clusters=2, kind="hard", temperature=None).fit(PAIRS)


def test_more_clusters_than_samples():
    with pytest.raises(ValueError, match=r"n_samples=4 should be >= n_clusters=5"):
        SoftKMeans(n_clusters=5).fit(PAIRS)


@pytest.mark.parametrize(
    "init",
    [
        np.zeros((3, 1)),  # K rows expected, 3 given
        np.zeros((2, 2)),  # 1 feature expected, 2 given
        np.zeros(2),  # 1-D
    ],
    ids=["too-many-rows", "too-many-features", "one-dimensional"],
)
def test_init_array_of_wrong_shape(init):
    with pytest.raises(ValueError, match=r"init"):
        SoftKMeans(n_clusters=2, init=init).fit(PAIRS)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"init": "kmeans++"}, r"init must be 'k-means\+\+', 'random' or an array"),
        ({"init": [[0.0], [math.nan]]}, r"init"),
        ({"n_clusters": 0}, r"n_clusters == 0, must be >= 1"),
        ({"max_iter": 0}, r"max_iter == 0, must be >= 1"),
        ({"tol": -1.0}, r"tol == -1.0, must be >= 0"),
        ({"tol": math.nan}, r"tol must be a finite number >= 0"),
        ({"random_state": "seed"}, r"cannot be used to seed"),
    ],
    ids=["init-name", "init-nan", "n_clusters", "max_iter", "tol-negative", "tol-nan",
         "random_state"],
)
def test_other_bad_parameters(params, match):
    est = SoftKMeans(**{"n_clusters": 2, **params})  # no validation in __init__
    with pytest.raises(ValueError, match=match):
        est.fit(PAIRS)


@pytest.mark.parametrize("value", [2.0, True])
def test_non_integer_counts_are_type_errors(value):
    """sklearn's convention: a wrong type is a TypeError naming the parameter."""
    with pytest.raises(TypeError, match=r"n_clusters must be an instance of int"):
        SoftKMeans(n_clusters=value).fit(PAIRS)
