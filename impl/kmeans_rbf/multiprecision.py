"""The maps, objectives, gradients and soft step at arbitrary precision, independent of the float code.

The proofs and the claim tests compare float64 results with these at 50 to 60 digits. The
threshold of 1.5-entmax is found by Newton's method, not by the sort-based rule of
``reference.entmax15``, so that an error in that rule cannot hide in both. ``objective``,
``free_energy`` and ``soft_step`` follow the definitions point by point (no matrix
products, no log-sum-exp tricks beyond the shift by the row minimum); ``gradient`` and
``free_energy_gradient`` are central differences of those two, with no gradient formula.
Everything is computed at the current mpmath precision (set it with ``mpmath.workdps``);
inputs are taken exactly (a float64 is converted without rounding).

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
>>> with mpmath.workdps(30):   # one point, one centre: F_T = (c - x)^2, derivative 2 (c - x)
...     mpmath.nstr(free_energy_gradient([[0.0]], [[3.0]], 1.0, "softmax")[0][0], 12)
'6.0'
"""

import mpmath

__all__ = ["softmax", "entmax15", "objective", "free_energy", "gradient", "free_energy_gradient", "soft_step"]


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


# --- objectives, their gradients and the soft step, point by point ---------------------

_MAPS = {"softmax": softmax, "entmax15": entmax15}


def _squared_distance(x, c):
    return sum((xj - cj) ** 2 for xj, cj in zip(x, c))


def _problem(X, C):
    """X and C as lists of rows of mpf, and the squared distances ``d_ik`` as a list of rows."""
    X = [[mpmath.mpf(v) for v in x] for x in X]
    C = [[mpmath.mpf(v) for v in c] for c in C]
    return X, C, [[_squared_distance(x, c) for c in C] for x in X]


def _point_responsibilities(d, temperature, kind):
    """The map of ``z_k = -(d_k - min d) / T`` (shifted logits: the same responsibilities)."""
    low = min(d)
    return _MAPS[kind]([-(dk - low) / temperature for dk in d])


def _point_objective(d, temperature, kind):
    """One point's term of L_T: ``r . d``."""
    return sum(pk * dk for pk, dk in zip(_point_responsibilities(d, temperature, kind), d))


def _point_free_energy(d, temperature, kind):
    """One point's term of F_T, the minimum of ``p . d - T H(p)`` over the simplex.

    softmax: ``min d - T log sum_k exp(-(d_k - min d) / T)``; entmax15: the value at the
    minimiser r, ``r . d - T (4/3)(1 - sum_k r_k^(3/2))``.
    """
    if kind == "softmax":
        low = min(d)
        return low - temperature * mpmath.log(sum(mpmath.exp(-(dk - low) / temperature) for dk in d))
    p = _point_responsibilities(d, temperature, kind)
    tsallis = mpmath.mpf(4) / 3 * (1 - sum(pk * mpmath.sqrt(pk) for pk in p))
    return sum(pk * dk for pk, dk in zip(p, d)) - temperature * tsallis


def _mean(point_value, rows, temperature, kind):
    return sum(point_value(d, temperature, kind) for d in rows) / len(rows)


def objective(X, C, temperature, kind):
    """``L_T(C) = (1/N) sum_i sum_k r_ik d_ik``, kind ``"softmax"`` or ``"entmax15"``."""
    _, _, rows = _problem(X, C)
    return _mean(_point_objective, rows, mpmath.mpf(temperature), kind)


def free_energy(X, C, temperature, kind):
    """``F_T(C) = (1/N) sum_i min_p [p . d_i - T H(p)]``, kind ``"softmax"`` or ``"entmax15"``."""
    _, _, rows = _problem(X, C)
    return _mean(_point_free_energy, rows, mpmath.mpf(temperature), kind)


def _central_differences(point_value, X, C, temperature, kind):
    """The derivatives in every ``c_kj`` of the mean of ``point_value``: central differences.

    The step ``h = 2^(-p/3)`` (p = ``mpmath.mp.prec`` bits; 2^-67 ~ 7e-21 at 60 digits)
    balances the truncation error ``h^2 |f'''| / 6`` against the rounding error
    ``2^-p |f| / h``: both are ``2^(-2p/3)`` times the size of f (and of its third
    derivative). A power of two, so that ``c_kj +- h`` is exact for float64 centres below
    ``2^(2p/3 - 1)``: a derivative that is 0 comes out 0. Moving c_k changes column k of
    the distances only.
    """
    X, C, rows = _problem(X, C)
    T = mpmath.mpf(temperature)
    h = mpmath.mpf(2) ** -(mpmath.mp.prec // 3)
    gradient = []
    for k, c in enumerate(C):
        gradient.append([])
        for j in range(len(c)):
            values = []
            for sign in (1, -1):
                moved = list(c)
                moved[j] += sign * h
                rows_moved = [d[:k] + [_squared_distance(x, moved)] + d[k + 1:] for x, d in zip(X, rows)]
                values.append(_mean(point_value, rows_moved, T, kind))
            gradient[-1].append((values[0] - values[1]) / (2 * h))
    return gradient


def gradient(X, C, temperature, kind):
    """``grad_C L_T`` (K rows of D mpf): central differences of ``objective``, no formula."""
    return _central_differences(_point_objective, X, C, temperature, kind)


def free_energy_gradient(X, C, temperature, kind):
    """``grad_C F_T`` (K rows of D mpf): central differences of ``free_energy``, no formula."""
    return _central_differences(_point_free_energy, X, C, temperature, kind)


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
