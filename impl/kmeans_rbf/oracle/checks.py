"""The oracle's checks: each compares one capability of an implementation with the reference.

A check draws inputs with a Hypothesis strategy, calls the implementation (through a
``call`` function that returns NumPy arrays), and raises ``Defect`` with a sentence saying
what was expected and what came out. The allowances are those of
``kmeans_rbf.tolerances.error_bounds`` for the implementation's dtype: the inputs are
rounded to that dtype first and the reference is evaluated on the rounded values.

Legitimate differences are not defects: any nearest centre on an exact tie; keeping an
empty cluster's centre or relocating it (into the data's bounding box); float32 rounding
within the bound. Defects are wrong values, NaN or inf where the reference is finite,
wrong shapes or dtypes, exceptions on valid input and hangs.
"""

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from .. import reference
from ..assertions import Defect, assert_finite_floats, assert_within, expect
from ..backends import rounded
from ..kinds import KINDS, SOFT_KINDS
from ..strategies import datasets, problems, temperatures
from ..tolerances import MEANINGFUL, error_bounds, tolerance

__all__ = ["Check", "Defect", "Target", "CHECKS"]

@dataclass(frozen=True)
class Check:
    id: str
    capability: str
    description: str
    inputs: st.SearchStrategy
    verify: Callable  # verify(call, inputs, target) raises Defect; target: Target


@dataclass(frozen=True)
class Target:
    """What the checks know of the implementation: its dtype and the kinds it offers.

    ``kinds`` is the implementation's optional attribute: a sequence of kinds for every
    capability, or a mapping from capability name to its kinds.
    """

    dtype: np.dtype
    kinds: object = KINDS

    def offers(self, capability, kind):
        kinds = self.kinds.get(capability, KINDS) if isinstance(self.kinds, dict) else self.kinds
        return kind in kinds


def _offered(kind, target, capability):
    # An implementation that declares ``kinds`` is checked on those only, so that a kind it
    # lacks (scikit-learn has no 1.5-entmax) does not hide its defects in the others.
    assume(target.offers(capability, kind))


def _prepared(problem, dtype, kind):
    X, C, T = problem
    X, C = rounded(X, dtype), rounded(C, dtype)
    T = None if kind == "hard" else T
    bounds = error_bounds(X, C, T, kind, dtype)
    assume(tolerance(dtype, bounds["kappa"] ** 2) <= MEANINGFUL)
    return X, C, T, bounds


def _assume_enough_points(X, C):
    # Fewer points than centres is valid input, but several libraries refuse it: it has a
    # check of its own (lloyd_step.more-centres-than-points), so that a refusal does not
    # hide what the other checks would find.
    assume(len(X) >= len(C))


def _assume_clear_cells(X, C, bounds, allow_exact_ties=False):
    """No point within rounding of a tie (exact ties optionally allowed), no empty cell."""
    d = reference.squared_distances(X, C)
    gaps = reference._margins(d)
    near = gaps <= 8 * bounds["squared_distances"]
    if allow_exact_ties:
        near &= gaps > 0
    assume(not near.any())
    assume(len(np.unique(reference.assign(X, C))) == len(C))


# --- assign ----------------------------------------------------------------------------


def check_assign(call, inputs, target):
    dtype = target.dtype
    X, C, _, bounds = _prepared(inputs["problem"], dtype, "hard")
    labels = call("assign", X.astype(dtype), C.astype(dtype))
    expect(labels.shape == (len(X),), f"assign returned shape {labels.shape}; expected {(len(X),)}")
    expect(labels.dtype.kind in "iu", f"assign returned dtype {labels.dtype}; expected integers")
    expect(bool(np.all((labels >= 0) & (labels < len(C)))), f"assign returned labels outside [0, {len(C)}): {labels}")
    d = reference.squared_distances(X, C)
    chosen = d[np.arange(len(X)), labels]
    expect(
        bool(np.all(chosen <= d.min(axis=1) + bounds["squared_distances"])),
        f"assign chose a centre that is not a nearest one: labels {labels}, "
        f"nearest {reference.assign(X, C)} (any nearest is accepted on exact ties)",
    )


# --- lloyd_step and kmeans -------------------------------------------------------------


def check_lloyd_step(call, inputs, target):
    dtype = target.dtype
    X, C, _, bounds = _prepared(inputs["problem"], dtype, "hard")
    _assume_enough_points(X, C)
    _assume_clear_cells(X, C, bounds)
    actual = assert_finite_floats(call("lloyd_step", X.astype(dtype), C.astype(dtype)), "lloyd_step", C.shape)
    assert_within(actual, reference.lloyd_step(X, C), bounds["lloyd_step"], "lloyd_step")


def check_lloyd_step_ties(call, inputs, target):
    dtype = target.dtype
    # Exact ties on grid data: any nearest centre may take a tied point, so the step must
    # equal the means of *some* tie-consistent partition.
    X, C, _, bounds = _prepared(inputs["problem"], dtype, "hard")
    d = reference.squared_distances(X, C)
    nearest = d <= d.min(axis=1, keepdims=True)
    tied = np.flatnonzero(nearest.sum(axis=1) > 1)
    assume(0 < len(tied) <= 6)
    # Every centre owns an untied point, so no tie-breaking empties a cell (the empty-cell
    # policy, keep or relocate, is lloyd_step.empty-cluster's business).
    untied = nearest.sum(axis=1) == 1
    assume(np.all(nearest[untied].any(axis=0)))
    actual = assert_finite_floats(call("lloyd_step", X.astype(dtype), C.astype(dtype)), "lloyd_step", C.shape)
    labels = reference.assign(X, C)
    for choice in itertools.product(*(np.flatnonzero(nearest[i]) for i in tied)):
        labels[tied] = choice
        means = np.stack([X[labels == k].mean(axis=0) for k in range(len(C))])
        if np.all(np.abs(actual - means) <= bounds["lloyd_step"]):
            return
    raise Defect(
        f"lloyd_step on exact ties matches no tie-breaking (points {tied.tolist()} are tied)"
        f"\nimplementation:\n{actual}\nreference (ties to the lowest index):\n{reference.lloyd_step(X, C)}"
    )


def check_lloyd_step_empty(call, inputs, target):
    dtype = target.dtype
    # Data away from the origin, so that a centre moved to 0 is visibly wrong.
    X, C, _, bounds = _prepared(inputs["problem"], dtype, "hard")
    _assume_enough_points(X, C)
    assume(len(np.unique(reference.assign(X, C))) < len(C))
    _assert_kept_or_relocated(call, X, C, bounds, dtype)


def check_more_centres_than_points(call, inputs, target):
    dtype = target.dtype
    X, C, _, bounds = _prepared(inputs["problem"], dtype, "hard")
    assume(len(X) < len(C))
    _assert_kept_or_relocated(call, X, C, bounds, dtype)


def _assert_kept_or_relocated(call, X, C, bounds, dtype):
    actual = assert_finite_floats(call("lloyd_step", X.astype(dtype), C.astype(dtype)), "lloyd_step", C.shape)
    low, high = X.min(axis=0), X.max(axis=0)
    slack = bounds["lloyd_step"]
    kept = np.all(np.abs(actual - C) <= slack, axis=1)
    inside = np.all((actual >= low - slack) & (actual <= high + slack), axis=1)
    expect(
        bool(np.all(kept | inside)),
        "lloyd_step with an empty cluster put a centre neither where it was (keep) nor inside "
        f"the data's bounding box (relocate)\nimplementation:\n{actual}\ncentres before:\n{C}",
    )


def check_kmeans(call, inputs, target):
    dtype = target.dtype
    X, C0, _, bounds = _prepared(inputs["problem"], dtype, "hard")
    _assume_enough_points(X, C0)
    n_iter = inputs["n_iter"]
    C = C0
    for _ in range(n_iter):  # every step of the reference must be unambiguous
        _assume_clear_cells(X, C, error_bounds(X, C, None, "hard", dtype))
        C = reference.lloyd_step(X, C)
    actual = assert_finite_floats(call("kmeans", X.astype(dtype), C0.astype(dtype), n_iter), "kmeans", C0.shape)
    # Each step rounds afresh: the bound grows with the number of steps.
    bound = max(n_iter, 1) * error_bounds(X, C, None, "hard", dtype)["lloyd_step"]
    assert_within(actual, C, bound, f"kmeans(n_iter={n_iter})")


# --- soft responsibilities, maps, objective, gradient ---------------------------------


def check_responsibilities(call, inputs, target):
    dtype = target.dtype
    kind = inputs["kind"]
    _offered(kind, target, "responsibilities")
    X, C, T, bounds = _prepared(inputs["problem"], dtype, kind)
    actual = assert_finite_floats(call("responsibilities", X.astype(dtype), C.astype(dtype), T, kind), "responsibilities", (len(X), len(C)))
    expect(bool(np.all(actual >= -bounds["responsibilities"])), f"responsibilities are negative:\n{actual}")
    assert_within(actual, reference.responsibilities(X, C, T, kind), bounds["responsibilities"], f"responsibilities({kind})")


def check_objective(call, inputs, target):
    dtype = target.dtype
    kind = inputs["kind"]
    _offered(kind, target, "objective")
    X, C, T, bounds = _prepared(inputs["problem"], dtype, kind)
    actual = assert_finite_floats(np.asarray(call("objective", X.astype(dtype), C.astype(dtype), T, kind)).reshape(()), "objective", ())
    assert_within(actual, reference.objective(X, C, T, kind), bounds["objective"], f"objective({kind})")


def check_gradient(call, inputs, target):
    dtype = target.dtype
    kind = inputs["kind"]
    _offered(kind, target, "gradient")
    X, C, T, bounds = _prepared(inputs["problem"], dtype, kind)
    if kind == "hard":  # J is differentiable only away from ties
        assume(np.all(reference._margins(reference.squared_distances(X, C)) > 1e-3))
    actual = assert_finite_floats(call("gradient", X.astype(dtype), C.astype(dtype), T, kind), "gradient", C.shape)
    assert_within(actual, reference.gradient(X, C, T, kind), bounds["gradient"], f"gradient({kind})")


def _adversarial_rows():
    return st.sampled_from(
        [
            [0.0, 0.0, 0.0],  # all tied
            [1.0, 1.0, -1.0],  # tie at the top
            [0.0, -2.0, -2.0],  # gap exactly 2: one-hot
            [0.0, -1.0, -np.inf],  # an excluded entry
            [-np.inf, 3.0],
            [0.0, -1e6, 1e6],  # huge spread
            [1e300, 1e300 - 1e285],
            [5.0],  # one element
            [1e-300, 0.0, -1e-300],  # tiny spread: uniform
        ]
    )


def check_entmax15(call, inputs, target):
    dtype = target.dtype
    rows = np.atleast_2d(np.asarray(inputs["rows"], dtype=np.float64))
    with np.errstate(over="ignore"):  # 1e300 overflows float32: such a row is not an input for it
        Z = rows.astype(dtype)
    assume(np.all(np.isfinite(Z) | np.isneginf(rows)))
    Z64 = Z.astype(np.float64)
    expected = reference.entmax15(Z64)
    actual = assert_finite_floats(call("entmax15", Z), "entmax15", Z.shape)
    # entmax15 moves by at most (its Lipschitz constant 1) x the rounding of the shifted
    # logits, whose size is at most 2 on the support: no conditioning factor.
    assert_within(actual, expected, 2 * tolerance(dtype), "entmax15")
    expect(bool(np.all(actual[expected == 0] == 0)), f"entmax15 put mass outside the support:\n{actual}\nreference:\n{expected}")


_logit_rows = st.integers(1, 6).flatmap(
    lambda k: st.lists(st.lists(st.floats(-20, 20), min_size=k, max_size=k), min_size=1, max_size=4)
)

@st.composite
def _slow_starts(draw):
    """Centres on the K leftmost points of spread-out data: Lloyd needs several steps."""
    X = draw(datasets(n_points=st.integers(6, 24), geometry=st.sampled_from(["uniform", "overlapping"])))
    k = draw(st.integers(2, 4))
    C = X[np.argsort(X[:, 0], kind="stable")[:k]].copy()
    return X, C, 1.0


_KINDS = st.sampled_from(KINDS)
_SOFT = st.sampled_from(SOFT_KINDS)
_AWAY_FROM_ORIGIN = problems(data=datasets(geometry=st.sampled_from(["separated", "uniform"])).map(lambda X: X + 20.0))

CHECKS = [
    Check("assign.nearest", "assign", "labels are integers in [0, K) naming a nearest centre (any, on exact ties)",
          st.fixed_dictionaries({"problem": problems()}), check_assign),
    Check("lloyd_step.reference", "lloyd_step", "equals the reference where no point is near a tie and no cell is empty",
          st.fixed_dictionaries({"problem": problems()}), check_lloyd_step),
    Check("lloyd_step.ties", "lloyd_step", "on exact ties, equals the means of some tie-consistent partition",
          st.fixed_dictionaries({"problem": problems(data=datasets(geometry="grid"))}), check_lloyd_step_ties),
    Check("lloyd_step.empty-cluster", "lloyd_step", "an empty cluster's centre is kept or relocated into the data, never NaN or moved out",
          st.fixed_dictionaries({"problem": _AWAY_FROM_ORIGIN}), check_lloyd_step_empty),
    Check("lloyd_step.more-centres-than-points", "lloyd_step", "K > N is valid: the surplus centres are kept or relocated, no error",
          st.fixed_dictionaries({"problem": problems(n_clusters=st.integers(2, 6), data=datasets(n_points=st.integers(1, 4)))}), check_more_centres_than_points),
    Check("kmeans.reference", "kmeans", "n_iter Lloyd steps from C0 (n_iter 1 to 4) equal the reference",
          st.fixed_dictionaries({"problem": st.one_of(problems(), _slow_starts()), "n_iter": st.integers(1, 4)}), check_kmeans),
    Check("kmeans.zero-iterations", "kmeans", "n_iter = 0 is valid and returns C0",
          st.fixed_dictionaries({"problem": problems(), "n_iter": st.just(0)}), check_kmeans),
    Check("responsibilities.reference", "responsibilities", "softmax / entmax15 responsibilities equal the reference at T in [1e-4, 1e4]",
          st.fixed_dictionaries({"problem": problems(temperature=temperatures(min_value=1e-4, max_value=1e4)), "kind": _SOFT}), check_responsibilities),
    Check("responsibilities.extreme-temperature", "responsibilities", "finite and equal to the reference at T = 1e-12 and 1e12",
          st.fixed_dictionaries({"problem": problems(temperature=st.sampled_from([1e-12, 1e12])), "kind": _SOFT}), check_responsibilities),
    Check("entmax15.reference", "entmax15", "rows of logits map to the reference's 1.5-entmax",
          st.fixed_dictionaries({"rows": _logit_rows}), check_entmax15),
    Check("entmax15.adversarial", "entmax15", "ties, -inf entries, spreads of 1e6, huge and tiny values, one element",
          st.fixed_dictionaries({"rows": _adversarial_rows().map(lambda row: [row])}), check_entmax15),
    Check("objective.reference", "objective", "J, L_T (softmax, entmax15) equal the reference, means over points",
          st.fixed_dictionaries({"problem": problems(), "kind": _KINDS}), check_objective),
    Check("gradient.reference", "gradient", "the gradient of the objective, through the responsibilities, equals the reference",
          st.fixed_dictionaries({"problem": problems(), "kind": _KINDS}), check_gradient),
]
