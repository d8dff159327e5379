"""Judge one output of an implementation against the exact result, entry by entry.

Each ``compare_*`` takes the inputs (already rounded to the implementation's dtype, as
float64), the implementation's output (NumPy) and its dtype, and raises ``Defect`` with a
message that names the entry, the value, the exact value and that entry's own allowance
(``kmeans_rbf.allowances``). Both tiers of the oracle, the small Hypothesis problems
(``checks``) and the seeded problems at scale (``scale``), use these.

What is never a defect: any label some backward-stable computation could give (exact and
near ties); for an empty cluster (no point in its cell, or no mass), keeping the centre or
relocating it inside the data's bounding box; rounding within the allowances. What always
is: NaN or inf where the exact result is finite, a wrong shape or kind of dtype, a value
beyond its allowance.
"""

import itertools
from dataclasses import dataclass

import numpy as np

from .. import reference
from ..allowances import (
    acceptable_labels,
    distance_allowances,
    frame,
    gamma,
    logit_allowances,
    map_allowances,
    responsibility_allowances,
    tiny,
    unit_roundoff,
)
from ..assertions import Defect, assert_finite_floats, assert_within, expect

__all__ = [
    "Problem",
    "Ambiguous",
    "exact_responsibilities",
    "compare_labels",
    "compare_lloyd_step",
    "Trajectory",
    "lloyd_trajectory",
    "compare_centres",
    "compare_centres_after",
    "compare_kmeans_fit",
    "compare_responsibilities",
    "compare_objective",
    "compare_gradient",
    "compare_soft_step",
    "compare_map",
]


class Ambiguous(Exception):
    """The exact result is not decided at this precision (e.g. a cell near a tie): the
    problem cannot judge an implementation, and is skipped (never compared loosely)."""


def _with_reference(allowance, dtype):
    return allowance(dtype) + allowance("float64")


@dataclass
class Problem:
    """Data X (N, D), centres C (K, D), a temperature, in float64 after rounding to ``dtype``."""

    X: np.ndarray
    C: np.ndarray
    temperature: float = None
    dtype: str = "float64"

    def __post_init__(self):
        self.d = reference._squared_distances(self.X, self.C)
        self.A = distance_allowances(self.X, self.C, self.dtype, self.d)

    @property
    def acceptable(self):
        """(N, K): the centres some backward-stable computation could call nearest."""
        return acceptable_labels(self.d, self.A)

    def clear_labels(self, centre_error=0.0):
        """The nearest centres, if no point is near a tie even with centres moved by up to
        ``centre_error`` (per centre, shape (K,) or a number); ``Ambiguous`` otherwise."""
        moved = 2 * np.sqrt(self.d) * centre_error + np.square(centre_error)
        acceptable = acceptable_labels(self.d, self.A + moved)
        if np.any(acceptable.sum(axis=1) > 1):
            raise Ambiguous("a point is within rounding of a tie")
        return np.argmax(acceptable, axis=1)


# --- the exact results -------------------------------------------------------------------


def exact_responsibilities(problem, kind):
    """``map(-d/T)`` of the reference, for every kind including sparsemax."""
    if kind == "hard":
        return reference._responsibilities(problem.d, None, "hard")
    logits = reference._logits(problem.d, problem.temperature)
    if kind == "sparsemax":
        return reference._sparsemax(logits)
    return reference._MAPS[kind](logits)


def _bounding_box(X, slack):
    return X.min(axis=0) - slack, X.max(axis=0) + slack


# --- labels and Lloyd ----------------------------------------------------------------------


def compare_labels(labels, problem, name="assign"):
    """Integer labels (N,) in [0, K), each naming an acceptable (nearest) centre."""
    labels = np.asarray(labels)
    N, K = problem.d.shape
    expect(labels.shape == (N,), f"{name} returned shape {labels.shape}; expected {(N,)}")
    expect(labels.dtype.kind in "iu", f"{name} returned dtype {labels.dtype}; expected integers")
    expect(bool(np.all((labels >= 0) & (labels < K))), f"{name} returned labels outside [0, {K}): {labels}")
    ok = problem.acceptable[np.arange(N), labels]
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        nearest = int(np.argmin(problem.d[i]))
        raise Defect(
            f"{name} gave point {i} the label {int(labels[i])} at distance {problem.d[i, labels[i]]:.17g}, "
            f"but centre {nearest} is at {problem.d[i, nearest]:.17g}: farther by more than both "
            f"allowances ({problem.A[i, labels[i]]:.3g} + {problem.A[i, nearest]:.3g}); "
            f"{int((~ok).sum())} of {N} labels are wrong"
        )


def _cell_means(X, C, labels):
    K = len(C)
    counts = np.bincount(labels, minlength=K).astype(np.float64)
    sums = np.zeros_like(C)
    np.add.at(sums, labels, X)
    magnitudes = np.zeros_like(C)
    np.add.at(magnitudes, labels, np.abs(X))
    filled = counts > 0
    means = np.where(filled[:, None], sums / np.maximum(counts, 1)[:, None], C)
    return means, counts, magnitudes


def lloyd_step_allowance(counts, magnitudes, M, dtype):
    """Per entry (K, D): the rounding of a cell mean (a sum of n_k terms, a division), on
    data that may have been translated by up to ``M`` (``allowances.frame``) and back."""
    mean_magnitude = magnitudes / np.maximum(counts, 1)[:, None] + 2 * M
    rounding = np.array([_with_reference(lambda dt: gamma(n + 3, dt), dtype) for n in counts])[:, None]
    return rounding * mean_magnitude + _with_reference(tiny, dtype)


def compare_lloyd_step(actual, problem, name="lloyd_step"):
    """One Lloyd step: every non-empty cell's mean; an empty cell's centre kept or relocated.

    Raises ``Ambiguous`` if a point is within rounding of a tie (use the ties check).
    """
    X, C = problem.X, problem.C
    labels = problem.clear_labels()
    means, counts, magnitudes = _cell_means(X, C, labels)
    allowance = lloyd_step_allowance(counts, magnitudes, frame(problem.X), problem.dtype)
    compare_centres(actual, means, allowance, X, C, counts == 0, name, labels, problem.dtype)


def compare_centres(actual, expected, allowance, X, C, empty, name, labels=None, dtype="float64"):
    """Centres (K, D): equal to ``expected`` within ``allowance`` where a cell has points;
    where ``empty``, kept (equal to C) or relocated into the bounding box of the data.

    With the Lloyd ``labels``, a relocation that *takes* its point from another cell (as
    scikit-learn does: the donor cell's mean is updated without it) is accepted too: the
    centres must then be the means of the partition with those points moved.
    """
    actual = assert_finite_floats(actual, name, expected.shape)
    filled = ~np.asarray(empty)
    finite = allowance[np.isfinite(allowance)]
    slack = (np.max(finite) if finite.size else 0.0) + _with_reference(tiny, "float64")
    if filled.any():
        try:
            assert_within(actual[filled], expected[filled], allowance[filled], f"{name} (the centres of non-empty cells)")
        except Defect:
            if labels is None or not _relocated_with_their_points(actual, X, C, labels, ~filled, slack, dtype):
                raise
            return
    if (~filled).any():
        kept = np.all(np.abs(actual - C) <= slack, axis=1)
        # A relocated centre is a weighted mean of data points, rounded like one.
        mean_rounding = _with_reference(lambda dt: gamma(len(X) + 3, dt), dtype) * 3 * frame(X)
        low, high = _bounding_box(X, slack + mean_rounding)
        inside = np.all((actual >= low) & (actual <= high), axis=1)
        bad = ~filled & ~(kept | inside)
        if bad.any():
            raise Defect(
                f"{name}: the centre of empty cell {int(np.flatnonzero(bad)[0])} is neither kept where it was "
                f"nor relocated into the data's bounding box\nimplementation:\n{actual}\ncentres before:\n{C}"
            )


def _relocated_with_their_points(actual, X, C, labels, empty, slack, dtype, most=256):
    """Whether the centres are the means of Lloyd's partition with, for each relocated
    empty cell, one data point (where its centre now is) moved into it from its cell; a
    cell that this emptied must itself be kept or relocated into the data's bounding box.

    Equal points of one cell are interchangeable, so the choices enumerated are of groups
    of equal points (with how many of each are taken), not of points: four centres
    relocated onto four copies of one value is one choice, not 7^4 tuples.
    """
    kept = np.all(np.abs(actual - C) <= slack, axis=1)
    relocated = np.flatnonzero(empty & ~kept)
    if not len(relocated):
        return False
    keys = np.column_stack([X, labels])
    groups, group_of, sizes = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    group_of = group_of.ravel()
    options = []
    for r in relocated:
        near = np.all(np.abs(X - actual[r]) <= slack, axis=1) & ~empty[labels]
        options.append(sorted(set(group_of[near].tolist())))
    for choice in itertools.islice(itertools.product(*options), most):
        taken = np.bincount(np.asarray(choice, dtype=np.int64), minlength=len(groups))
        if np.any(taken > sizes):
            continue
        moved = labels.copy()
        for r, group in zip(relocated, choice):
            available = np.flatnonzero((group_of == group) & (moved == labels))
            moved[available[0]] = r
        means, counts, magnitudes = _cell_means(X, C, moved)
        allowance = lloyd_step_allowance(counts, magnitudes, frame(X), dtype)
        if not np.all(np.abs(actual - means)[counts > 0] <= allowance[counts > 0]):
            continue
        emptied = counts == 0
        mean_rounding = _with_reference(lambda dt: gamma(len(X) + 3, dt), dtype) * 3 * frame(X)
        low, high = _bounding_box(X, slack + mean_rounding)
        inside = np.all((actual >= low) & (actual <= high), axis=1)
        if np.all(~emptied | kept | inside):
            return True
    return False


@dataclass
class Trajectory:
    """The exact Lloyd iterates from a problem's centres, as far as they are decided.

    ``centres`` after all steps with their per-entry ``allowance`` and the cells ``empty``
    at the last step; or, if a cell empties before the last step (keeping and relocating
    its centre then lead to different runs), ``decided`` is False and ``objective_bound``
    is J after the first step that empties a cell, with its centre kept: Lloyd's steps
    never increase J, whatever an empty centre does, so every later iterate is below it.
    """

    centres: np.ndarray
    allowance: np.ndarray
    empty: np.ndarray
    labels: np.ndarray = None  # the cells of the last step
    previous: np.ndarray = None  # the centres before the last step (what "kept" means)
    decided: bool = True
    objective_bound: float = np.inf


def lloyd_trajectory(problem, n_iter):
    """The exact Lloyd iterates from ``problem.C`` (see ``Trajectory``), computed once per
    problem and number of steps (kmeans and kmeans_fit judge the same run).

    Every step must be decided: each point's cell must stay the same under the centre
    errors an implementation may carry from the previous step (``Ambiguous`` otherwise). A
    step recomputes means from X, so the error of the final centres is one step's.
    """
    runs = problem.__dict__.setdefault("_trajectories", {})
    if n_iter not in runs:
        try:
            runs[n_iter] = _lloyd_trajectory(problem, n_iter)
        except Ambiguous as ambiguous:
            runs[n_iter] = ambiguous
    if isinstance(runs[n_iter], Ambiguous):
        raise runs[n_iter]
    return runs[n_iter]


def _lloyd_trajectory(problem, n_iter):
    C = problem.C
    error = 0.0
    allowance, empty = np.zeros_like(C), np.zeros(len(C), dtype=bool)
    for step in range(n_iter):
        previous = C
        labels = Problem(problem.X, C, None, problem.dtype).clear_labels(error)
        C, counts, magnitudes = _cell_means(problem.X, C, labels)
        allowance = lloyd_step_allowance(counts, magnitudes, frame(problem.X), problem.dtype)
        empty = counts == 0
        if empty.any() and step < n_iter - 1:
            after = Problem(problem.X, C, None, problem.dtype)
            bound = float(np.mean(after.d.min(axis=1) + after.A.max(axis=1))) * (1 + _with_reference(lambda dt: gamma(len(problem.X) + 2, dt), problem.dtype))
            return Trajectory(C, allowance, empty, labels, previous, decided=False, objective_bound=bound)
        error = np.sqrt(np.sum(allowance**2, axis=1))[None, :]
    return Trajectory(C, allowance, empty, labels, previous)


def compare_centres_after(actual, trajectory, problem, name):
    """Centres after a run: the decided iterates, or J below the bound of an undecided run."""
    if trajectory.decided:
        compare_centres(actual, trajectory.centres, trajectory.allowance, problem.X, trajectory.previous, trajectory.empty,
                        name, trajectory.labels, problem.dtype)
        return
    actual = assert_finite_floats(actual, name, problem.C.shape)
    final = Problem(problem.X, actual, None, problem.dtype)
    J = float(np.mean(final.d.min(axis=1)))
    expect(
        J <= trajectory.objective_bound,
        f"{name}: a cell empties during the run; whatever the policy for it, Lloyd's steps never "
        f"increase J, which must be at most {trajectory.objective_bound:.17g} by then; it is {J:.17g}",
    )


def compare_kmeans_fit(centres, labels, inertia, problem, n_iter, name="kmeans_fit"):
    """``kmeans_fit`` returns the centres after n_iter Lloyd steps, the labels *of those centres*
    and the inertia (the sum over points of the squared distance to the labelled centre)."""
    compare_centres_after(centres, lloyd_trajectory(problem, n_iter), problem, f"{name} centres")
    final = Problem(problem.X, np.asarray(centres, dtype=np.float64), None, problem.dtype)
    compare_labels(labels, final, f"{name} labels (of the returned centres)")
    inertia = assert_finite_floats(np.asarray(inertia).reshape(()), f"{name} inertia", ())
    N = len(problem.X)
    chosen = final.d[np.arange(N), np.asarray(labels)]
    exact = float(np.sum(chosen))
    slack = float(np.sum(final.A[np.arange(N), np.asarray(labels)])) + _with_reference(
        lambda dt: gamma(N + 2, dt), problem.dtype
    ) * exact + _with_reference(tiny, problem.dtype)
    expect(
        abs(float(inertia) - exact) <= slack,
        f"{name} inertia is {float(inertia):.17g}; the sum of squared distances of the points to their "
        f"labelled (returned) centres is {exact:.17g} (allowed {slack:.3g}). (A mean over points "
        f"would be {exact / N:.17g}.)",
    )


# --- soft quantities ---------------------------------------------------------------------


def _responsibility_allowance(problem, r, kind):
    if kind == "hard":  # any acceptable label: one-hot on one of them
        return None
    return responsibility_allowances(problem.d, problem.A, r, problem.temperature, kind, problem.dtype)


def compare_responsibilities(actual, problem, kind, name="responsibilities"):
    N, K = problem.d.shape
    r = exact_responsibilities(problem, kind)
    actual = assert_finite_floats(actual, f"{name}({kind})", (N, K))
    if kind == "hard":
        expect(bool(np.all((actual == 0) | (actual == 1)) and np.all(actual.sum(axis=1) == 1)),
               f"{name}(hard) is not one-hot:\n{actual}")
        compare_labels(np.argmax(actual, axis=1), problem, f"{name}(hard)")
        return
    assert_within(actual, r, _responsibility_allowance(problem, r, kind), f"{name}({kind})")


def compare_objective(actual, problem, kind, name="objective"):
    """``L_T = (1/N) sum_ik r_ik d_ik`` (``J`` for hard), a mean over points."""
    N, K = problem.d.shape
    actual = assert_finite_floats(np.asarray(actual).reshape(()), f"{name}({kind})", ())
    regret = problem.d - problem.d.min(axis=1, keepdims=True)
    rounding = _with_reference(lambda dt: gamma(N + K + 2, dt), problem.dtype)
    if kind == "hard":
        exact = float(np.mean(problem.d.min(axis=1)))
        worst = np.max(np.where(problem.acceptable, regret + problem.A, 0.0), axis=1)
        slack = float(np.mean(worst + problem.A.min(axis=1))) + rounding * exact
    else:
        r = exact_responsibilities(problem, kind)
        dr = _responsibility_allowance(problem, r, kind)
        exact = float(np.mean(np.sum(r * problem.d, axis=1)))
        # Rows sum to 1 within gamma(K + 2): sum_k dr_k d_k = sum_k dr_k regret_k + (sum dr) min d.
        row_sum = _with_reference(lambda dt: gamma(K + 2, dt), problem.dtype) * problem.d.min(axis=1)
        slack = float(np.mean(np.sum(dr * regret + r * problem.A, axis=1) + row_sum)) + rounding * exact
    slack += _with_reference(tiny, problem.dtype)
    expect(
        abs(float(actual) - exact) <= slack,
        f"{name}({kind}) is {float(actual):.17g}; exact {exact:.17g} (allowed {slack:.3g}). "
        f"(The sum over points would be {exact * N:.17g}.)",
    )


def _through_r_term(problem, r, kind):
    """The weights ``w = r - J a`` of the gradient of L_T and a bound on their error, (N, K).

    First order in the moves of r and of the regrets, with the second-order products kept;
    where the moves are not small (the rows are ill-conditioned) the bound is inf: those
    entries are not compared.
    """
    rho = (problem.d - problem.d.min(axis=1, keepdims=True)) / problem.temperature
    drho = logit_allowances(problem.d, problem.A, problem.temperature, problem.dtype)
    dr = _responsibility_allowance(problem, r, kind)
    s = r if kind == "softmax" else np.sqrt(r)
    if kind == "softmax":
        ds = dr
    else:
        delta = np.max(drho, axis=1, keepdims=True) + _with_reference(lambda dt: gamma(4 * r.shape[1] + 4, dt), problem.dtype)
        ds = np.where(r > 0, delta, np.sqrt(dr))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        rho = np.where(s > 0, rho, 0.0)  # weight 0: its regret (possibly inf) does not count
        total = s.sum(axis=1, keepdims=True)
        mean = np.sum(s * rho, axis=1, keepdims=True) / total
        w = r - s * (rho - mean)
        low = np.maximum(total - ds.sum(axis=1, keepdims=True), 0.0)
        dmean = (np.sum(ds * np.where(np.isfinite(rho), rho, 0.0), axis=1, keepdims=True)
                 + np.sum((s + ds) * np.where(s + ds > 0, drho, 0.0), axis=1, keepdims=True)
                 + np.abs(mean) * ds.sum(axis=1, keepdims=True)) / low
        dw = dr + ds * np.abs(rho - mean) + (s + ds) * (np.where(s + ds > 0, drho, 0.0) + dmean)
        ill = ~np.isfinite(dw) | (np.max(drho, axis=1, keepdims=True) > 0.1)
    return w, np.where(ill, np.inf, dw)


def _spread_sums(weights, X, centres):
    """An upper bound of ``sum_i weights_ik |x_i - c_k|`` (K, D), in O(N K + N D) memory.

    ``|x - c| <= |x - m| + |c - m|`` with m the data's mean: as tight as the exact sum when
    the data are around m, wherever m lies (translation does not loosen it).
    """
    m = X.mean(axis=0)
    with np.errstate(invalid="ignore", over="ignore"):
        return weights.T @ np.abs(X - m) + weights.sum(axis=0)[:, None] * np.abs(centres - m)


def compare_gradient(actual, problem, kind, name="gradient"):
    """``grad_C L_T = (2/N) sum_i w_ik (c_k - x_i)``, w = r - J a (through r); hard: J's."""
    X, C = problem.X, problem.C
    N, K = problem.d.shape
    if kind == "hard":
        labels = problem.clear_labels()
        w = np.eye(K)[labels]
        dw = np.zeros_like(w)
    else:
        w, dw = _through_r_term(problem, exact_responsibilities(problem, kind), kind)
    # The moments form: its own rounding (terms |w| (|c| + |x|)) is within the allowance.
    expected = (2.0 / N) * (w.sum(axis=0)[:, None] * C - w.T @ X)
    actual = assert_finite_floats(actual, f"{name}({kind})", C.shape)
    rounding = _with_reference(lambda dt: gamma(N + 3, dt), problem.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        # sum_i dw_ik |c_k - x_i| <= sum_i dw_ik (|c_k - m| + |x_i - m|), m the data's mean;
        # sum_i |w_ik| (|c_k| + |x_i|) exactly; both without an (N, K, D) array.
        allowance = (2.0 / N) * (
            _spread_sums(dw, X, C)
            + rounding * (np.abs(w).sum(axis=0)[:, None] * (np.abs(C) + 2 * frame(X)) + np.abs(w).T @ np.abs(X))
        ) + _with_reference(tiny, problem.dtype)
    allowance = np.where(np.isnan(allowance), np.inf, allowance)
    assert_within(actual, expected, allowance, f"{name}({kind})")


def compare_soft_step(actual, problem, kind, name="soft_step"):
    """``c_k <- sum_i r_ik x_i / n_k``; a centre whose mass may vanish is kept or relocated.

    softmax: the weights of centre k are ``r_ik`` up to a factor per centre, computed in the
    log domain by the reference (exact where every r_ik underflows); moving each logit by
    at most Delta_i moves r_ik by a factor within ``e^(+-2 Delta_i)``, so the weighted mean
    moves by at most ``sum_i eps_i w_ik |x_i - c_k'| / sum_i w_ik (1 - eps_i)``,
    ``eps_i = e^(2 Delta_i) - 1``. entmax15: the per-entry allowance of r, absolute.
    """
    X, C = problem.X, problem.C
    N, K = problem.d.shape
    rounding = _with_reference(lambda dt: gamma(N + K + 3, dt), problem.dtype)
    if kind == "softmax":
        w = reference._softmax_column_weights(problem.d, problem.temperature)
        delta = np.max(logit_allowances(problem.d, problem.A, problem.temperature, problem.dtype), axis=1)
        with np.errstate(over="ignore"):
            dw = w * np.expm1(np.minimum(2 * delta, 700.0))[:, None]
    else:
        w = exact_responsibilities(problem, kind)
        dw = _responsibility_allowance(problem, w, kind)
    expected = reference._weighted_means(X, C, w)
    low = w.sum(axis=0) - dw.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        spread = _spread_sums(dw, X, expected)
        terms = w.T @ (np.abs(X) + 2 * frame(X))
        allowance = np.where(low[:, None] > 0, (spread + rounding * terms) / low[:, None], np.inf)
    allowance = np.where(np.isnan(allowance), np.inf, allowance) + _with_reference(tiny, problem.dtype)
    compare_centres(actual, expected, allowance, X, C, ~(low > 0), f"{name}({kind})", dtype=problem.dtype)


# --- maps ----------------------------------------------------------------------------------


def compare_map(actual, Z, map_name, dtype, name=None):
    """``entmax15`` / ``sparsemax`` (or softmax) of the rows of Z on the last axis.

    The logits enter only through ``z - max z`` (the maps are shift invariant), which a
    stable implementation computes exactly for nearby floats: what it may get wrong is the
    rounding of the shifted logits of the support (at most 2 for entmax-1.5, 1 for
    sparsemax, in size) and of the threshold.
    """
    name = name or map_name
    Z = np.asarray(Z, dtype=np.float64)
    expected = getattr(reference, f"_{map_name}")(Z)
    actual = assert_finite_floats(actual, name, Z.shape)
    reach = {"entmax15": 2.0, "sparsemax": 1.0}.get(map_name, 0.0)
    delta = reach * (unit_roundoff(dtype) + unit_roundoff("float64"))
    assert_within(actual, expected, map_allowances(Z, expected, delta, map_name, dtype), name)
