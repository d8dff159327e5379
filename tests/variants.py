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
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.backends import is_tensor

_BASE = {name: getattr(reference, name) for name in reference.__all__}
_BASE.update({name: getattr(probabilistic, name) for name in probabilistic.__all__})


def _composites_of(parts):
    """The composites ``variant`` rebuilds on replaced parts: kmeans on lloyd_step,
    kmeans_fit on kmeans and assign, anneal on soft_step."""
    built = set()
    if "lloyd_step" in parts:
        built |= {"kmeans", "kmeans_fit"}
    if {"assign", "kmeans"} & set(parts):
        built.add("kmeans_fit")
    if "soft_step" in parts:
        built.add("anneal")
    return built


def variant(name, *, dtype=np.float64, attributes=None, **replacements):
    """The reference with the functions in ``replacements`` replaced; ``name`` says how.

    ``dtype`` is the precision the variant computes in (the oracle reads it to set its
    allowances); ``attributes`` are further adapter attributes (``kinds``, ``tensors``,
    ``device``).
    """
    functions = {**_BASE, **replacements}
    implementation = types.SimpleNamespace(name=name, dtype=dtype, **(attributes or {}), **functions)
    # What differs from the reference: the replacements and the composites built on them.
    implementation.replaced = set(replacements) | _composites_of(replacements)
    if "kmeans" not in replacements:

        def kmeans(X, C0, n_iter):
            C = np.asarray(C0, dtype=np.float64)
            for _ in range(n_iter):
                C = implementation.lloyd_step(X, C)
            return C

        implementation.kmeans = kmeans
    if "kmeans_fit" not in replacements:

        def kmeans_fit(X, C0, n_iter):
            # The oracle's protocol: centres, the labels of those centres, the inertia (a sum).
            C = implementation.kmeans(X, C0, n_iter)
            labels = implementation.assign(X, C)
            return C, labels, float(_d(X, C)[np.arange(len(labels)), labels].sum())

        implementation.kmeans_fit = kmeans_fit
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
    # The bug: reads the runner-up column d[:, 1] (for a margin), which one centre lacks.
    d = _d(X, C)
    d[:, 1]
    return reference.assign(X, C)


CRASHES_ON_ONE_CENTRE = variant("reads d[:, 1] with one centre", assign=_crashes_on_one_centre)


def _empty_cluster_nan(X, C):
    # The bug: the mean of an empty cluster is 0/0.
    X, labels = np.asarray(X, dtype=np.float64), reference.assign(X, C)
    with np.errstate(invalid="ignore"):
        return np.stack([X[labels == k].sum(axis=0) / np.sum(labels == k) for k in range(len(C))])


EMPTY_CLUSTER_NAN = variant("empty cluster's mean 0/0", lloyd_step=_empty_cluster_nan)


def _scatter_means(X, r):
    # The bug: weighted means as sums / max(mass, 1), or sums / mass with empty groups set to
    # zero (torch_scatter.scatter_mean, index_add_ then where(count > 0)), so a centre
    # without mass lands on the origin (seen in real libraries).
    X = np.asarray(X, dtype=np.float64)
    mass = r.sum(axis=0)
    return np.where(mass[:, None] > 0, (r.T @ X) / np.where(mass > 0, mass, 1.0)[:, None], 0.0)


def _empty_cluster_to_origin(X, C):
    return _scatter_means(X, np.eye(len(C))[reference.assign(X, C)])


def _dead_centre_to_origin(X, C, temperature=None, kind="softmax"):
    return _scatter_means(X, reference.responsibilities(X, C, temperature, kind))


EMPTY_CLUSTER_TO_ORIGIN = variant(
    "empty cluster's centre sent to the origin", lloyd_step=_empty_cluster_to_origin, soft_step=_dead_centre_to_origin
)


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


def _unshifted_softmax_soft_step(X, C, temperature=None, kind="softmax"):
    if kind != "softmax":
        return reference.soft_step(X, C, temperature, kind)
    _, _, r = _naive_weights(X, C, temperature)
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN rows and 0/0, silently
        return (r.T @ np.asarray(X, dtype=np.float64)) / r.sum(axis=0)[:, None]


SOFTMAX_WITHOUT_SHIFT = variant(
    "softmax without the max-shift",
    responsibilities=_unshifted_softmax_responsibilities,
    objective=_unshifted_softmax_objective,
    free_energy=_unshifted_softmax_free_energy,
    soft_step=_unshifted_softmax_soft_step,
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
# The bug: the RBF width conversion T = 2 s^2 applied to a value that already was T (the
# Gaussian exp(-d / (2 sigma^2)) with sigma^2 read as T): logits -d/(2T), every soft
# function at 2T.
TEMPERATURE_DOUBLED = _temperature_variant("logits -d/(2T): RBF width sigma^2 read as T", lambda T: 2 * T)


def _unsquared_responsibilities(X, C, temperature=None, kind="hard"):
    # The bug: logits -||x - c|| / T, the distance instead of its square.
    if kind == "hard":
        return reference.responsibilities(X, C, temperature, kind)
    return _soft(kind, -np.sqrt(_d(X, C)) / temperature)


UNSQUARED_DISTANCES = variant("logits -||x - c|| / T", responsibilities=_unsquared_responsibilities)


def _logits_plus_d_over_T(X, C, temperature=None, kind="hard"):
    # The bug: logits +d/T (a sign lost between "distance" and "similarity").
    if kind == "hard":
        return reference.responsibilities(X, C, temperature, kind)
    d = _d(X, C)
    return _soft(kind, (d - d.max(axis=1, keepdims=True)) / temperature)


LOGITS_SIGN_FLIPPED = variant("logits +d/T", responsibilities=_logits_plus_d_over_T)


def _entmax15_rows_by(entmax_map):
    """A ``responsibilities`` whose entmax15 rows are ``entmax_map`` of the shifted logits."""

    def responsibilities(X, C, temperature=None, kind="hard"):
        if kind != "entmax15":
            return reference.responsibilities(X, C, temperature, kind)
        d = _d(X, C)
        return entmax_map(-(d - d.min(axis=1, keepdims=True)) / temperature)

    return responsibilities


_sparse_responsibilities = _entmax15_rows_by(reference.sparsemax)


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

# The bug: the logits not scaled by alpha - 1 = 1/2 (the scaling of sparsemax, alpha = 2,
# kept for alpha = 1.5): 1.5-entmax of 2z, the rows of half the temperature.
ENTMAX_ALPHA2_SCALING = variant(
    "entmax15 with the alpha=2 scaling", responsibilities=_entmax15_rows_by(lambda Z: reference.entmax15(2 * Z))
)


def _floored_entmax15(Z):
    # The bug: a floor added to every probability "to keep logs finite", renormalised.
    p = reference.entmax15(Z) + 1e-9
    return p / p.sum(axis=-1, keepdims=True)


ENTMAX_FLOORED = variant("entmax15 floored at 1e-9", responsibilities=_entmax15_rows_by(_floored_entmax15))


def _entmax15_shifted_by_the_mean(Z):
    # The bug: shifts by the row mean, which is -inf when an entry is -inf.
    Z = np.asarray(Z, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        shifted = Z - Z.mean(axis=-1, keepdims=True)
    return reference._entmax15(shifted)


ENTMAX_NAN_ON_MINUS_INF = variant("entmax15 shifted by the row mean", entmax15=_entmax15_shifted_by_the_mean)


# --- objectives and free energy ------------------------------------------------------------


def _summed(function):
    # The bug: sum_i instead of (1/N) sum_i.
    def summed(X, C, *args, **kwargs):
        return len(X) * function(X, C, *args, **kwargs)

    return summed


# For J and L_T alike.
OBJECTIVE_SUMMED = variant("objective summed instead of averaged", objective=_summed(reference.objective))


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

# The bug: the gradients of the summed objective used with the step N/(2 n_k) of the mean
# convention: every gradient step overshoots N-fold.
GRADIENTS_SUMMED = variant(
    "gradients of the summed objective",
    gradient=_summed(reference.gradient),
    free_energy_gradient=_summed(reference.free_energy_gradient),
)


def _soft_step_without_column_rescaling(X, C, temperature=None, kind="softmax"):
    # The bug: the weighted mean of the plain responsibilities; where a whole column
    # underflows, the centre "has no mass" and stays.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    r = reference.responsibilities(X, C, temperature, kind)
    mass = r.sum(axis=0)
    means = (r.T @ X) / np.where(mass > 0, mass, 1.0)[:, None]
    return np.where(mass[:, None] > 0, means, C)


SOFT_STEP_UNDERFLOWS = variant("soft step of the plain responsibilities", soft_step=_soft_step_without_column_rescaling)


def _soft_step_reset_dead_units(X, C, temperature=None, kind="softmax"):
    # The bug: a centre without mass re-initialised on a data point (a codebook reset in the
    # style of VQ-VAE).
    X = np.asarray(X, dtype=np.float64)
    step = reference.soft_step(X, C, temperature, kind)
    mass = reference.responsibilities(X, C, temperature, kind).sum(axis=0)
    step[mass == 0] = X[0]
    return step


DEAD_CENTRE_RESET = variant("dead units reset to a data point", soft_step=_soft_step_reset_dead_units)


def _soft_step_is_lloyds(X, C, temperature=None, kind="softmax"):
    # The bug: a "soft" step that decides ties to the lowest index (argmax of r with hard
    # assignment), i.e. Lloyd's step whatever T.
    return reference.lloyd_step(X, C)


SOFT_STEP_IS_LLOYDS = variant("soft step = Lloyd step, ties to the lowest index", soft_step=_soft_step_is_lloyds)


def _soft_step_always_softmax(X, C, temperature=None, kind="softmax"):
    # The bug: the kind argument is ignored and softmax is used for entmax15 too.
    return reference.soft_step(X, C, temperature, "softmax")


KIND_IGNORED = variant("kind ignored", soft_step=_soft_step_always_softmax)


def _soft_step_dropping_small_weights(X, C, temperature=None, kind="softmax"):
    # The bug: responsibilities below 1e-3 set to 0 and the rows renormalised, to make the
    # soft step sparse (an approximation that moves fixed points and changes their stability).
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    r = reference.responsibilities(X, C, temperature, kind)
    r = np.where(r < 1e-3, 0.0, r)
    r /= r.sum(axis=1, keepdims=True)
    mass = r.sum(axis=0)
    means = (r.T @ X) / np.where(mass > 0, mass, 1.0)[:, None]
    return np.where(mass[:, None] > 0, means, C)


SMALL_WEIGHTS_DROPPED = variant("responsibilities below 1e-3 dropped", soft_step=_soft_step_dropping_small_weights)


# --- annealing and trajectories ------------------------------------------------------------


def _anneal_pruning_dead_units(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    # The bug: a centre that once had zero mass is pruned (frozen and excluded) for good.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C0, dtype=np.float64).copy()
    alive = np.ones(len(C), dtype=bool)
    trajectory = [C.copy()]
    for temperature in temperatures:
        for _ in range(steps_per_temperature):
            r = reference.responsibilities(X, C[alive], temperature, kind)
            alive_indices = np.flatnonzero(alive)
            mass = r.sum(axis=0)
            C[alive_indices[mass > 0]] = (r.T @ X)[mass > 0] / mass[mass > 0][:, None]
            alive[alive_indices[mass == 0]] = False
            trajectory.append(C.copy())
    return np.stack(trajectory)


DEAD_CENTRES_PRUNED = variant("dead units pruned for good", anneal=_anneal_pruning_dead_units)


def _anneal_at_the_first_temperature(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    # The bug: the schedule is read once, T = temperatures[0] is used for every step.
    return reference.anneal(X, C0, [temperatures[0]] * len(temperatures), kind, steps_per_temperature)


ANNEAL_IGNORES_THE_SCHEDULE = variant("anneal ignores the schedule", anneal=_anneal_at_the_first_temperature)


def _anneal_last_state_only(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    # The bug: the function returns the final centres instead of the whole trajectory.
    return reference.anneal(X, C0, temperatures, kind, steps_per_temperature)[-1]


ANNEAL_RETURNS_THE_LAST_STATE = variant("anneal returns the last state", anneal=_anneal_last_state_only)


# --- the mixture and annealing (kmeans_rbf.probabilistic) ---------------------------------


def _em_step_without_renormalising(X, means, variance, n_nearest):
    # The bug: the posterior restricted to K_i but not renormalised on it, so each point
    # weighs by its full-posterior mass on K_i (< 1) instead of 1.
    X, means = np.asarray(X, dtype=np.float64), np.asarray(means, dtype=np.float64)
    d = _d(X, means)
    q = np.where(probabilistic._in_nearest(d, n_nearest), reference.responsibilities(X, means, 2 * variance, "softmax"), 0.0)
    new_means = reference._weighted_means(X, means, q)
    return new_means, float(np.sum(q * _d(X, new_means))) / X.size


POSTERIOR_NOT_RENORMALISED = variant("q not renormalised", truncated_em_step=_em_step_without_renormalising)


def _em_step_means_over_n(X, means, variance, n_nearest):
    # The bug: the M-step means divided by the number of points N instead of the mass n_k.
    X = np.asarray(X, dtype=np.float64)
    q = probabilistic.truncated_posterior(X, means, variance, n_nearest)
    new_means = q.T @ X / len(X)
    return new_means, float(np.sum(q * _d(X, new_means))) / X.size


EM_MEANS_OVER_N = variant("means over N", truncated_em_step=_em_step_means_over_n)


def _em_step_variance_at_the_old_means(X, means, variance, n_nearest):
    # The bug: the variance update computed with the distances to the old means.
    X = np.asarray(X, dtype=np.float64)
    new_means, _ = probabilistic.truncated_em_step(X, means, variance, n_nearest)
    q = probabilistic.truncated_posterior(X, means, variance, n_nearest)
    return new_means, float(np.sum(q * _d(X, means))) / X.size


VARIANCE_AT_THE_OLD_MEANS = variant("variance at old means", truncated_em_step=_em_step_variance_at_the_old_means)


def _exponent_without_the_half(function):
    # The bug: the component density written exp(-d / sigma^2): the E-step (and everything
    # downstream) then sees the variance sigma^2 / 2.
    def wrong(X, means, variance, *args):
        return function(X, means, variance / 2, *args)

    return wrong


EXPONENT_WITHOUT_THE_HALF = variant(
    "exp(-d / sigma^2)",
    truncated_posterior=_exponent_without_the_half(probabilistic.truncated_posterior),
    truncated_em_step=_exponent_without_the_half(probabilistic.truncated_em_step),
)


def _free_energy_normaliser_without_d(X, means, variance, n_nearest):
    # The bug: the normaliser of the D-dimensional Gaussian written as -(1/2) log(2 pi s).
    D = np.shape(X)[1]
    return probabilistic.truncated_free_energy(X, means, variance, n_nearest) + 0.5 * (D - 1) * np.log(2 * np.pi * variance)


NORMALISER_WITHOUT_D = variant("normaliser without D", truncated_free_energy=_free_energy_normaliser_without_d)


def _log_likelihood_without_prior(X, means, variance):
    # The bug: the mixture density summed without the prior 1/K.
    return probabilistic.log_likelihood(X, means, variance) + np.log(len(means))


LIKELIHOOD_WITHOUT_PRIOR = variant("no prior 1/K", log_likelihood=_log_likelihood_without_prior)


def _soft_step_with_rbf_activations(X, C, temperature=None, kind="softmax"):
    # The bug: centres weighted by the raw RBF activations exp(-d/T), not normalised per
    # point into responsibilities (computed per column in the log domain, so it is defined).
    X = np.asarray(X, dtype=np.float64)
    d = _d(X, C)
    w = np.exp(-(d - d.min(axis=0)) / temperature)
    return w.T @ X / w.sum(axis=0)[:, None]


SOFT_STEP_WITH_RBF_ACTIVATIONS = variant("RBF activations", soft_step=_soft_step_with_rbf_activations)


def _free_energy_without_t(X, C, temperature=None, kind="softmax"):
    # The bug: the free energy without its factor T, -(1/N) sum_i log sum_k exp(-d_ik / T).
    # Computed by torch on tensors (the checks that differentiate it with autograd pass
    # tensors), by the reference otherwise.
    if is_tensor(C):
        from kmeans_rbf import torch as krbf_torch

        return krbf_torch.free_energy(X, C, temperature, kind) / temperature
    return reference.free_energy(X, C, temperature, kind) / temperature


FREE_ENERGY_WITHOUT_T = variant("free energy without its factor T", free_energy=_free_energy_without_t)


def _critical_temperature_not_centred(X):
    # The bug: the second-moment matrix about the origin, X^T X / N, instead of the covariance.
    X = np.asarray(X, dtype=np.float64)
    return 2.0 * float(np.linalg.eigvalsh(X.T @ X / len(X))[-1])


COVARIANCE_NOT_CENTRED = variant("covariance not centred", critical_temperature=_critical_temperature_not_centred)


def _critical_temperature_unbiased(X):
    # The bug: np.cov's default normalisation N - 1.
    X = np.asarray(X, dtype=np.float64)
    return 2.0 * float(np.linalg.eigvalsh(np.atleast_2d(np.cov(X, rowvar=False)))[-1])


COVARIANCE_OVER_N_MINUS_1 = variant("covariance over N - 1", critical_temperature=_critical_temperature_unbiased)


def _critical_temperature_of_the_variance(X):
    # The bug: T and sigma^2 mixed up, T_c = lambda_max (the threshold in sigma^2).
    return probabilistic.critical_temperature(X) / 2


CRITICAL_TEMPERATURE_OF_THE_VARIANCE = variant("T_c = lambda_max", critical_temperature=_critical_temperature_of_the_variance)


# --- the oracle zoo: scale, cancellation, near-ties, shapes, refusals, mutation -----------


def _expansion(X, C, dtype):
    """``|x|^2 - 2 x.c + |c|^2`` in ``dtype``, from the origin (what BLAS-based code does)."""
    X, C = np.asarray(X, dtype=dtype), np.asarray(C, dtype=dtype)
    return (X * X).sum(axis=1)[:, None] - 2 * X @ C.T + (C * C).sum(axis=1)[None, :]


def _expansion_assign(dtype):
    def assign(X, C):
        # The bug: the expansion far from the origin loses u |x|^2: farther centres win.
        return np.argmin(_expansion(X, C, dtype), axis=1)

    return assign


def _expansion_lloyd_step(dtype):
    def lloyd_step(X, C):
        return _cell_means(X, C, _expansion_assign(dtype)(X, C)).astype(dtype)

    return lloyd_step


EXPANSION_FLOAT64 = variant(
    "distances by expansion in float64, not centred",
    assign=_expansion_assign(np.float64),
    lloyd_step=_expansion_lloyd_step(np.float64),
)
EXPANSION_FLOAT32 = variant(
    "distances by expansion in float32, not centred",
    dtype=np.float32,
    assign=_expansion_assign(np.float32),
    lloyd_step=_expansion_lloyd_step(np.float32),
)


def _cdist_responsibilities(X, C, temperature=None, kind="hard"):
    # The bug: torch.cdist switches to the matrix-product formula above 25 points, which
    # loses u |x|^2 far from the origin; squared and divided by T, that moves the logits.
    import torch

    d = torch.cdist(torch.as_tensor(np.asarray(X, dtype=np.float64)), torch.as_tensor(np.asarray(C, dtype=np.float64))) ** 2
    z = -(d - d.min(dim=1, keepdim=True).values) / temperature
    if kind == "softmax":
        return torch.softmax(z, dim=1).numpy()
    if kind == "hard":
        return np.eye(len(C))[d.argmin(dim=1).numpy()]
    return getattr(reference, kind)(z.numpy())


CDIST_SOFT_KMEANS = variant("squared torch.cdist for the distances", responsibilities=_cdist_responsibilities)


def _eps_distances(X, C):
    # The bug: torch's pairwise_distance adds eps = 1e-6 to every difference (x - c + eps),
    # which biases the distances by 2 eps sum(x - c) and decides near-ties wrongly.
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    return np.sum((X[:, None, :] - C[None, :, :] + 1e-6) ** 2, axis=2)


EPS_IN_DISTANCES = variant(
    "eps = 1e-6 added to every difference",
    assign=lambda X, C: np.argmin(_eps_distances(X, C), axis=1),
    lloyd_step=lambda X, C: _cell_means(X, C, np.argmin(_eps_distances(X, C), axis=1)),
)


def _responsibilities_transposed_when_square(X, C, temperature=None, kind="hard"):
    # The bug: normalises over axis 0 (the points) when the matrix is square: a transposed
    # layout "fixed" for the case where the shapes happen to agree.
    if kind == "hard" or len(X) != len(C):
        return reference.responsibilities(X, C, temperature, kind)
    z = -reference.squared_distances(X, C) / temperature
    return getattr(reference, kind)((z - z.max(axis=0, keepdims=True)).T).T


WRONG_AXIS_WHEN_SQUARE = variant("normalised over the points when N == K", responsibilities=_responsibilities_transposed_when_square)


def _no_update_with_an_empty_cluster(X, C):
    # The bug: gives up the whole step when a cluster is empty (returns C unchanged).
    if len(np.unique(reference.assign(X, C))) < len(C):
        return np.array(C, dtype=np.float64)
    return reference.lloyd_step(X, C)


NO_UPDATE_WITH_AN_EMPTY_CLUSTER = variant("no centre updated when one cluster is empty", lloyd_step=_no_update_with_an_empty_cluster)


def _refusing_one_centre(function):
    def refusing(X, C, *args, **kwargs):
        if len(C) == 1:
            raise ValueError("n_clusters must be at least 2")
        return function(X, C, *args, **kwargs)

    return refusing


# The bug: refuses K = 1 (a documented limitation), and returns NaN for empty clusters; a
# refusal must not hide the NaN.
REFUSES_ONE_CENTRE_NAN_ON_EMPTY = variant(
    "refuses K = 1; empty cluster 0/0",
    assign=_refusing_one_centre(reference.assign),
    lloyd_step=_refusing_one_centre(_empty_cluster_nan),
)


def _squeezed_lloyd_step(X, C):
    # The bug: refuses K > N, and squeezes the result, which loses the feature axis when D == 1.
    if len(C) > len(X):
        raise ValueError("n_samples must be >= n_clusters")
    return np.squeeze(reference.lloyd_step(X, C))


REFUSES_MORE_CENTRES_SQUEEZES_ONE_FEATURE = variant("refuses K > N; squeezes D = 1", lloyd_step=_squeezed_lloyd_step)


def _lloyd_step_in_place(X, C):
    # The bug: writes the new centres into the caller's array.
    C[...] = reference.lloyd_step(X, C)
    return C


MUTATES_CENTRES = variant("Lloyd step written into C", lloyd_step=_lloyd_step_in_place)


def _entmax15_in_place(Z):
    # The bug: subtracts the row maximum in place, changing the caller's logits.
    Z -= Z.max(axis=-1, keepdims=True)
    return reference.entmax15(Z)


MUTATES_LOGITS = variant("logits shifted in place", entmax15=_entmax15_in_place)


def _labels_before_the_last_update(X, C0, n_iter):
    # The bug: returns the labels that produced the last update, not those of the final centres.
    C, labels = np.asarray(C0, dtype=np.float64), reference.assign(X, C0)
    for _ in range(n_iter):
        labels = reference.assign(X, C)
        C = reference.lloyd_step(X, C)
    return C, labels, float(_d(X, C)[np.arange(len(labels)), labels].sum())


LABELS_BEFORE_THE_LAST_UPDATE = variant("labels of the centres before the last update", kmeans_fit=_labels_before_the_last_update)


def _inertia_as_a_mean(X, C0, n_iter):
    # The bug: the inertia as a mean over points, where a sum is documented.
    C = reference.kmeans(X, C0, n_iter)
    labels = reference.assign(X, C)
    return C, labels, float(_d(X, C)[np.arange(len(labels)), labels].mean())


INERTIA_AS_A_MEAN = variant("inertia averaged instead of summed", kmeans_fit=_inertia_as_a_mean)


def _at_least_one_iteration(X, C0, n_iter):
    # The bug: range(max(n_iter, 1)): asked for no iteration, runs one.
    return reference.kmeans(X, C0, max(n_iter, 1))


ZERO_ITERATIONS_RUN_ONE = variant("n_iter = 0 runs one step", kmeans=_at_least_one_iteration)


def _restart_at_the_mean_on_empty(X, C0, n_iter):
    # The bug: when a cluster empties mid-run, every centre restarts at the data mean.
    C = np.asarray(C0, dtype=np.float64)
    for _ in range(n_iter):
        if len(np.unique(reference.assign(X, C))) < len(C):
            C = np.repeat(np.mean(X, axis=0, keepdims=True), len(C), axis=0)
        C = reference.lloyd_step(X, C)
    return C


RESTARTS_WHEN_A_CLUSTER_EMPTIES = variant("all centres reset to the mean when one empties", kmeans=_restart_at_the_mean_on_empty)


def _soft_step_unnormalised(X, C, temperature=None, kind="softmax"):
    # The bug: sum_i r_ik x_i without dividing by n_k.
    r = reference.responsibilities(X, C, temperature, kind)
    return r.T @ np.asarray(X, dtype=np.float64)


SOFT_STEP_UNNORMALISED = variant("soft step without dividing by n_k", soft_step=_soft_step_unnormalised)


def _sparsemax_off_by_one(Z):
    # The bug: the threshold (cumsum - 1) / (k + 1) instead of / k.
    Z = np.asarray(Z, dtype=np.float64)
    u = Z - Z.max(axis=-1, keepdims=True)
    u_sorted = -np.sort(-u, axis=-1)
    k = np.arange(1, u.shape[-1] + 1)
    tau_k = (np.cumsum(u_sorted, axis=-1) - 1) / (k + 1)
    support = np.sum(tau_k < u_sorted, axis=-1, keepdims=True)
    tau = np.take_along_axis(tau_k, support - 1, axis=-1)
    return np.maximum(u - tau, 0.0)


SPARSEMAX_OFF_BY_ONE = variant("sparsemax threshold over k + 1", sparsemax=_sparsemax_off_by_one)
ENTMAX_FOR_SPARSEMAX = variant("entmax15 in place of sparsemax", sparsemax=reference.entmax15)


def _entmax15_ignoring_the_axis(Z, dim=-1):
    # The bug: accepts dim and ignores it (always the last axis).
    return reference.entmax15(Z)


AXIS_IGNORED = variant("entmax15(Z, dim) on the last axis whatever dim", entmax15=_entmax15_ignoring_the_axis)


def _float16_softmax_responsibilities(X, C, temperature=None, kind="hard"):
    # The bug: exp(-d/T) computed in float16 without the shift: underflows to 0/0 below
    # e^-17, so any temperature well below the distances gives NaN.
    if kind != "softmax":
        return reference.responsibilities(X, C, temperature, kind).astype(np.float16)
    with np.errstate(under="ignore", invalid="ignore", over="ignore", divide="ignore"):
        e = np.exp((-_d(X, C) / temperature).astype(np.float16))
        return e / e.sum(axis=1, keepdims=True)


FLOAT16_WITHOUT_SHIFT = variant(
    "float16 softmax without the shift", dtype=np.float16, responsibilities=_float16_softmax_responsibilities,
    attributes={"kinds": {"responsibilities": ("softmax",)}},
)


def _features_in_one_tile(X, C):
    # The bug: a tiled kernel that reads only the first tile of 512 features.
    return reference.assign(np.asarray(X)[:, :512], np.asarray(C)[:, :512])


FEATURES_BEYOND_ONE_TILE_IGNORED = variant("features beyond 512 ignored", assign=_features_in_one_tile)


def _chunks_without_the_tail(X, C):
    # The bug: points in chunks of 1024, the last partial chunk forgotten (labels 0 there).
    labels = np.zeros(len(X), dtype=np.int64)
    whole = len(X) // 1024 * 1024
    if whole:
        labels[:whole] = reference.assign(np.asarray(X)[:whole], C)
    return labels if whole else reference.assign(X, C)


LAST_CHUNK_DROPPED = variant("the last partial chunk of 1024 points is not assigned", assign=_chunks_without_the_tail)


def _gradient_wrong_sign(X, C, temperature=None, kind="hard"):
    # The bug: d||x - c||^2/dc taken as 2 (x - c).
    return -reference.gradient(X, C, temperature, kind)


GRADIENT_WRONG_SIGN = variant("gradient with the wrong sign", gradient=_gradient_wrong_sign)


def _objective_unsquared(X, C, temperature=None, kind="hard"):
    # The bug: J from distances, not squared distances.
    if kind != "hard":
        return reference.objective(X, C, temperature, kind)
    return float(np.mean(np.sqrt(_d(X, C).min(axis=1))))


OBJECTIVE_UNSQUARED = variant("J of unsquared distances", objective=_objective_unsquared)


def _tensor_variant(name, dtype, **replacements):
    """kmeans_rbf.torch as a tensor adapter (the oracle sends tensors), some functions replaced."""
    from kmeans_rbf import torch as krbf_torch

    functions = {f: getattr(krbf_torch, f) for f in ("assign", "lloyd_step", "kmeans", "responsibilities",
                                                     "soft_step", "objective", "gradient", "entmax15", "sparsemax")}
    functions.update(replacements)
    return types.SimpleNamespace(name=name, dtype=dtype, tensors=True, device="cpu", replaced=set(functions), **functions)


def _float32_result(function):
    def wrapped(*args):
        return function(*args).float()

    return wrapped


# The bug: a tensor library that returns float32 whatever the input dtype.
TENSOR_RESULT_IN_FLOAT32 = _tensor_variant(
    "float32 results for float64 tensors", "float64", lloyd_step=_float32_result(krbf_torch.lloyd_step)
)


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


def _centred_expansion_assign(dtype):
    def assign(X, C):
        # The expansion on data centred at its mean, in the dtype, then every row whose two
        # smallest distances are within the expansion's error bound re-decided exactly from
        # the differences in float64 (X and C hold dtype values, exact in float64).
        X, C = np.asarray(X, dtype=dtype), np.asarray(C, dtype=dtype)
        mean = X.mean(axis=0)
        Xc, Cc = X - mean, C - mean
        d = _expansion(Xc, Cc, dtype).astype(np.float64)
        size = np.linalg.norm(Xc, axis=1)[:, None] + np.linalg.norm(Cc, axis=1)[None, :]
        bound = 4 * (X.shape[1] + 4) * np.finfo(dtype).eps * size.astype(np.float64) ** 2
        labels = np.argmin(d, axis=1)
        near = np.any((d <= d.min(axis=1, keepdims=True) + 2 * bound) & (np.arange(len(C)) != labels[:, None]), axis=1)
        if near.any():
            labels[near] = reference.assign(X[near].astype(np.float64), C.astype(np.float64))
        return labels

    return assign


def _centred_expansion_lloyd_step(dtype):
    def lloyd_step(X, C):
        X, C = np.asarray(X, dtype=dtype), np.asarray(C, dtype=dtype)
        labels = _centred_expansion_assign(dtype)(X, C)
        return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])

    return lloyd_step


CAREFUL_EXPANSION_FLOAT32 = variant(
    "float32 expansion, centred, near-ties re-decided exactly",
    dtype=np.float32,
    assign=_centred_expansion_assign(np.float32),
    lloyd_step=_centred_expansion_lloyd_step(np.float32),
)
CAREFUL_EXPANSION_FLOAT64 = variant(
    "float64 expansion, centred, near-ties re-decided exactly",
    assign=_centred_expansion_assign(np.float64),
    lloyd_step=_centred_expansion_lloyd_step(np.float64),
)


def _gradient_by_moments(X, C, temperature=None, kind="hard"):
    # 2 (n_k c_k - sum_i w_ik x_i) / N with w = r - J a: a standard, backward-stable form
    # whose result may cancel to 0 (it sums terms of size |c| and |x|, not |c - x|).
    X, C = np.asarray(X, dtype=np.float64), np.asarray(C, dtype=np.float64)
    d = reference.squared_distances(X, C)
    r = reference.responsibilities(X, C, temperature, kind)
    w = r
    if kind != "hard":
        w = r - reference._jacobian_vector_product(r, (d - d.min(axis=1, keepdims=True)) / temperature, kind)
    return 2.0 * (w.sum(axis=0)[:, None] * C - w.T @ X) / len(X)


GRADIENT_BY_MOMENTS = variant("gradient as 2 (n_k c_k - sum_i w_ik x_i) / N", gradient=_gradient_by_moments)


def _refusing_limitations(function, n_iter_position=None):
    def refusing(X, C, *rest):
        if len(C) > len(X):
            raise ValueError(f"n_samples={len(X)} should be >= n_clusters={len(C)}")
        if n_iter_position is not None and rest[n_iter_position] < 1:
            raise ValueError("max_iter must be at least 1")
        return function(X, C, *rest)

    return refusing


# Refuses fewer points than clusters and zero iterations, as scikit-learn does, and is
# right on everything it accepts: its verdicts are "refused", never "failed".
REFUSES_LIMITATIONS = variant(
    "refuses K > N and n_iter = 0",
    lloyd_step=_refusing_limitations(reference.lloyd_step),
    kmeans=_refusing_limitations(reference.kmeans, 0),
)

TORCH_TENSORS = _tensor_variant("kmeans_rbf.torch, tensors in and out", "float64")


def _entmax15_by_bisection(Z):
    # tau by bisection to the last bit (64 halvings of [max - 1, max]), then exact zeros
    # below it: another algorithm than the sort, correct to rounding.
    Z = np.asarray(Z, dtype=np.float64)
    u = (Z - Z.max(axis=-1, keepdims=True)) / 2
    low, high = np.full(Z.shape[:-1] + (1,), -1.0), np.zeros(Z.shape[:-1] + (1,))
    for _ in range(64):
        tau = (low + high) / 2
        mass = np.sum(np.maximum(u - tau, 0) ** 2, axis=-1, keepdims=True)
        low, high = np.where(mass >= 1, tau, low), np.where(mass >= 1, high, tau)
    return np.maximum(u - low, 0) ** 2 / np.sum(np.maximum(u - low, 0) ** 2, axis=-1, keepdims=True)


ENTMAX_BY_BISECTION = variant("entmax15 by bisection to the last bit", entmax15=_entmax15_by_bisection)

# kmeans_rbf.torch given float16 tensors: computes in float32 and rounds once, so within the
# float16 allowances (the oracle rounds the inputs to float16 first).
TORCH_FLOAT16 = _tensor_variant("kmeans_rbf.torch in float16", "float16")


# --- once judged wrongly by the oracle (docs/findings.md, O6 to O8; oracle_zoo.ORACLE_MENDED) ---


def _relocate_taking_points(X, C):
    # scikit-learn's policy (S6 in docs/findings.md): each empty cluster, in index order, takes
    # a distinct point, the farthest from its own centre among the cells that keep one, out
    # of its cell; then every cell's mean. Correct: the oracle accepts relocation onto a
    # point taken from its cell.
    X = np.asarray(X, dtype=np.float64)
    labels = reference.assign(X, C)
    own = _d(X, C)[np.arange(len(X)), labels]
    for k in range(len(C)):
        if np.any(labels == k):
            continue
        counts = np.bincount(labels, minlength=len(C))
        donors = np.flatnonzero(counts[labels] > 1)
        if len(donors):
            labels[donors[np.argmax(own[donors])]] = k
    return _cell_means(X, C, labels)


RELOCATE_TAKING_POINTS = variant("empty clusters take the farthest points from their cells", lloyd_step=_relocate_taking_points)


def _float32_soft_step(X, C, temperature, kind):
    # The reference's weights (per centre, in the log domain), the weighted means in float32:
    # within the float32 allowances, as a correct float32 implementation is.
    w = reference._softmax_column_weights(_d(X, C), temperature).astype(np.float32)
    means = (w.T @ np.asarray(X, dtype=np.float32)) / w.sum(axis=0)[:, None]
    return means.astype(np.float32)


FLOAT32_SOFT_STEP = variant("softmax soft step, weighted means in float32", dtype=np.float32,
                            attributes={"kinds": {"soft_step": ("softmax",)}}, soft_step=_float32_soft_step)


def _relocation_empties_its_donor(X, C):
    # The bug (scikit-learn's S1, simplified): an empty cluster takes the farthest point even
    # from a cell that has no other, and the cell so emptied is put at the origin.
    X = np.asarray(X, dtype=np.float64)
    labels = reference.assign(X, C)
    own = _d(X, C)[np.arange(len(X)), labels]
    empty = [k for k in range(len(C)) if not np.any(labels == k)]
    for k, i in zip(empty, np.argsort(-own)):
        labels[i] = k
    means = _cell_means(X, C, labels)
    means[[k for k in range(len(C)) if not np.any(labels == k)]] = 0.0
    return means


RELOCATION_EMPTIES_ITS_DONOR = variant("relocation empties its donor cell, which goes to the origin",
                                       lloyd_step=_relocation_empties_its_donor)
