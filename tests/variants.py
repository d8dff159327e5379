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
from kmeans_rbf.backends import is_tensor

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


def _softmax_over_points_objective(X, C, temperature=None, kind="hard"):
    # The bug: the softmax taken over the wrong axis (the points, dim=0), not the centres.
    if kind != "softmax":
        return reference.objective(X, C, temperature, kind)
    d = _d(X, C)
    r = reference.softmax((-(d - d.min(axis=0, keepdims=True)) / temperature).T).T
    return float(np.mean(np.sum(r * d, axis=1)))


SOFTMAX_OVER_POINTS = variant("softmax over the points instead of the centres", objective=_softmax_over_points_objective)


# --- gradients and steps -----------------------------------------------------------------


# The bug: the gradient at frozen responsibilities, without the term through r.
FROZEN_RESPONSIBILITIES = variant("gradient at frozen responsibilities", gradient=reference.free_energy_gradient)


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
