r"""How far a correct implementation may be from the exact result: per entry, any algorithm.

The conformance oracle must pass every *backward-stable* way of computing a result and
fail the others, whatever formula the reference happens to use. So each allowance here is
derived from the magnitudes of the inputs and of the terms summed (Higham, *Accuracy and
Stability of Numerical Algorithms*, ch. 3-4), not from the reference's own rounding, and it
is given *per entry*: a result that cancels to 0 gets the allowance of its terms.

Model. An implementation computing in a dtype with unit roundoff ``u`` is correct if its
result is the exact result for inputs perturbed componentwise by a small relative amount,
plus the rounding of the result's own sums (``gamma(n) = n u / (1 - n u)``):

* **distances** ``d_ik = sum_j (x_ij - c_kj)^2``: exact for ``x(1 + delta)``,
  ``c(1 + delta')`` with ``|delta| <= eta = gamma(D + 2)`` (differences, squares and a sum
  of D terms in any order). To first order, plus the second-order term, at most

      sum_j 2 eta |x_ij - c_kj| (|x_ij| + |c_kj|) + eta^2 (|x_ij| + |c_kj|)^2
        <= 2 eta ||x_i - c_k|| (||x_i|| + ||c_k||) + eta^2 (||x_i|| + ||c_k||)^2 = A_ik

  (Cauchy-Schwarz; the norm form costs O(N K) once d is known), where ``||x_i|| + ||c_k||``
  also gets ``2 ||M||``, M the largest translation a centring of the data may use
  (``frame``): centring makes the expansion safe, and costs the rounding of the translation.

  Computing by differences is within it (its error is ``gamma(D + 2) d_ik``). The
  expansion ``|x|^2 - 2 x.c + |c|^2`` is not backward stable: its error ``~u (|x| + |c|)^2``
  exceeds ``A_ik`` when ``|x - c|`` is small against ``|x| + |c|``, i.e. far from the
  origin, where it picks farther centres. (Centring on the data first, and re-deciding
  near-ties, makes it correct.)

* **labels**: label k of point i is acceptable iff ``d_ik - A_ik <= min_l (d_il + A_il)``:
  some backward-stable computation could have picked it.

* **logits** ``z_ik = -d_ik / T``, used through a shift-invariant map, so through the regret
  ``rho_ik = (d_ik - min_l d_il) / T``: ``|dz_ik| <= (A_ik + A_i,min) / T + u rho_ik``.

* **maps**, exactly (not to first order) for a row whose logits move by at most
  ``Delta = max_k |dz_k|``:

  - softmax: ``|log r_j' - log r_j| <= 2 Delta``, so ``|dr_j| <= r_j (e^(2 Delta) - 1)``;
  - entmax-1.5, ``p_j = [z_j/2 - tau]_+^2``: tau moves by at most ``Delta/2`` when every
    ``z/2`` moves by at most ``Delta/2`` (tau is monotone and ``tau(z + c) = tau(z) + c/2``),
    so ``s_j = sqrt(p_j)`` moves by at most ``Delta``: ``|dp_j| <= 2 s_j Delta + Delta^2``,
    and an entry off the support by ``m_j = tau - z_j/2`` stays exactly 0 unless
    ``m_j < Delta``;
  - sparsemax, ``p_j = [z_j - tau]_+``: ``|dp_j| <= 2 Delta``, 0 off the support unless
    ``tau - z_j < 2 Delta``.

  To Delta is added the rounding of the threshold itself (sums of up to K numbers of size at
  most 1 on the support): ``gamma(4 K + 4)``; and each output entry may be rounded
  (``gamma(K + 2)`` relative) or underflow (``tiny`` absolute).

* **sums over points** (objectives, gradients, means): ``gamma(N + K + 3)`` times the sum of
  the magnitudes of the terms, where each term ``r (c - x)`` may be formed as ``r c - r x``
  (the gradient ``2 (n_k c_k - sum_i r_ik x_i) / N`` is a standard backward-stable formula):
  the magnitude of a term is ``|r| (|c| + |x| + 2 M)``, not ``|r| |c - x|`` (M: ``frame``).

Everything is computed in float64 from the float64 reference on the *same* inputs (rounded
to the implementation's dtype first). The reference's own error, the same model at float64,
is added, so that a float64 implementation is never blamed for the reference's rounding.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1e6 + 1.0], [1e6 + 3.0]])
>>> C = np.array([[1e6], [1e6 + 4.0]])
>>> A = distance_allowances(X, C, "float64")
>>> bool(A.max() < 1e-6)                        # the distances are ~1 to 16: tight
True
>>> # the expansion formula's error here is ~u (2e6)^2 ~ 1e-3: far beyond the allowance
"""

import numpy as np

from .backends import dtype_name
from .tolerances import _SMALLEST_NORMAL, unit_roundoff

__all__ = [
    "frame",
    "unit_roundoff",
    "tiny",
    "gamma",
    "distance_allowances",
    "acceptable_labels",
    "logit_allowances",
    "map_allowances",
    "responsibility_allowances",
]


def tiny(dtype):
    """The absolute rounding error of a result among the subnormals of ``dtype``.

    Below the smallest normal number a result keeps only a few bits, so its rounding is
    absolute (2 u times the smallest normal), whatever its size.
    """
    return 2 * unit_roundoff(dtype) * _SMALLEST_NORMAL[dtype_name(dtype)]


def gamma(n, dtype):
    """``n u / (1 - n u)``: the relative error bound of n roundings (inf once n u >= 1)."""
    nu = n * unit_roundoff(dtype)
    return nu / (1 - nu) if nu < 1 else np.inf


def _with_reference(allowance, dtype):
    """``allowance(dtype)`` plus the float64 reference's own, ``allowance("float64")``."""
    return allowance(dtype) + allowance("float64")


def frame(X):
    """``M_j = max_i |x_ij|`` (D,): the largest translation a centring of the data may use.

    A stable implementation may work on data centred at a point m of their bounding box
    (their mean, say: scikit-learn does), which is exact for nearby floats; the results then
    carry the rounding of the translation, ``u |m_j| <= u M_j`` per coordinate. Every
    allowance here counts it.
    """
    return np.max(np.abs(X), axis=0)


def distance_allowances(X, C, dtype, d=None):
    """``A_ik`` (N, K): how far a backward-stable ``d_ik`` may be from the exact one.

    The componentwise bound of the module doc, ``2 eta sum_j |x_j - c_j| (|x_j| + |c_j|)``,
    is at most ``2 eta ||x - c|| (||x|| + ||c||)`` (Cauchy-Schwarz): that is the allowance,
    computed from the distances ``d`` (the reference's, if given) in O(N K).
    """
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    if d is None:
        from .reference import _squared_distances

        d = _squared_distances(X, C)
    size = np.linalg.norm(X, axis=1)[:, None] + np.linalg.norm(C, axis=1)[None, :] + 2 * np.linalg.norm(frame(X))
    first, second = 2 * np.sqrt(d) * size, size**2
    D = X.shape[1]

    def allowance(dt):
        eta = gamma(D + 2, dt)
        return 2 * eta * first + eta**2 * second + tiny(dt)

    with np.errstate(over="ignore"):  # inf where the inputs are near the top of the range
        return _with_reference(allowance, dtype)


def acceptable_labels(d, A):
    """(N, K) booleans: the centres some backward-stable computation could call nearest.

    ``d`` are the reference's distances, ``A`` their allowances (``distance_allowances``).
    Exact ties make every tied centre acceptable; near-ties within the allowance too.
    """
    return d - A <= np.min(d + A, axis=1, keepdims=True)


def logit_allowances(d, A, temperature, dtype):
    """``|dz_ik|`` (N, K) for the logits -d/T of a shift-invariant map (module doc)."""
    regret = d - d.min(axis=1, keepdims=True)
    nearest = np.take_along_axis(A, np.argmin(d, axis=1)[:, None], axis=1)
    with np.errstate(over="ignore"):
        return (A + nearest) / temperature + _with_reference(unit_roundoff, dtype) * regret / temperature


def map_allowances(Z, P, delta, map_name, dtype):
    """Per-entry allowance (same shape as Z) of a map from logits Z to P on the last axis.

    ``P`` is the exact (reference) output, ``delta`` the largest move of a logit of each row
    (shape ``Z.shape[:-1] + (1,)``, or a number), before the rounding of the map itself.
    """
    Z, P = np.asarray(Z, dtype=np.float64), np.asarray(P, dtype=np.float64)
    K = Z.shape[-1]
    rounding = _with_reference(lambda dt: gamma(K + 2, dt), dtype)
    floor = _with_reference(tiny, dtype)
    delta = np.asarray(delta, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if map_name == "softmax":
            moved = P * np.expm1(np.minimum(2 * delta, 700.0))
        else:
            threshold_rounding = _with_reference(lambda dt: gamma(4 * K + 4, dt), dtype)
            delta = delta + threshold_rounding
            excess = _distance_to_support(Z, P, map_name)  # m_j: 0 on the support
            if map_name == "entmax15":
                s = np.sqrt(P)
                moved = np.where(P > 0, 2 * s * delta + delta**2, np.maximum(delta - excess, 0.0) ** 2)
            else:  # sparsemax
                moved = np.where(P > 0, 2 * delta, np.maximum(2 * delta - excess, 0.0))
    return np.minimum(moved, 1.0) + rounding * P + floor


def _distance_to_support(Z, P, map_name):
    """How far each logit is below the map's threshold (0 on the support), in its own units.

    entmax15: ``tau - z_j/2`` with ``p_j = [z_j/2 - tau]^2``; sparsemax: ``tau - z_j``.
    tau is recovered from any entry of the support: ``z/2 - sqrt(p)`` or ``z - p``.
    """
    half = map_name == "entmax15"
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = Z - np.max(Z, axis=-1, keepdims=True)
        u = shifted / 2 if half else shifted
        top = np.argmax(P, axis=-1)[..., None]
        tau = np.take_along_axis(u, top, axis=-1) - np.take_along_axis(np.sqrt(P) if half else P, top, axis=-1)
        return np.where(P > 0, 0.0, np.where(np.isneginf(u), np.inf, tau - u))


def responsibility_allowances(d, A, r, temperature, kind, dtype):
    """Per-entry allowance (N, K) of soft responsibilities ``map(-d/T)``; exact ``r`` given."""
    dz = logit_allowances(d, A, temperature, dtype)
    delta = np.max(dz, axis=1, keepdims=True)
    with np.errstate(over="ignore"):
        logits = -(d - d.min(axis=1, keepdims=True)) / temperature
    return map_allowances(logits, r, delta, kind, dtype)
