"""Thresholds and constants of the claims, where the mathematics puts them.

Claim tests compare what an implementation computes with these; the claims are those of
``theory/claims.toml`` (named in each docstring), their proofs in ``proofs/``. Nothing here
allows for rounding: that is ``kmeans_rbf.tolerances``.

Examples
--------
>>> d = np.array([[0.0, 1.0, 4.0]])      # squared distances of one point to three centres
>>> np.sqrt(entmax_support_sums(d)) / 2  # the temperatures above which each centre has mass
array([[0. , 0.5, 2.5]])
"""

import numpy as np

__all__ = ["entmax_support_sums"]


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
