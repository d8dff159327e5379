"""Thresholds and constants of the claims: entropy maxima, sharp constants, exact temperatures.

Per point, with squared distances ``d_k`` and regrets ``a_k = d_k - min_l d_l``
(``theory/convergence.md``; derivations in ``proofs/proof_convergence.py``):

* ``J - T H_max <= F_T <= J <= L_T <= J + T H_max`` (claim ``sandwich``), where ``H_max``
  is the entropy of the uniform point: ``log K`` (softmax, Shannon) or
  ``(4/3)(1 - K^-1/2)`` (entmax-1.5, Tsallis), ``entropy_maximum``;
* ``sup_C (L_T - J) = c_K T`` (claim ``uniform-rate``), ``sharp_constant``: ``W((K-1)/e)``
  for softmax (W the Lambert function, below the published ``(K-1)/e``), a closed algebraic
  number for entmax-1.5 (``c_3 = sqrt(2/27)``); attained where the K - 1 non-nearest centres
  all have the regret ``t_K T``, ``extremal_regret``;
* centre k is in the entmax-1.5 support of point i iff ``sum_l [d_ik - d_il]_+^2 < 4 T^2``
  (claim ``entmax-support``), ``entmax_support_sums``;
* the entmax-1.5 row of a point with ``s`` tied nearest centres and smallest positive regret
  ``g`` is uniform on those ``s`` centres iff ``T <= g sqrt(s) / 2`` (claim ``rates``): its
  terms of ``L_T`` and ``J`` are then equal, ``entmax_exact_temperatures``.

Nothing here allows for rounding: that is ``kmeans_rbf.tolerances``.

Examples
--------
>>> bool(entropy_maximum("softmax", 4) == np.log(4))
True
>>> print(f"{sharp_constant('entmax15', 3) ** 2:.12f}")   # c_3^2 = 2/27
0.074074074074
>>> bool(sharp_constant("softmax", 3) < 2 / np.e)
True
>>> ties_and_gaps([[0.0], [1.0]], [[0.0], [2.0], [3.0]])  # x = 1 is tied between 0 and 2
(array([1, 2]), array([4., 3.]))
>>> entmax_exact_temperatures([[0.0], [1.0]], [[0.0], [2.0], [3.0]])   # 4/2, 3 sqrt(2)/2
array([2.        , 2.12132034])
"""

import numpy as np
from scipy.special import lambertw

from . import _validation as validation
from . import reference
from .kinds import SOFT_KINDS

__all__ = [
    "entropy_maximum",
    "sharp_constant",
    "extremal_regret",
    "ties_and_gaps",
    "entmax_exact_temperatures",
    "entmax_support_sums",
]


def entropy_maximum(kind, K):
    """``H_max``: the largest entropy on the simplex of K entries, attained at the uniform point.

    ``log K`` for ``kind='softmax'`` (Shannon entropy), ``(4/3)(1 - K^-1/2)`` for
    ``kind='entmax15'`` (Tsallis 1.5). The gap ``J - F_T`` lies in ``[0, T H_max]``.
    """
    validation.validate_kind(kind, SOFT_KINDS)
    K = validation.validate_count(K, "K", minimum=1)
    return float(np.log(K)) if kind == "softmax" else (4.0 / 3.0) * (1.0 - K**-0.5)


def _entmax_extremal(K):
    """``(c_K, t_K)`` for entmax-1.5, K >= 2 (proofs/proof_convergence.py::entmax_sharp_constant).

    With m = K - 1 and ``y = (9 + 12 m - 3 sqrt(9 + 8 m)) / (18 m (m + 1))``:
    ``c_K = 2 m y (sqrt(1 - m y) - sqrt(y))`` and ``t_K = 2 (sqrt(1 - m y) - sqrt(y))``.
    """
    m = K - 1
    y = (9 + 12 * m - 3 * np.sqrt(9 + 8 * m)) / (18 * m * (m + 1))
    b, q = np.sqrt(1 - m * y), np.sqrt(y)
    return float(2 * m * y * (b - q)), float(2 * (b - q))


def sharp_constant(kind, K):
    """``c_K = sup_C (L_T(C) - J(C)) / T``, the same for every T > 0 and every dataset.

    ``W((K - 1)/e)`` for softmax, the closed form of ``_entmax_extremal`` for entmax-1.5;
    0 for K = 1. Attained by a point whose K - 1 other centres all have the regret
    ``extremal_regret(kind, K) * T``.
    """
    validation.validate_kind(kind, SOFT_KINDS)
    K = validation.validate_count(K, "K", minimum=1)
    if K == 1:
        return 0.0
    if kind == "softmax":
        return float(lambertw((K - 1) / np.e).real)
    return _entmax_extremal(K)[0]


def extremal_regret(kind, K):
    """``t_K``: the regret, in units of T, of the K - 1 other centres where ``c_K`` is attained.

    ``1 + c_K`` for softmax (the stationarity condition of ``(K-1) t e^-t / (1 + (K-1) e^-t)``),
    the closed form of ``_entmax_extremal`` for entmax-1.5. Needs K >= 2.
    """
    validation.validate_kind(kind, SOFT_KINDS)
    K = validation.validate_count(K, "K", minimum=2)
    if kind == "softmax":
        return 1.0 + sharp_constant(kind, K)
    return _entmax_extremal(K)[1]


def ties_and_gaps(X, C):
    """Per point: the number ``s_i`` of nearest centres and its smallest positive regret ``g_i``.

    ``s_i = #{k : d_ik = min_l d_il}`` (exact ties) and ``g_i = min {a_ik : a_ik > 0}``
    (``inf`` when every centre is nearest). Unlike ``reference.margins``, which is 0 on a
    tie, ``g_i`` is the gap from the tied nearest centres to the next.

    Returns
    -------
    ties : ndarray, shape (N,), int, ``>= 1``.
    gaps : ndarray, shape (N,), float64, ``> 0``.
    """
    a = reference._regret(reference.squared_distances(X, C))
    return np.sum(a == 0, axis=1), np.where(a > 0, a, np.inf).min(axis=1)


def entmax_exact_temperatures(X, C):
    """Per point, ``T*_i = g_i sqrt(s_i) / 2``: below it its entmax-1.5 row is exactly uniform on its ties.

    For ``T <= T*_i`` point i's row of ``entmax15(-d/T)`` is ``1/s_i`` on its ``s_i``
    nearest centres and 0 elsewhere, so its term of ``L_T`` equals that of J, and its term of
    ``F_T`` is ``J_i - T (4/3)(1 - s_i^-1/2)``; above ``T*_i`` the next centre gets mass.
    ``min_i T*_i`` is the temperature below which ``L_T(C) = J(C)`` (claim ``rates``); with
    no ties it is half the smallest margin.

    Returns
    -------
    temperatures : ndarray, shape (N,), float64, ``> 0`` (``inf`` where every centre is nearest).
    """
    ties, gaps = ties_and_gaps(X, C)
    return gaps * np.sqrt(ties) / 2


def entmax_support_sums(d):
    """``S_ik = sum_l [d_ik - d_il]_+^2``: centre k is in the entmax-1.5 support of point i iff ``S_ik < 4 T^2``.

    Claim ``entmax-support`` (theory/entmax.md), for the responsibilities
    ``entmax15(-d_i / T)``. Hence the critical temperatures: entry (i, k) has mass iff
    ``T > sqrt(S_ik) / 2``; row i is one-hot iff ``T <= g_i / 2``, ``g_i`` its margin (the
    runner-up's ``S`` is ``g_i^2``); centre k has no mass at all iff
    ``T <= min_i sqrt(S_ik) / 2`` (claim ``empty-clusters``).

    Parameters
    ----------
    d : array_like, shape (N, K)
        Squared distances ``d_ik = ||x_i - c_k||^2``.

    Returns
    -------
    S : ndarray, shape (N, K), float64
        ``>= 0``, and 0 exactly on the nearest centres of each point.

    Examples
    --------
    >>> from kmeans_rbf import reference
    >>> d = np.array([[0.0, 1.0, 4.0]])
    >>> entmax_support_sums(d)
    array([[ 0.,  1., 25.]])
    >>> reference.entmax15(-d / 1.0) > 0   # T = 1: S < 4 for the first two only
    array([[ True,  True, False]])
    """
    d = np.asarray(d, dtype=np.float64)
    differences = np.maximum(d[:, :, None] - d[:, None, :], 0.0)
    return np.sum(differences**2, axis=2)
