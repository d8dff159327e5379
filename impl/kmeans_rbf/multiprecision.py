"""The maps, objectives and soft step at arbitrary precision (mpmath), independent of the float code.

The proofs and the claim tests compare float64 results with these at 50 to 60 digits. The
threshold of 1.5-entmax is found by Newton's method, not by the sort-based rule of
``reference.entmax15``, so that an error in that rule cannot hide in both. ``objective``,
``free_energy`` and ``soft_step`` follow the definitions point by point (no matrix
products, no log-sum-exp tricks beyond the shift by the row minimum). Everything is
computed at the current mpmath precision (set it with ``mpmath.workdps``); inputs are taken
exactly (a float64 is converted without rounding).

Examples
--------
>>> import mpmath
>>> [mpmath.nstr(p, 12) for p in entmax15([0, -0.4, -5])]
['0.64', '0.36', '0']
>>> mpmath.nstr(objective([[0.0]], [[0.0], [2.0]], 10.0, "entmax15"), 12)   # r = (0.64, 0.36)
'1.44'
>>> mpmath.nstr(free_energy([[0.0]], [[0.0], [0.0]], 1.0, "softmax"), 12)   # -log 2
'-0.69314718056'
>>> soft_step([[0.0], [2.0]], [[0.0], [5.0]], 1.0, "entmax15")   # all on c_0; c_1 stays
[[mpf('1.0')], [mpf('5.0')]]
"""

import mpmath

__all__ = ["softmax", "entmax15", "objective", "free_energy", "soft_step"]


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


# --- objectives and the soft step, point by point ---------------------------------------

_MAPS = {"softmax": softmax, "entmax15": entmax15}


def _problem(X, C):
    """X and C as lists of rows of mpf, and the squared distances ``d_ik`` as a list of rows."""
    X = [[mpmath.mpf(v) for v in x] for x in X]
    C = [[mpmath.mpf(v) for v in c] for c in C]
    return X, C, [[sum((xj - cj) ** 2 for xj, cj in zip(x, c)) for c in C] for x in X]


def _point_responsibilities(d, temperature, kind):
    """The map of ``z_k = -(d_k - min d) / T`` (shifted logits: the same responsibilities)."""
    low = min(d)
    return _MAPS[kind]([-(dk - low) / temperature for dk in d])


def objective(X, C, temperature, kind):
    """``L_T(C) = (1/N) sum_i sum_k r_ik d_ik``, kind ``'softmax'`` or ``'entmax15'``."""
    _, _, rows = _problem(X, C)
    T = mpmath.mpf(temperature)
    total = 0
    for d in rows:
        total += sum(pk * dk for pk, dk in zip(_point_responsibilities(d, T, kind), d))
    return total / len(rows)


def free_energy(X, C, temperature, kind):
    """``F_T(C) = (1/N) sum_i min_p [p . d_i - T H(p)]``, kind ``'softmax'`` or ``'entmax15'``.

    softmax: ``min d_i - T log sum_k exp(-(d_ik - min d_i) / T)``; entmax15: the value at
    the minimiser, ``r_i . d_i - T (4/3)(1 - sum_k r_ik^(3/2))``.
    """
    _, _, rows = _problem(X, C)
    T = mpmath.mpf(temperature)
    total = 0
    for d in rows:
        if kind == "softmax":
            low = min(d)
            total += low - T * mpmath.log(sum(mpmath.exp(-(dk - low) / T) for dk in d))
        else:
            p = _point_responsibilities(d, T, kind)
            tsallis = mpmath.mpf(4) / 3 * (1 - sum(pk * mpmath.sqrt(pk) for pk in p))
            total += sum(pk * dk for pk, dk in zip(p, d)) - T * tsallis
    return total / len(rows)


def soft_step(X, C, temperature, kind):
    """``c'_k = sum_i r_ik x_i / n_k``, ``n_k = sum_i r_ik``; a centre with ``n_k = 0`` stays.

    Returns the new centres as a list of rows of mpf.
    """
    X, C, rows = _problem(X, C)
    T = mpmath.mpf(temperature)
    r = [_point_responsibilities(d, T, kind) for d in rows]
    new = []
    for k, c in enumerate(C):
        n = sum(ri[k] for ri in r)
        new.append([sum(ri[k] * x[j] for ri, x in zip(r, X)) / n for j in range(len(c))] if n > 0 else list(c))
    return new
