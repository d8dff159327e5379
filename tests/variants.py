"""Deliberately broken and legitimately different implementations: each written once.

A *variant* is the NumPy reference (``kmeans_rbf.reference`` and
``kmeans_rbf.probabilistic``) with some public functions replaced, built by ``variant``.
It has the reference's names and signatures, so the same object serves

* the claim tests, whose bite tests (``support.assert_bites``) show that a claim's property
  fails on a broken variant, and
* the oracle zoo (``oracle_zoo.py``), since the oracle's adapter protocol (``assign``,
  ``lloyd_step``, ``kmeans``, ``responsibilities``, ``entmax15``, ``objective``,
  ``gradient``, ...) is a subset of the reference's names.

Every broken variant is one realistic bug, said in its name and in a comment starting
"The bug:". The variants at the end are *correct but different*: every check of the
oracle must pass on them.

Composite functions are rebuilt from the variant's own parts unless replaced themselves:
``kmeans`` iterates the variant's ``lloyd_step`` and ``anneal`` its ``soft_step``, so a bug in
a step shows in the runs that use it, as it would in a real library.
"""

import time
import types

import numpy as np

from kmeans_rbf import probabilistic, reference

_BASE = {name: getattr(reference, name) for name in reference.__all__}
_BASE.update({name: getattr(probabilistic, name) for name in probabilistic.__all__})


def variant(name, *, dtype=np.float64, **replacements):
    """The reference with the functions in ``replacements`` replaced; ``name`` says how.

    ``dtype`` is the precision the variant computes in (the oracle reads it to set its
    allowances).
    """
    functions = {**_BASE, **replacements}
    implementation = types.SimpleNamespace(name=name, dtype=dtype, **functions)
    if "kmeans" not in replacements:

        def kmeans(X, C0, n_iter):
            C = np.asarray(C0, dtype=np.float64)
            for _ in range(n_iter):
                C = implementation.lloyd_step(X, C)
            return C

        implementation.kmeans = kmeans
    if "anneal" not in replacements:

        def anneal(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
            trajectory = [np.asarray(C0, dtype=np.float64)]
            for temperature in temperatures:
                for _ in range(steps_per_temperature):
                    trajectory.append(implementation.soft_step(X, trajectory[-1], temperature, kind))
            return np.stack(trajectory)

        implementation.anneal = anneal
    return implementation


def _d(X, C):
    return reference.squared_distances(X, C)


def _cell_means(X, C, labels):
    """Means of the cells named by ``labels``; an empty cell keeps its centre."""
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])


def _soft(map_name, z):
    return getattr(reference, map_name)(z)


# --- assignment and the Lloyd step -------------------------------------------------------


def _farthest(X, C):
    # The bug: argmax for argmin.
    return np.argmax(_d(X, C), axis=1)


FARTHEST_CENTRE = variant("argmax for argmin", assign=_farthest)


def _one_based(X, C):
    # The bug: labels 1..K, as in MATLAB.
    return reference.assign(X, C) + 1


ONE_BASED_LABELS = variant("labels 1..K", assign=_one_based)


def _first_feature_assign(X, C):
    # The bug: a slicing error keeps the first feature only.
    return reference.assign(np.asarray(X)[:, :1], np.asarray(C)[:, :1])


def _first_feature_lloyd_step(X, C):
    return _cell_means(X, C, _first_feature_assign(X, C))


FIRST_FEATURE_ONLY = variant(
    "distances over the first feature only", assign=_first_feature_assign, lloyd_step=_first_feature_lloyd_step
)


def _crashes_on_one_centre(X, C):
    # The bug: np.partition(d, 1) needs at least two centres.
    np.partition(_d(X, C), 1, axis=1)
    return reference.assign(X, C)


CRASHES_ON_ONE_CENTRE = variant("np.partition(d, 1) with one centre", assign=_crashes_on_one_centre)


def _empty_cluster_nan(X, C):
    # The bug: the mean of an empty cluster is 0/0.
    X, labels = np.asarray(X, dtype=np.float64), reference.assign(X, C)
    with np.errstate(invalid="ignore"):
        return np.stack([X[labels == k].sum(axis=0) / np.sum(labels == k) for k in range(len(C))])


EMPTY_CLUSTER_NAN = variant("empty cluster's mean 0/0", lloyd_step=_empty_cluster_nan)


def _empty_cluster_to_origin(X, C):
    # The bug: sums / max(count, 1), so an empty cell's centre lands on the origin (seen in
    # real libraries).
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    r = np.eye(len(C))[reference.assign(X, C)]
    return (r.T @ X) / np.maximum(r.sum(axis=0), 1.0)[:, None]


EMPTY_CLUSTER_TO_ORIGIN = variant("empty cluster's centre sent to the origin", lloyd_step=_empty_cluster_to_origin)


def _sums_not_means(X, C):
    # The bug: cluster sums instead of means.
    X, labels = np.asarray(X, dtype=np.float64), reference.assign(X, C)
    return np.stack([X[labels == k].sum(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])


SUMS_NOT_MEANS = variant("cluster sums for means", lloyd_step=_sums_not_means)


def _cell_sums_over_n(X, C):
    # The bug: each cell's sum divided by N instead of its size, as in
    # np.mean(X * (labels == k)[:, None], axis=0): every centre shrinks towards 0.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    one_hot = np.eye(len(C))[reference.assign(X, C)]
    empty = one_hot.sum(axis=0) == 0
    return np.where(empty[:, None], C, (one_hot.T @ X) / len(X))


CELL_SUMS_OVER_N = variant("cell sums divided by N", lloyd_step=_cell_sums_over_n)


def _hangs_on_empty_cluster(X, C):
    # The bug: retries until no cluster is empty, forever if one stays empty.
    while len(np.unique(reference.assign(X, C))) < len(C):
        time.sleep(0.01)
    return reference.lloyd_step(X, C)


HANGS_ON_EMPTY_CLUSTER = variant("retries while a cluster is empty", lloyd_step=_hangs_on_empty_cluster)


def _one_iteration_too_many(X, C0, n_iter):
    # The bug: range(n_iter + 1).
    return reference.kmeans(X, C0, n_iter + 1)


ONE_ITERATION_TOO_MANY = variant("range(n_iter + 1)", kmeans=_one_iteration_too_many)


def _loose_early_stop(X, C0, n_iter):
    # The bug: stops once no centre moves by more than 0.5, a tolerance in absolute units.
    C = np.asarray(C0, dtype=np.float64)
    for _ in range(n_iter):
        new = reference.lloyd_step(X, C)
        if np.max(np.abs(new - C)) < 0.5:
            return C
        C = new
    return C


LOOSE_EARLY_STOP = variant("early stop at an absolute tolerance of 0.5", kmeans=_loose_early_stop)


# --- maps and responsibilities -----------------------------------------------------------


def _unshifted_softmax_responsibilities(X, C, temperature=None, kind="hard"):
    # The bug: exp(z) / sum exp(z) without subtracting the row maximum, 0/0 at low T. The
    # project turns NumPy warnings into errors; a naive implementation returns NaN silently.
    if kind != "softmax":
        return reference.responsibilities(X, C, temperature, kind)
    with np.errstate(under="ignore", invalid="ignore", over="ignore"):
        E = np.exp(-_d(X, C) / temperature)
        return E / E.sum(axis=1, keepdims=True)


def _naive_weights(X, C, temperature):
    d = _d(X, C)
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(-d / temperature)
        return d, e, e / e.sum(axis=1, keepdims=True)


def _unshifted_softmax_objective(X, C, temperature=None, kind="hard"):
    if kind != "softmax":
        return reference.objective(X, C, temperature, kind)
    d, _, r = _naive_weights(X, C, temperature)
    with np.errstate(invalid="ignore"):  # NaN weights propagate, as in a naive implementation
        return float(np.mean(np.sum(r * d, axis=1)))


def _unshifted_softmax_free_energy(X, C, temperature=None, kind="softmax"):
    if kind != "softmax":
        return reference.free_energy(X, C, temperature, kind)
    _, e, _ = _naive_weights(X, C, temperature)
    with np.errstate(divide="ignore"):  # log 0 = -inf, as in a naive implementation
        return float(np.mean(-temperature * np.log(e.sum(axis=1))))


SOFTMAX_WITHOUT_SHIFT = variant(
    "softmax without the max-shift",
    responsibilities=_unshifted_softmax_responsibilities,
    objective=_unshifted_softmax_objective,
    free_energy=_unshifted_softmax_free_energy,
)

_TEMPERATURE_FUNCTIONS = ("responsibilities", "objective", "free_energy", "gradient", "free_energy_gradient", "soft_step")


def _temperature_variant(name, transform):
    """The reference with the temperature replaced by ``transform(T)`` in every soft function."""

    def wrap(function):
        def wrapped(X, C, temperature=None, kind=None):
            defaults_to_soft = function.__name__ in ("free_energy", "free_energy_gradient", "soft_step")
            kind = kind if kind is not None else ("softmax" if defaults_to_soft else "hard")
            if temperature is not None:
                temperature = transform(temperature)
            return function(X, C, temperature, kind)

        wrapped.__name__ = function.__name__
        return wrapped

    return variant(name, **{f: wrap(getattr(reference, f)) for f in _TEMPERATURE_FUNCTIONS})


# The bug: T used as a precision, exp(-d T), or squared.
TEMPERATURE_INVERTED = _temperature_variant("temperature applied as 1/T", lambda T: 1.0 / T)
TEMPERATURE_SQUARED = _temperature_variant("temperature applied as T^2", lambda T: T * T)


def _unsquared_responsibilities(X, C, temperature=None, kind="hard"):
    # The bug: logits -||x - c|| / T, the distance instead of its square.
    if kind == "hard":
        return reference.responsibilities(X, C, temperature, kind)
    return _soft(kind, -np.sqrt(_d(X, C)) / temperature)


UNSQUARED_DISTANCES = variant("logits -||x - c|| / T", responsibilities=_unsquared_responsibilities)


def _sparse_responsibilities(X, C, temperature=None, kind="hard"):
    if kind != "entmax15":
        return reference.responsibilities(X, C, temperature, kind)
    d = _d(X, C)
    return reference.sparsemax(-(d - d.min(axis=1, keepdims=True)) / temperature)


def _sparse_objective(X, C, temperature=None, kind="hard"):
    if kind != "entmax15":
        return reference.objective(X, C, temperature, kind)
    return float(np.mean(np.sum(_sparse_responsibilities(X, C, temperature, kind) * _d(X, C), axis=1)))


def _sparse_free_energy(X, C, temperature=None, kind="softmax"):
    # The sparsemax free energy: its own entropy (1 - sum p^2)/2, whose maximum is (1 - 1/K)/2.
    if kind != "entmax15":
        return reference.free_energy(X, C, temperature, kind)
    r = _sparse_responsibilities(X, C, temperature, kind)
    return float(np.mean(np.sum(r * _d(X, C), axis=1) - temperature * (1 - np.sum(r**2, axis=1)) / 2))


# The bug: sparsemax (2-entmax) wherever 1.5-entmax is asked for.
SPARSEMAX_FOR_ENTMAX = variant(
    "sparsemax in place of entmax15",
    entmax15=reference.sparsemax,
    responsibilities=_sparse_responsibilities,
    objective=_sparse_objective,
    free_energy=_sparse_free_energy,
)


def _bisection_entmax15(Z):
    # The bug: tau by 8 steps of bisection, a plausible shortcut.
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    u = (Z - Z.max(axis=-1, keepdims=True)) / 2
    low, high = np.full(len(Z), -1.0), np.zeros(len(Z))
    for _ in range(8):
        tau = (low + high) / 2
        mass = np.sum(np.maximum(u - tau[:, None], 0) ** 2, axis=-1)
        low, high = np.where(mass > 1, tau, low), np.where(mass > 1, high, tau)
    return np.maximum(u - ((low + high) / 2)[:, None], 0) ** 2


BISECTION_ENTMAX = variant("entmax15 by 8 bisection steps", entmax15=_bisection_entmax15)


def _entmax15_shifted_by_the_mean(Z):
    # The bug: shifts by the row mean, which is -inf when an entry is -inf.
    Z = np.asarray(Z, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        shifted = Z - Z.mean(axis=-1, keepdims=True)
    return reference._entmax15(shifted)


ENTMAX_NAN_ON_MINUS_INF = variant("entmax15 shifted by the row mean", entmax15=_entmax15_shifted_by_the_mean)


# --- objectives and free energy ------------------------------------------------------------


def _summed_objective(X, C, temperature=None, kind="hard"):
    # The bug: sum_i instead of (1/N) sum_i, for J and L_T alike.
    return len(X) * reference.objective(X, C, temperature, kind)


OBJECTIVE_SUMMED = variant("objective summed instead of averaged", objective=_summed_objective)


def _free_energy_as_objective(X, C, temperature=None, kind="hard"):
    # The bug: F_T returned where L_T is asked (they agree only as T -> 0).
    return reference.free_energy(X, C, temperature, kind)


FREE_ENERGY_FOR_OBJECTIVE = variant("objective = free energy", objective=_free_energy_as_objective)


def _free_energy_wrong_sign(X, C, temperature=None, kind="softmax"):
    # The bug: F = r.d + T H(r) instead of r.d - T H(r); since L - F = T H, that is 2 L - F.
    if kind == "hard":
        return reference.free_energy(X, C, temperature, kind)
    return 2 * reference.objective(X, C, temperature, kind) - reference.free_energy(X, C, temperature, kind)


ENTROPY_WRONG_SIGN = variant("entropy with the wrong sign in free_energy", free_energy=_free_energy_wrong_sign)


def _weights_over_points(X, C, temperature, kind):
    # The bug: the map taken over the wrong axis (the points of each centre, dim=0), not
    # over the centres of each point.
    d = _d(X, C)
    with np.errstate(over="ignore"):  # a logit below -1e308 is meant: its weight is 0
        z = -(d - d.min(axis=0, keepdims=True)) / temperature
    return d, _soft(kind, z.T).T


def _softmax_over_points_objective(X, C, temperature=None, kind="hard"):
    if kind != "softmax":
        return reference.objective(X, C, temperature, kind)
    d, r = _weights_over_points(X, C, temperature, kind)
    return float(np.mean(np.sum(r * d, axis=1)))


def _soft_step_over_points(X, C, temperature=None, kind="softmax"):
    if kind == "hard":
        return reference.soft_step(X, C, temperature, kind)
    _, r = _weights_over_points(X, C, temperature, kind)
    return (r.T @ np.asarray(X, dtype=np.float64)) / r.sum(axis=0)[:, None]


# In the objective for softmax, in the soft step for both soft maps.
SOFTMAX_OVER_POINTS = variant(
    "map over the points instead of the centres",
    objective=_softmax_over_points_objective,
    soft_step=_soft_step_over_points,
)


# --- gradients and steps -----------------------------------------------------------------


# The bug: the gradient at frozen responsibilities, without the term through r.
FROZEN_RESPONSIBILITIES = variant("gradient at frozen responsibilities", gradient=reference.free_energy_gradient)

# The bug: F_T differentiated through the responsibilities as if r were not its minimiser
# (the envelope theorem ignored): the gradient of L_T returned for that of F_T.
THROUGH_R_IN_FREE_ENERGY_GRADIENT = variant("grad L_T for grad F_T", free_energy_gradient=reference.gradient)


def _half_gradient(X, C, temperature=None, kind="hard"):
    # The bug: d||x - c||^2 / dc taken as (c - x), the factor 2 forgotten.
    return reference.gradient(X, C, temperature, kind) / 2


MISSING_FACTOR_TWO = variant("gradient without the factor 2", gradient=_half_gradient)


def _gradient_in_float32(X, C, temperature=None, kind="hard"):
    # The bug: declares float64 but computes the gradient from float32 inputs.
    X32, C32 = np.asarray(X, dtype=np.float32), np.asarray(C, dtype=np.float32)
    return reference.gradient(X32.astype(np.float64), C32.astype(np.float64), temperature, kind).astype(np.float32)


SILENT_FLOAT32 = variant("gradient silently in float32", gradient=_gradient_in_float32)


def _soft_step_mirrored(X, C, temperature=None, kind="softmax"):
    # The bug: a gradient step of N/n_k instead of N/(2 n_k) (the 2 of d||x - c||^2/dc
    # forgotten) overshoots to the mirror image of C through the soft mean.
    return 2 * reference.soft_step(X, C, temperature, kind) - np.asarray(C)


SOFT_STEP_MIRRORED = variant("soft step of size N/n_k", soft_step=_soft_step_mirrored)


def _soft_step_at_a_million_t(X, C, temperature=None, kind="softmax"):
    # The bug: the temperature in the wrong unit (a factor 1e6, e.g. milli- for micro-); it
    # still converges as T -> 0, but neither exactly at T <= m/2 nor at the softmax rate.
    return reference.soft_step(X, C, temperature * 1e6, kind)


SOFT_STEP_AT_A_MILLION_T = variant("soft step at T * 1e6", soft_step=_soft_step_at_a_million_t)


# --- correct but different: every oracle check must pass on these ------------------------


def _highest_index_assign(X, C):
    # Ties go to the highest index (argmin on the reversed centres).
    d = _d(X, C)
    return d.shape[1] - 1 - np.argmin(d[:, ::-1], axis=1)


def _highest_index_lloyd_step(X, C):
    return _cell_means(X, C, _highest_index_assign(X, C))


HIGHEST_INDEX_TIES = variant("ties to the highest index", assign=_highest_index_assign, lloyd_step=_highest_index_lloyd_step)


def _relocate_to_farthest_point(X, C):
    # An empty cluster takes the point farthest from its own centre (as in scikit-learn).
    X = np.asarray(X, dtype=np.float64)
    labels = reference.assign(X, C)
    own = _d(X, C)[np.arange(len(X)), labels]
    means = _cell_means(X, C, labels)
    empty = [k for k in range(len(C)) if not np.any(labels == k)]
    means[empty] = X[np.argmax(own)]
    return means


RELOCATE_TO_FARTHEST_POINT = variant("empty clusters relocated to the farthest point", lloyd_step=_relocate_to_farthest_point)


def _float32_assign(X, C):
    X, C = np.asarray(X, np.float32), np.asarray(C, np.float32)
    return np.argmin(((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2), axis=1)


def _float32_lloyd_step(X, C):
    X, C = np.asarray(X, np.float32), np.asarray(C, np.float32)
    labels = _float32_assign(X, C)
    return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])


FLOAT32_ARITHMETIC = variant(
    "assignment and Lloyd steps in float32",
    dtype=np.float32,
    assign=_float32_assign,
    lloyd_step=_float32_lloyd_step,
)
