"""Lloyd fixed points, and how far a configuration of centres is from them.

The paper's "monotone collapse" (claim ``monotone-collapse``, ``theory/trajectories.md``)
speaks of the distance from annealed soft centres to the nearest K-Means fixed point,
``lloyd_step(C) == C`` (ties to the lowest index, an empty cell keeps its centre). The
distance between two configurations is the largest Euclidean distance between matched
centres, minimised over the order of the centres. For K = 2 in one dimension every fixed
point is known exactly (:func:`distance_to_lloyd_fixed_points_1d`); in general the proper
fixed points (every cell non-empty) are sampled by running Lloyd's algorithm from many
starts (:func:`proper_fixed_points`), and the distance is to that sample.

Examples
--------
>>> import numpy as np
>>> x = np.array([[0.0], [6.0], [9.0], [11.0], [11.0]])   # fixed points (0, 37/4), (3, 31/3), ...
>>> float(distance_to_lloyd_fixed_points_1d(x, [[0.0], [9.25]]))
0.0
>>> float(distance_to_lloyd_fixed_points_1d(x, [[1.0], [10.0]]))   # from (0, 37/4): max(1, 3/4)
1.0
>>> round(float(distance_to_lloyd_fixed_points_1d(x, [[7.0], [8.0]])), 12)   # from (37/5, 37/5): empty cell
0.6
>>> float(distance_to_lloyd_fixed_points_1d(x, [[7.4], [16.0]]))   # c_1 >= 2 max x - 37/5: empty
0.0
>>> round(float(distance_to_lloyd_fixed_points_1d(x, [[3.0], [7.4]])), 6)   # 3 is not empty: from (3, 31/3)
2.933333
>>> found = proper_fixed_points(x, [x[[0, 4]], x[[1, 2]]])
>>> [F.ravel().tolist() for F in found]
[[0.0, 9.25], [3.0, 10.333333333333334]]
>>> float(distance_to_fixed_points(np.array([[10.0], [0.5]]), found))   # any order of the centres
0.75
"""

import itertools

import numpy as np

from . import reference

__all__ = ["distance_to_lloyd_fixed_points_1d", "proper_fixed_points", "distance_to_fixed_points"]


def distance_to_lloyd_fixed_points_1d(x, C):
    """``max_k |c_k - f_k|`` to the nearest Lloyd fixed point f (K = 2, 1-D, any order of C), exactly.

    Fixed points: the proper ones, splits x[:j] | x[j:] whose means reproduce the split (ties
    to c_0), and those with an empty cell: one centre at the mean of all points, the other
    on it or where no point reaches it (for c_0 empty: strictly farther, ties go to c_0).

    Parameters
    ----------
    x : array_like, shape (N,) or (N, 1)
    C : array_like, shape (2,) or (2, 1)

    Returns
    -------
    distance : float, ``>= 0``.
    """
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    a, b = np.sort(np.asarray(C, dtype=np.float64).ravel())
    best = np.inf
    for j in range(1, len(x)):
        f0, f1 = x[:j].mean(), x[j:].mean()
        midpoint = (f0 + f1) / 2
        if np.all(x[:j] <= midpoint) and np.all(x[j:] > midpoint):
            best = min(best, max(abs(a - f0), abs(b - f1)))
    mean = x.mean()
    # With one centre at the mean, the other is empty iff it lies on the mean, at or below
    # low, or at or above high (no point is nearer to it than to the mean).
    low, high = 2 * x.min() - mean, 2 * x.max() - mean
    for centre, other in ((a, b), (b, a)):
        to_empty = min(abs(other - mean), max(other - low, 0.0), max(high - other, 0.0))
        best = min(best, max(abs(centre - mean), to_empty))
    return best


def proper_fixed_points(X, starts, max_steps=300):
    """The Lloyd fixed points with every cell non-empty that Lloyd's algorithm reaches from ``starts``.

    From each start (an array (K, D)), Lloyd steps until ``lloyd_step(C) == C`` exactly (at
    most ``max_steps``); a fixed point whose K cells are all non-empty is kept once, its
    centres sorted lexicographically. A sample of the set of fixed points: as many starts
    as the caller can afford.

    Returns
    -------
    fixed_points : list of ndarray, shape (K, D), in the order first reached.
    """
    X = np.asarray(X, dtype=np.float64)
    found = []
    for C in starts:
        C = np.asarray(C, dtype=np.float64)
        for _ in range(max_steps):
            following = reference.lloyd_step(X, C)
            if np.array_equal(following, C):
                break
            C = following
        if np.array_equal(reference.lloyd_step(X, C), C) and len(np.unique(reference.assign(X, C))) == len(C):
            C = C[np.lexsort(C.T[::-1])]
            if not any(np.array_equal(C, F) for F in found):
                found.append(C)
    return found


def distance_to_fixed_points(C, fixed_points):
    """``min_F min_order max_k ||c_order(k) - f_k||``: the distance from C to the nearest of ``fixed_points``.

    Every order of the K centres is tried (K! of them: for small K).
    """
    C = np.asarray(C, dtype=np.float64)
    return min(
        float(np.linalg.norm(C[list(order)] - F, axis=1).max())
        for F in fixed_points
        for order in itertools.permutations(range(len(C)))
    )
