"""Targeted draws: the configurations where implementations break, drawn on purpose.

A uniform search over small problems reaches some configurations with probability well
below 1%: as many points as centres with soft rows, every point in one cell, all clusters
but one empty, a cluster that empties in the middle of a run. Each strategy here builds one
such configuration directly (from drawn sizes and a drawn seed), so every check that needs
it sees it within a few examples.

Examples
--------
>>> from hypothesis import find
>>> X, C, T = find(one_cell_problems(), lambda p: True)
>>> from kmeans_rbf import reference
>>> len(set(reference.assign(X, C).tolist()))       # every point nearest to one centre
1
"""

import numpy as np
from hypothesis import strategies as st

from .. import reference
from ..strategies import centres, datasets, problems, temperatures

__all__ = [
    "square_problems",
    "one_cell_problems",
    "problems_with_empty_cells",
    "starts_that_empty_a_cell",
    "away_from_the_origin",
]


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


@st.composite
def square_problems(draw):
    """N == K, at a temperature of the order of the distances: rows far from one-hot.

    A map normalised over the wrong axis (the points instead of the centres) is invisible
    unless rows are soft, and a transposition bug is shape-correct only when N == K.
    """
    n = draw(st.integers(2, 6))
    X = draw(datasets(n_points=n, n_features=st.integers(1, 3), geometry=st.sampled_from(["uniform", "overlapping"])))
    C = draw(centres(X, n_clusters=n, from_data=False))
    spread = float(np.max(reference.squared_distances(X, C)))
    T = max(spread, 1e-3) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    return X, C, T


@st.composite
def one_cell_problems(draw):
    """Every point in the cell of centre 0; the other K - 1 >= 1 centres far away (empty)."""
    X = draw(datasets(n_points=st.integers(1, 12), geometry=st.sampled_from(["uniform", "separated", "overlapping"])))
    k = draw(st.integers(2, 5))
    rng = _rng(draw)
    low, high = X.min(axis=0), X.max(axis=0)
    width = float(np.max(high - low)) + 1.0
    inside = low + rng.uniform(size=X.shape[1]) * (high - low)
    directions = rng.normal(size=(k - 1, X.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    far = inside + directions * width * rng.uniform(4.0, 8.0, size=(k - 1, 1))
    C = np.vstack([inside, far])
    return X, C, draw(temperatures())


@st.composite
def problems_with_empty_cells(draw):
    """Some centres own no point (one_cell_problems, or centres far outside the data)."""
    if draw(st.booleans()):
        return draw(one_cell_problems())
    X, C, T = draw(problems(n_clusters=st.integers(2, 5)))
    rng = _rng(draw)
    width = float(np.max(X.max(axis=0) - X.min(axis=0))) + 1.0
    moved = rng.uniform(size=len(C)) < 0.5
    moved[rng.integers(len(C))] = False  # at least one centre stays
    C = C.copy()
    C[moved] += width * rng.uniform(3.0, 6.0) * np.sign(rng.normal(size=(int(moved.sum()), C.shape[1])))
    return X, C, T


@st.composite
def starts_that_empty_a_cell(draw):
    """Data and a start from which Lloyd's second or third step finds an empty cell.

    Searched for, from a drawn seed: random 1-D or 2-D data and starts on data points,
    until the cells are all non-empty after the first step and one is empty later.
    """
    rng = _rng(draw)
    for _ in range(400):
        n, k, dim = int(rng.integers(6, 14)), int(rng.integers(3, 6)), int(rng.integers(1, 3))
        X = np.round(rng.normal(size=(n, dim)) * 4.0, 1)
        C = X[rng.choice(n, size=k, replace=False)] + rng.normal(size=(k, dim)) * 0.3
        if _first_empty_step(X, C, 3) in (1, 2):
            return X, C, 1.0
    return X, C, 1.0  # rare: the search failed; an ordinary problem then


def _first_empty_step(X, C, steps):
    """Index of the first Lloyd step whose cells include an empty one (None: none)."""
    for step in range(steps):
        labels = reference.assign(X, C)
        if len(np.unique(labels)) < len(C):
            return step
        C = reference.lloyd_step(X, C)
    return None


def away_from_the_origin(strategy, offset=20.0):
    """The problems of ``strategy`` moved by ``offset`` in every coordinate (X and C alike),
    so that a centre sent to the origin is visibly wrong."""
    return strategy.map(lambda problem: (problem[0] + offset, problem[1] + offset, problem[2]))
