"""How closely two correct implementations must agree: one table, keyed by dtype.

Each entry is a relative tolerance for comparing a result against the float64 reference
evaluated on the *same* (already rounded) inputs, norm-wise:

    max |actual - expected|  <=  rtol * condition * scale

``scale`` is the size of the result (the largest term that makes it up, where the
result itself may cancel to 0), ``condition`` the conditioning of the problem.

For anything that depends on responsibilities: the logits ``-d/T`` come from distances
with a relative error of a few units of roundoff u, so logit k of point i moves by about
``u (d_ik + min_l d_il) / T``. Responsibility j moves by ``sum_k |J_jk| |dz_k|`` with J the
Jacobian of the map, and ``sum_k |J_jk| <= 2 w_j``, ``w = r (1 - r)`` for softmax and
``w = s (1 - s / sum s)``, ``s = sqrt(r)``, for entmax15 (both vanish on one-hot rows,
which are insensitive). Hence the condition

    kappa = 1 + 2 max_i sum_k w_ik (d_ik + min_l d_il) / T.

The gradient of the RBF objective goes through the map a second time (``J a`` with
``a = d/T``), which multiplies the scale of the result by kappa as well.

For the mixture of ``kmeans_rbf.probabilistic`` (whose free energies are compared with
closed forms computed from other float64 results), ``log_normaliser_scale`` and
``truncated_free_energy_scale`` are the scales of its log-normaliser and of its truncated
free energy.

Distances by the expansion. An implementation may compute ``d_ik`` as
``|x_i - s|^2 + |c_k - s|^2 - 2 (x_i - s).(c_k - s)`` (one matrix product; the torch
implementation does, with s the centres' mean on a dyadic grid). Its error is not a few
units of roundoff of ``d_ik`` but ``expansion_roundings(D) u (n_i + m_k)``, with
``expansion_roundings(D) = 3D + 16``, ``n_i = |x_i - s|^2`` and ``m_k = |c_k - s|^2``
(derived in the ``kmeans_rbf.torch`` module docstring): it does not vanish with ``d_ik``. For s within ``D rho^2 / 1024`` (squared) of the centres' mean
``mu`` (``rho`` their largest coordinate deviation from it), ``n_i + m_k <= 2 (|x_i -
mu|^2 + |c_k - mu|^2) + D rho^2 / 256``. In units of ``rtol = 256 u`` this is

    e_ik = (3D + 16) / 256 * (2 (|x_i - mu|^2 + |c_k - mu|^2) + D rho^2 / 256)

(``expansion_error``), and the bounds allow for it: it adds to the scale of distances,
objectives and free energies, and ``e_ik + e_il`` (the error of a regret, l the nearest)
to ``d_ik + min_l d_il`` in kappa. Decisions (the nearest centre, entmax supports) are
not affected: the torch implementation re-decides them from exact distances.
"""

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Tolerance",
    "TOLERANCES",
    "MEANINGFUL",
    "tolerance",
    "unit_roundoff",
    "condition_of_responsibilities",
    "expansion_roundings",
    "expansion_error",
    "error_bounds",
    "decision_band",
    "log_normaliser_scale",
    "truncated_free_energy_scale",
]

# Unit roundoff u = 2^-p of each dtype (p = significand bits incl. the implicit one).
_UNIT_ROUNDOFF = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}
# Smallest positive normal number of each dtype. Below it numbers are subnormal, spaced
# 2 u * smallest_normal apart, so rounding a result there has that absolute error
# whatever its size: float16 results below 6.1e-5 keep only a few bits.
_SMALLEST_NORMAL = {
    "float64": 2.0**-1022,
    "float32": 2.0**-126,
    "float16": 2.0**-14,
    "bfloat16": 2.0**-126,
}
# Sums over the points, centres and features of the datasets we test (N*K*D up to ~10^4)
# are done in different orders by NumPy (pairwise) and torch (blocked): each order has an
# error of at most ~log2(n) to n units of roundoff, and the results are means, so 256 u
# bounds the difference of two such orders for the sizes we generate.
_SUMMATION_ORDER = 256


# A comparison whose allowance exceeds 5% of the scale of the result checks nothing useful:
# such a problem is too ill-conditioned for the dtype, and is skipped (``assume``), never
# compared loosely.
MEANINGFUL = 0.05


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    reason: str


def unit_roundoff(dtype):
    """``u = 2^-p`` of a NumPy or torch dtype (p the significand bits, implicit one included)."""
    return _UNIT_ROUNDOFF[_name(dtype)]


def _name(dtype):
    return str(dtype).replace("torch.", "").replace("<class 'numpy.", "").rstrip("'>")


TOLERANCES = {
    "float64": Tolerance(
        _SUMMATION_ORDER * _UNIT_ROUNDOFF["float64"],
        "computed in float64 like the reference; only the summation order differs",
    ),
    "float32": Tolerance(
        _SUMMATION_ORDER * _UNIT_ROUNDOFF["float32"],
        "computed in float32: the same summations with a 24-bit significand",
    ),
    "float16": Tolerance(
        2 * _UNIT_ROUNDOFF["float16"] + _SUMMATION_ORDER * _UNIT_ROUNDOFF["float32"],
        "computed in float32 and rounded once to float16 (11-bit significand): one rounding "
        "of the result, relative to its largest entry, plus the float32 computation",
    ),
    "bfloat16": Tolerance(
        2 * _UNIT_ROUNDOFF["bfloat16"] + _SUMMATION_ORDER * _UNIT_ROUNDOFF["float32"],
        "computed in float32 and rounded once to bfloat16 (8-bit significand): one rounding "
        "of the result, relative to its largest entry, plus the float32 computation",
    ),
}


def tolerance(dtype, condition=1.0):
    """The absolute bound ``rtol(dtype) * condition`` per unit of scale (see module doc).

    The rounding of the final result to a half-precision dtype does not grow with the
    condition; only the computation does.
    """
    name = _name(dtype)
    entry = TOLERANCES[name]
    if name in ("float16", "bfloat16"):
        return 2 * _UNIT_ROUNDOFF[name] + (entry.rtol - 2 * _UNIT_ROUNDOFF[name]) * condition
    return entry.rtol * condition


def condition_of_responsibilities(d, r, temperature, kind, expansion=None):
    """``kappa = 1 + 2 max_i sum_k w_ik (d_ik + min_l d_il) / T`` (module doc); 1 for hard.

    With ``expansion`` (N, K), the errors ``e`` of ``expansion_error``, the regret's
    error ``e_ik + e_il`` (l the nearest centre) is added to ``d_ik + min_l d_il``.
    """
    if kind == "hard":
        return 1.0
    d, r = np.asarray(d, dtype=np.float64), np.asarray(r, dtype=np.float64)
    if kind == "softmax":
        w = r * (1 - r)
    else:
        s = np.sqrt(r)
        w = s * (1 - s / s.sum(axis=1, keepdims=True))
    spread = d + d.min(axis=1, keepdims=True)
    if expansion is not None:
        nearest = np.argmin(d, axis=1)[:, None]
        spread = spread + expansion + np.take_along_axis(expansion, nearest, axis=1)
    return 1.0 + 2.0 * float(np.max(np.sum(w * spread, axis=1))) / temperature


def expansion_roundings(n_features):
    """Units of roundoff, times ``n_i + m_k``, in the error of distances by the expansion.

    The one home of the constant of the bound derived in the ``kmeans_rbf.torch`` module
    docstring (which uses it for its certified repair).
    """
    return 3 * n_features + 16


def expansion_error(X, C):
    """``e_ik``, (N, K): the error of distances by the centred expansion, in units of rtol.

    ``|d^_ik - d_ik| <= rtol(dtype) * e_ik`` (module doc).

    Examples
    --------
    >>> expansion_error(np.array([[0.0], [3.0]]), np.array([[1.0]]))   # (19/256) 2 (1, 4)
    array([[0.1484375],
           [0.59375  ]])
    """
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    n_features = C.shape[1]
    mean = C.mean(axis=0)
    rho = float(np.max(np.abs(C - mean)))
    around = np.sum((X - mean) ** 2, axis=1)[:, None] + np.sum((C - mean) ** 2, axis=1)[None, :]
    roundings = expansion_roundings(n_features) / _SUMMATION_ORDER
    return roundings * (2 * around + n_features * rho**2 / 256)


def error_bounds(X, C, temperature, kind, dtype):
    """Absolute bounds, per function, on ``|implementation - reference|`` at one problem.

    The implementation computes in ``dtype`` on the same (rounded) X and C as the float64
    reference. Each bound is ``tolerance(dtype, kappa) * scale`` with the scale of the
    terms that make up that result (module doc), kappa and the scales including the
    error of distances by the expansion (``expansion_error``):

    * squared_distances: the largest distance plus the largest expansion error (kappa = 1);
    * responsibilities: 1;
    * objective, free_energy: the largest distance (plus ``T log K``, the entropy term);
    * gradient: ``2 max |c_k - x_i|`` times kappa, the size of the term through r;
    * free_energy_gradient: ``2 max |c_k - x_i|``;
    * every bound also allows one rounding among the subnormals of ``dtype``;
    * soft_step, lloyd_step: per centre (shape (K, 1)), the largest coordinate (centres
      are convex combinations) with the condition multiplied by ``N / n_k``: an error in
      the responsibilities moves a weighted mean by that error over the centre's mass
      ``n_k = sum_i r_ik``. A centre without mass (soft kinds) is infinitely
      ill-conditioned: which point it moves to, or whether it stays, is decided by
      entries far below the rounding. Only the hard step keeps an empty centre exactly.
    """
    from . import reference

    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    d = reference._squared_distances(X, C)
    r = reference._responsibilities(d, temperature, kind)
    expansion = expansion_error(X, C)
    kappa = condition_of_responsibilities(d, r, temperature, kind, expansion)
    smallest = np.finfo(np.float64).tiny
    distance_scale = max(float(d.max()) + float(expansion.max()), smallest)
    reach = max(float(np.max(np.abs(C[None, :, :] - X[:, None, :]))), smallest)
    spread = max(float(np.max(np.abs(X))), float(np.max(np.abs(C))), smallest)
    entropy_scale = (temperature or 0.0) * np.log(len(C))
    rounding = tolerance(dtype, kappa)
    # One rounding of a result that lands among the subnormals (see _SMALLEST_NORMAL).
    underflow = 2 * _UNIT_ROUNDOFF[_name(dtype)] * _SMALLEST_NORMAL[_name(dtype)]
    mass = r.sum(axis=0)
    # A subnormal mass makes the condition overflow to inf, which is the intended value.
    with np.errstate(divide="ignore", over="ignore"):
        step_condition = np.where(mass > 0, kappa * len(X) / mass, np.inf)
    if kind == "hard":
        step_condition[mass == 0] = 1.0
    with np.errstate(over="ignore"):  # likewise a bound beyond the float range: inf
        step = np.array([[tolerance(dtype, c) * spread] for c in step_condition]) + underflow
    return {
        "kappa": kappa,
        "squared_distances": tolerance(dtype) * distance_scale + underflow,
        "responsibilities": rounding + underflow,
        "objective": rounding * distance_scale + underflow,
        "free_energy": rounding * (distance_scale + entropy_scale) + underflow,
        "gradient": rounding * 2 * reach * kappa + underflow,
        "free_energy_gradient": rounding * 2 * reach + underflow,
        "soft_step": step,
        "lloyd_step": step,
    }


def decision_band(d, temperature):
    """Relative width of the band around a threshold of the maps in which rounding decides.

    Whether an entry is in the entmax-1.5 support, or a row is one-hot, is decided by
    comparing ``u_k = z_k / 2`` with the threshold tau. The computed logits carry an
    absolute error of a few units of roundoff times ``1 + (d_ik + min_l d_il) / T`` (the
    regret ``d_ik - min_l d_il`` is a difference of two rounded distances, then divided by
    T), and tau a few units of roundoff (it is built from u clipped to [-1, 0]). The band is
    the float64 entry of the table (256 u, which bounds the summation-order differences of
    the implementations as well) times ``1 + 2 max d / T``: a case within the band of a
    threshold is not decided by a property; everything outside it must be exact.

    Examples
    --------
    >>> decision_band(np.array([[0.0, 1.0]]), 0.5) == tolerance(np.float64, 5.0)
    True
    """
    return tolerance(np.float64, 1.0 + 2.0 * float(np.max(d)) / temperature)


# --- the mixture (kmeans_rbf.probabilistic) ------------------------------------------------


def log_normaliser_scale(n_means, n_features, variance):
    """The scale of the mixture's ``-log K - (D/2) log(2 pi e sigma^2)``: its terms' sizes.

    ``log K + (D/2) (|log(2 pi sigma^2)| + 1)``: each logarithm is rounded once, so
    ``tolerance(float64) * log_normaliser_scale(K, D, sigma^2)`` bounds the rounding of
    the computed normaliser (and of ``-log K - (D/2) log(2 pi sigma^2)``).

    Parameters
    ----------
    n_means : int, K.
    n_features : int, D.
    variance : float > 0, the shared sigma^2.

    Returns
    -------
    scale : float

    Examples
    --------
    >>> round(log_normaliser_scale(1, 2, 1 / (2 * np.pi)), 12)   # log 1 + (2/2)(|log 1| + 1)
    1.0
    """
    return float(np.log(n_means) + 0.5 * n_features * (abs(np.log(2 * np.pi * variance)) + 1.0))


def truncated_free_energy_scale(X, means, variance, n_nearest):
    """The size of the terms whose rounding makes up the error of a computed free energy.

    ``F = normaliser + mean_i [log sum_{K_i} exp(logits) - min_k d_ik / (2 s)]``
    (``probabilistic.truncated_free_energy``, ``s = sigma^2``): the normaliser
    (``log_normaliser_scale``), the distances over 2s, the log of at most n_nearest terms;
    and, since the parameters themselves are rounded results of a previous step, F's
    sensitivity to a relative change u of them: ``|dF/dmu| |mu| <= reach * spread / s``
    and ``|dF/ds| s <= D``. ``tolerance(float64) * scale`` bounds the error of F.

    Parameters
    ----------
    X : array_like, shape (N, D)
    means : array_like, shape (K, D)
    variance : float > 0, the shared sigma^2.
    n_nearest : int, the size of each K_i.

    Returns
    -------
    scale : float

    Examples
    --------
    >>> X = [[0.0], [2.0]]      # d max 4, reach 2, spread 2: 1.7655 + (4 + 8) / 1 + 0 + 1
    >>> round(truncated_free_energy_scale(X, X, 0.5, 1), 4)
    14.7655
    """
    from . import reference

    X, means = np.asarray(X, dtype=np.float64), np.asarray(means, dtype=np.float64)
    d = reference._squared_distances(X, means)
    reach = float(np.max(np.abs(means[None, :, :] - X[:, None, :])))
    spread = max(float(np.max(np.abs(X))), float(np.max(np.abs(means))))
    D = X.shape[1]
    return float(
        log_normaliser_scale(len(means), D, variance)
        + (float(d.max()) + 2 * D * reach * spread) / (2 * variance)
        + np.log(n_nearest)
        + D
    )
