"""The maps at arbitrary precision (mpmath), by algorithms independent of the float code.

The proofs and the claim tests compare float64 results with these at 50 to 60 digits. The
threshold of 1.5-entmax is found by Newton's method, not by the sort-based rule of
``reference.entmax15``, so that an error in that rule cannot hide in both.

Examples
--------
>>> import mpmath
>>> [mpmath.nstr(p, 12) for p in entmax15([0, -0.4, -5])]
['0.64', '0.36', '0']
"""

import mpmath

__all__ = ["softmax", "entmax15"]


def softmax(z):
    """``exp(z_k) / sum_l exp(z_l)`` at the current mpmath precision."""
    z = [mpmath.mpf(v) for v in z]
    top = max(z)
    e = [mpmath.exp(v - top) for v in z]
    total = sum(e)
    return [v / total for v in e]


def entmax15(z):
    """``p_k = [z_k/2 - tau]_+^2`` with ``sum p = 1``, tau by Newton's method.

    ``f(tau) = sum_k [z_k/2 - tau]_+^2 - 1`` is convex and decreasing up to max z/2, and
    ``f >= 0`` at ``tau = max z/2 - 1``: from there Newton's iterates increase
    monotonically to the root, quadratically once the support is settled.
    """
    u = [mpmath.mpf(v) / 2 for v in z]
    tau = max(u) - 1
    tolerance = mpmath.mpf(10) ** (-(mpmath.mp.dps - 2))
    for _ in range(10 * mpmath.mp.prec):
        excess = sum(max(v - tau, 0) ** 2 for v in u) - 1
        step = excess / (2 * sum(max(v - tau, 0) for v in u))
        tau += step
        if step < tolerance:
            break
    return [max(v - tau, 0) ** 2 for v in u]
