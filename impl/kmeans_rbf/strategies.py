"""Hypothesis strategies for clustering problems: datasets, centres and temperatures.

Public, for this project's tests and for anyone who checks their own implementation.
Every strategy is a ``@composite`` with keyword-only parameters that take a value or a
strategy, small defaults (cheap to generate and to shrink), and float64 NumPy output.
Values are bounded by construction so that no distance overflows or underflows; conditioning is left to the test (``hypothesis.assume``), which knows what
it compares.

Geometries of ``datasets``:

* ``"uniform"``: points uniform in a box;
* ``"separated"``: tight clusters (spread 0.01) around a few random means;
* ``"overlapping"``: wide clusters (spread 2) around a few random means;
* ``"grid"``: small integers, so exact ties between centres are common (quantised data);
* ``"duplicates"``: few distinct points, each repeated;
* ``"degenerate"``: all points equal, or all on one line through the origin.

Problems at the low temperatures where the maps become exact (``problems_below_the_margin``,
``problems_with_a_dead_centre``) reject what a float64 implementation cannot resolve: a
margin or regret must be at least 1e3 times the tolerance of the distances.

Examples
--------
>>> from hypothesis import given
>>> from kmeans_rbf import reference
>>> @given(problems())
... def test_rows_sum_to_one(problem):
...     X, C, T = problem
...     r = reference.responsibilities(X, C, T, "softmax")
...     assert abs(r.sum(axis=1) - 1).max() < 1e-12
>>> test_rows_sum_to_one()
"""

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from . import reference
from .tolerances import tolerance

__all__ = [
    "GEOMETRIES",
    "cluster_counts",
    "datasets",
    "centres",
    "temperatures",
    "problems",
    "problems_with_full_cells",
    "problems_below_the_margin",
    "problems_with_a_dead_centre",
    "coincident_problems",
]

GEOMETRIES = ("uniform", "separated", "overlapping", "grid", "duplicates", "degenerate")


def _value(draw, value_or_strategy):
    if isinstance(value_or_strategy, st.SearchStrategy):
        return draw(value_or_strategy)
    return value_or_strategy


# Coordinates are 0 or at least this large in magnitude, so that no squared difference
# of two of them underflows (differences are then at least one ulp of 1e-8, ~1e-24).
_SMALLEST_COORDINATE = 1e-8


def _coordinates(draw, shape, low, high):
    size = int(np.prod(shape))
    values = draw(st.lists(st.floats(low, high, allow_nan=False), min_size=size, max_size=size))
    values = np.array(values, dtype=np.float64).reshape(shape)
    return np.where(np.abs(values) < _SMALLEST_COORDINATE, 0.0, values)


def cluster_counts(*, min_value=1, max_value=32, usually_at_most=5):
    """A number of centres K in ``[min_value, max_value]``: small or large, about half each.

    Small is at most ``usually_at_most`` (cheap, and what a failure shrinks to); large lies
    above it, up to ``max_value``: a property stated for every K is then tried well beyond 5
    (the entmax-1.5 defect of claim entmax-exact-below-margin appeared only from K = 13).

    >>> from hypothesis import find
    >>> find(cluster_counts(), lambda K: K > 12)
    13
    """
    small_top = max(min_value, min(usually_at_most, max_value))
    small = st.integers(min_value, small_top)
    return small if small_top >= max_value else st.one_of(small, st.integers(small_top + 1, max_value))


@st.composite
def datasets(
    draw,
    *,
    n_points=st.integers(1, 24),
    n_features=st.integers(1, 3),
    geometry=st.sampled_from(GEOMETRIES),
    scale=1.0,
):
    """Data ``X`` of shape (N, D) with coordinates within ``[-10, 10] * scale``."""
    n, dim = _value(draw, n_points), _value(draw, n_features)
    kind = _value(draw, geometry)
    if kind == "uniform":
        X = _coordinates(draw, (n, dim), -10.0, 10.0)
    elif kind in ("separated", "overlapping"):
        n_blobs = draw(st.integers(1, min(n, 4)))
        means = _coordinates(draw, (n_blobs, dim), -8.0, 8.0)
        spread = 0.01 if kind == "separated" else 2.0
        members = np.array(draw(st.lists(st.integers(0, n_blobs - 1), min_size=n, max_size=n)))
        X = means[members] + spread * _coordinates(draw, (n, dim), -1.0, 1.0)
    elif kind == "grid":
        X = np.array(
            draw(st.lists(st.integers(-3, 3), min_size=n * dim, max_size=n * dim)),
            dtype=np.float64,
        ).reshape(n, dim)
    elif kind == "duplicates":
        distinct = _coordinates(draw, (draw(st.integers(1, min(n, 3))), dim), -10.0, 10.0)
        X = distinct[np.array(draw(st.lists(st.integers(0, len(distinct) - 1), min_size=n, max_size=n)))]
    elif kind == "degenerate":
        direction = _coordinates(draw, (1, dim), -1.0, 1.0)
        if draw(st.booleans()):
            X = np.repeat(direction * 5.0, n, axis=0)
        else:
            X = _coordinates(draw, (n, 1), -10.0, 10.0) * direction
    else:
        raise ValueError(f"geometry must be one of {GEOMETRIES}; got {kind!r}")
    return X * scale


@st.composite
def centres(draw, X, *, n_clusters=st.integers(1, 5), from_data=st.booleans()):
    """Centres ``C`` (K, D) for data X: data points (ties likely) or points in its box."""
    k = _value(draw, n_clusters)
    if _value(draw, from_data):
        rows = draw(st.lists(st.integers(0, len(X) - 1), min_size=k, max_size=k))
        return X[np.array(rows)].copy()
    low, high = X.min(axis=0), X.max(axis=0)
    unit = _coordinates(draw, (k, X.shape[1]), 0.0, 1.0)
    return low + unit * (high - low) + 0.5 * (high == low)


@st.composite
def temperatures(draw, *, min_value=1e-3, max_value=1e3):
    """A temperature drawn log-uniformly from ``[min_value, max_value]``."""
    exponent = draw(st.floats(np.log10(min_value), np.log10(max_value)))
    return float(10.0**exponent)


@st.composite
def problems(draw, *, data=datasets(), n_clusters=st.integers(1, 5), temperature=temperatures()):
    """A triple ``(X, C, T)``: data, centres and a temperature."""
    X = draw(data) if isinstance(data, st.SearchStrategy) else np.asarray(data, dtype=np.float64)
    C = draw(centres(X, n_clusters=n_clusters))
    return X, C, _value(draw, temperature)


@st.composite
def problems_with_full_cells(
    draw, *, n_clusters=cluster_counts(min_value=2, max_value=16), temperature=temperatures()
):
    """A triple ``(X, C, T)`` in which no Voronoi cell of C is empty, for many centres too.

    C is K distinct points of X, each moved by less than a quarter of the smallest distance
    between two of them, so every centre stays strictly the nearest to its own point. The data
    have at least K points (up to max(24, 2K)) and a geometry with distinct points; draws
    with fewer than K distinct points are rejected.
    """
    K = _value(draw, n_clusters)
    X = draw(datasets(n_points=st.integers(K, max(24, 2 * K)), geometry=st.sampled_from(["uniform", "separated", "overlapping", "grid"])))
    distinct = np.unique(X, axis=0)
    assume(len(distinct) >= K)
    rows = draw(st.lists(st.integers(0, len(distinct) - 1), min_size=K, max_size=K, unique=True))
    C = distinct[np.array(rows)]
    if K >= 2:
        gaps = np.linalg.norm(C[:, None, :] - C[None, :, :], axis=2)
        smallest = float(np.min(gaps[~np.eye(K, dtype=bool)]))
        C = C + _coordinates(draw, C.shape, -1.0, 1.0) * (smallest / (4.5 * np.sqrt(C.shape[1])))
    return X, C, _value(draw, temperature)


def _resolvable(gap, d):
    # Every float64 implementation's distances lie within tolerance(float64) * max d of the
    # reference's (tolerances.error_bounds["squared_distances"]); a gap 1e3 times larger is
    # seen by all of them to within 0.1 %.
    return gap >= 1e3 * tolerance(np.float64) * float(d.max())


@st.composite
def problems_below_the_margin(
    draw,
    *,
    data=datasets(),
    n_clusters=st.integers(1, 5),
    temperature=temperatures(),
    fraction=st.floats(1e-3, 0.99),
):
    """``(X, C, T, m)``: a problem at ``T = fraction * m / 2``, below half its margin m.

    ``m = min_i (d_i(2) - d_i(1))`` is the smallest margin over the data
    (``reference.margins``); below ``m / 2`` every entmax-1.5 row is exactly one-hot (claim
    ``entmax-exact-below-margin``). A tied nearest centre (``m = 0``: no temperature is
    below it) or an unresolvable margin is rejected. With one centre ``m = inf``, every
    row is one-hot at every T, and the drawn ``temperature`` is kept.
    """
    X, C, T = draw(problems(data=data, n_clusters=n_clusters, temperature=temperature))
    d = reference._squared_distances(X, C)
    margin = float(np.min(reference._margins(d)))
    assume(margin > 0)
    if np.isinf(margin):
        return X, C, T, margin
    assume(_resolvable(margin, d))
    return X, C, _value(draw, fraction) * margin / 2, margin


@st.composite
def problems_with_a_dead_centre(draw, *, data=datasets(), n_clusters=st.integers(1, 4), fraction=st.floats(1e-3, 0.99)):
    """``(X, C, T, k)``: centre k is nobody's nearest, and T is below half its least regret.

    ``n_clusters`` centres are drawn by ``centres``; centre k is inserted among them at a
    point of the data's box stretched to ``[-1, 2]`` times its sides (plus one), so C has
    ``n_clusters + 1`` rows. Its least regret ``rho = min_i (d_ik - min_{l != k} d_il)``
    must be positive and resolvable, and ``T = fraction * rho / 2``: at such T centre k
    has no entmax-1.5 mass (claim ``dead-centres``).
    """
    X = draw(data) if isinstance(data, st.SearchStrategy) else np.asarray(data, dtype=np.float64)
    C = draw(centres(X, n_clusters=n_clusters))
    low, high = X.min(axis=0), X.max(axis=0)
    unit = _coordinates(draw, (X.shape[1],), -1.0, 2.0)
    k = draw(st.integers(0, len(C)))
    C = np.insert(C, k, low + unit * (high - low + 1.0), axis=0)
    d = reference._squared_distances(X, C)
    least_regret = float(np.min(d[:, k] - np.delete(d, k, axis=1).min(axis=1)))
    assume(least_regret > 0 and _resolvable(least_regret, d))
    return X, C, _value(draw, fraction) * least_regret / 2, k


@st.composite
def coincident_problems(draw, *, data=datasets(), n_clusters=st.integers(1, 5), temperature=temperatures()):
    """A triple ``(X, C, T)`` whose K centres all coincide (a point of ``centres(X)``).

    Every point is then equidistant from all centres: the responsibilities are uniform at
    every T, ``L_T = J`` and ``F_T = J - T H_max`` (the lower bound of the sandwich is
    attained), and the soft step sends every centre to the data mean.
    """
    X = draw(data) if isinstance(data, st.SearchStrategy) else np.asarray(data, dtype=np.float64)
    c = draw(centres(X, n_clusters=1))
    return X, np.repeat(c, _value(draw, n_clusters), axis=0), _value(draw, temperature)
