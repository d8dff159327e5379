"""The oracle's checks on small problems: each draws inputs and judges one capability.

A check draws inputs with a Hypothesis strategy (random problems, mixed with the targeted
configurations of ``draws``), calls the implementation through ``call`` (which returns
NumPy arrays, and raises ``Refused`` when the implementation refuses the input with a clear
exception) and judges the output with ``comparisons``, which raise ``Defect``. The inputs
are rounded to the implementation's dtype first, and the exact result is that of the
rounded inputs.

The protocol (every method optional; an adapter has those its library offers):

* ``assign(X, C) -> labels (N,)``
* ``lloyd_step(X, C) -> C' (K, D)``, ``kmeans(X, C0, n_iter) -> C (K, D)``
* ``kmeans_fit(X, C0, n_iter) -> (C, labels, inertia)``: the centres after n_iter Lloyd steps, the
  labels of *those* centres and the inertia, the *sum* over points of the squared distance
  to the labelled centre (scikit-learn's ``inertia_``)
* ``responsibilities(X, C, temperature, kind) -> r (N, K)``, ``soft_step(X, C, temperature,
  kind) -> C'``, ``objective(X, C, temperature, kind) -> L_T`` (a mean over points; J for
  kind "hard"), ``gradient(X, C, temperature, kind) -> dL_T/dC``
* ``entmax15(Z)``, ``sparsemax(Z)`` on the last axis; with an ``axis`` or ``dim`` keyword,
  also on any axis
* attributes: ``dtype`` (float64, float32, float16, bfloat16: sets the allowances),
  ``kinds`` (a sequence, or a mapping from capability to sequence, of the kinds offered
  among "hard", "softmax", "entmax15", "sparsemax"; default the first three), ``name``,
  ``tensors = True`` and ``device`` for an adapter that takes and returns torch tensors.
"""

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from .. import reference
from ..allowances import frame
from ..assertions import Defect, assert_finite_floats, expect
from ..backends import rounded
from ..kinds import KINDS, MAPS
from ..strategies import datasets, problems, temperatures
from . import comparisons as compare
from .draws import (
    away_from_the_origin,
    one_cell_problems,
    problems_with_empty_cells,
    square_problems,
    starts_that_empty_a_cell,
)

__all__ = ["Check", "Defect", "Target", "Unjudgeable", "require", "CHECKS", "DEFAULT_KINDS", "ALL_KINDS", "PROTOCOL"]

PROTOCOL = ("assign", "lloyd_step", "kmeans", "kmeans_fit", "responsibilities", "soft_step",
            "objective", "gradient", "entmax15", "sparsemax")
DEFAULT_KINDS = KINDS
ALL_KINDS = ("hard",) + MAPS  # the kinds an implementation may offer: sparsemax too


@dataclass(frozen=True)
class Target:
    """What the checks know of the implementation: dtype, kinds offered, map keywords.

    ``kinds``: a sequence of kinds for every capability, or a mapping from capability name
    to its kinds (capabilities not in the mapping offer the default kinds).
    ``axis_keywords``: for each map that takes one, the name of its axis keyword.
    """

    dtype: str = "float64"
    kinds: object = DEFAULT_KINDS
    axis_keywords: dict = field(default_factory=dict)

    def offered(self, capability):
        if isinstance(self.kinds, dict):
            return tuple(self.kinds.get(capability, DEFAULT_KINDS))
        return tuple(self.kinds)


@dataclass(frozen=True)
class Check:
    """One check: ``verify(call, inputs, target)`` raises Defect; ``inputs(target)`` draws.

    ``kinds``: the kinds the check can exercise (it runs on those the target offers, and is
    "not provided" when it offers none of them); empty for checks without a kind.
    ``requires``: a further condition on the target (e.g. a map with an axis keyword).
    """

    id: str
    capability: str
    description: str
    inputs: Callable
    verify: Callable
    kinds: tuple = ()
    requires: Callable = None

    def applies(self, capabilities, target):
        if self.capability not in capabilities:
            return False
        if self.kinds and not set(self.kinds) & set(target.offered(self.capability)):
            return False
        return self.requires is None or self.requires(target)

    def kinds_for(self, target):
        return [k for k in self.kinds if k in target.offered(self.capability)]


# --- inputs as the implementation sees them ------------------------------------------------


class Unjudgeable(Exception):
    """This input cannot judge the implementation (ill-posed at its precision, or outside
    what the check is about): it is skipped, in the small tier as in the scale tier."""


def require(condition):
    """Skip the input unless ``condition`` (the oracle's ``assume``, usable in both tiers)."""
    if not condition:
        raise Unjudgeable()


_PREPARED = {}  # the scale tier's problems as each dtype sees them: judged by many checks


def _problem(inputs, target, kind=None):
    """The problem as the implementation sees it (rounded to its dtype), with the exact
    distances and their allowances. A scale problem (its inputs carry ``"scale problem"``,
    its name) is prepared once per process and dtype, for every check, kind and
    implementation that judges it, its exact Lloyd runs included."""
    X, C, T = inputs["problem"]
    temperature = None if kind in (None, "hard") else T
    key = (inputs.get("scale problem"), target.dtype, temperature)
    if key[0] is not None and key in _PREPARED:
        return _PREPARED[key]
    X, C = rounded(X, target.dtype), rounded(C, target.dtype)
    require(np.all(np.isfinite(X)) and np.all(np.isfinite(C)))
    problem = compare.Problem(X, C, temperature, target.dtype)
    if key[0] is not None:
        _PREPARED[key] = problem
    return problem


def _decided(function, *args):
    """Run a comparison; a problem it cannot judge (``Ambiguous``) is not a valid example."""
    try:
        return function(*args)
    except compare.Ambiguous:
        raise Unjudgeable() from None


def _as_sent(a, target):
    """What is sent to the implementation: its dtype (bfloat16 values travel as float32)."""
    return np.asarray(a, dtype=np.float32 if target.dtype == "bfloat16" else target.dtype)


def _inputs(**strategies):
    """``inputs(target)``: the same dictionary strategy for every target."""
    return lambda target: st.fixed_dictionaries(strategies)


def _kinded(check_kinds, capability, **strategies):
    """``inputs(target)``: with a "kind" drawn from those the target offers for ``capability``."""

    def inputs(target):
        kinds = [k for k in check_kinds if k in target.offered(capability)]
        return st.fixed_dictionaries({**strategies, "kind": st.sampled_from(kinds)})

    return inputs


# --- assign, lloyd_step, kmeans, kmeans_fit -------------------------------------------------------


def check_assign(call, inputs, target):
    problem = _problem(inputs, target)
    compare.compare_labels(call("assign", _as_sent(problem.X, target), _as_sent(problem.C, target)), problem)


def check_lloyd_step(call, inputs, target):
    problem = _problem(inputs, target)
    _decided(problem.clear_labels)
    actual = call("lloyd_step", _as_sent(problem.X, target), _as_sent(problem.C, target))
    compare.compare_lloyd_step(actual, problem)


def check_lloyd_step_ties(call, inputs, target):
    """Exact ties on grid data: the step must be the means of some tie-consistent partition."""
    problem = _problem(inputs, target)
    acceptable = problem.acceptable
    tied = np.flatnonzero(acceptable.sum(axis=1) > 1)
    require(0 < len(tied) <= 6)
    # Every centre owns an untied point, so no tie-breaking empties a cell (the empty-cell
    # policy is lloyd_step.empty-cluster's business).
    untied = acceptable.sum(axis=1) == 1
    require(np.all(acceptable[untied].any(axis=0)))
    actual = assert_finite_floats(
        call("lloyd_step", _as_sent(problem.X, target), _as_sent(problem.C, target)), "lloyd_step", problem.C.shape
    )
    labels = np.argmax(acceptable, axis=1)
    closest = None
    for choice in itertools.product(*(np.flatnonzero(acceptable[i]) for i in tied)):
        labels[tied] = choice
        means, counts, magnitudes = compare._cell_means(problem.X, problem.C, labels)
        allowance = compare.lloyd_step_allowance(counts, magnitudes, frame(problem.X), target.dtype)
        excess = float(np.max(np.abs(actual - means) - allowance))
        if excess <= 0:
            return
        closest = min(closest or (np.inf, None), (excess, means), key=lambda pair: pair[0])
    raise Defect(
        f"lloyd_step on exact ties matches no tie-breaking (points {tied.tolist()} are tied)"
        f"\nimplementation:\n{actual}\nclosest tie-consistent step:\n{closest[1]}"
    )


def check_lloyd_step_empty(call, inputs, target):
    """With empty cells: every other centre exactly the reference's; the empty kept or relocated."""
    problem = _problem(inputs, target)
    labels = _decided(problem.clear_labels)
    require(len(np.unique(labels)) < len(problem.C))
    actual = call("lloyd_step", _as_sent(problem.X, target), _as_sent(problem.C, target))
    compare.compare_lloyd_step(actual, problem, "lloyd_step with an empty cluster")


def _compare_run(actual, problem, n_iter, name):
    trajectory = _decided(compare.lloyd_trajectory, problem, n_iter)
    compare.compare_centres_after(actual, trajectory, problem, name)


def check_kmeans(call, inputs, target):
    problem, n_iter = _problem(inputs, target), inputs["n_iter"]
    if n_iter == 0:
        actual = call("kmeans", _as_sent(problem.X, target), _as_sent(problem.C, target), 0)
        compare.compare_centres(actual, problem.C, np.zeros_like(problem.C), problem.X, problem.C,
                                np.zeros(len(problem.C), dtype=bool), "kmeans(n_iter=0)")
        return
    _decided(compare.lloyd_trajectory, problem, n_iter)
    actual = call("kmeans", _as_sent(problem.X, target), _as_sent(problem.C, target), n_iter)
    _compare_run(actual, problem, n_iter, f"kmeans(n_iter={n_iter})")


def check_kmeans_fit(call, inputs, target):
    problem, n_iter = _problem(inputs, target), inputs["n_iter"]
    _decided(compare.lloyd_trajectory, problem, n_iter)
    result = call("kmeans_fit", _as_sent(problem.X, target), _as_sent(problem.C, target), n_iter)
    expect(isinstance(result, tuple) and len(result) == 3,
           f"kmeans_fit must return (centres, labels, inertia); got {type(result).__name__}")
    centres, labels, inertia = result
    _decided(compare.compare_kmeans_fit, centres, labels, inertia, problem, n_iter)


# --- soft capabilities ---------------------------------------------------------------------


def _soft_call(call, name, problem, kind, target):
    return call(name, _as_sent(problem.X, target), _as_sent(problem.C, target), problem.temperature, kind)


def check_responsibilities(call, inputs, target):
    kind = inputs["kind"]
    problem = _problem(inputs, target, kind)
    if kind == "hard":
        _decided(problem.clear_labels)
    compare.compare_responsibilities(_soft_call(call, "responsibilities", problem, kind, target), problem, kind)


def check_soft_step(call, inputs, target):
    kind = inputs["kind"]
    problem = _problem(inputs, target, kind)
    compare.compare_soft_step(_soft_call(call, "soft_step", problem, kind, target), problem, kind)


def check_objective(call, inputs, target):
    kind = inputs["kind"]
    problem = _problem(inputs, target, kind)
    compare.compare_objective(_soft_call(call, "objective", problem, kind, target), problem, kind)


def check_gradient(call, inputs, target):
    kind = inputs["kind"]
    problem = _problem(inputs, target, kind)
    if kind == "hard":  # J is differentiable only away from ties
        _decided(problem.clear_labels)
        require(np.all(reference._margins(problem.d) > 1e-3))
    compare.compare_gradient(_soft_call(call, "gradient", problem, kind, target), problem, kind)


# --- maps ----------------------------------------------------------------------------------


def _logits_as_sent(rows, target):
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    Z = rounded(rows, target.dtype)
    # 1e300 overflows float32: such a row is not an input for it.
    require(np.all(np.isfinite(Z) | np.isneginf(rows)))
    return Z


def _check_map(map_name):
    def check(call, inputs, target):
        Z = _logits_as_sent(inputs["rows"], target)
        compare.compare_map(call(map_name, _as_sent(Z, target)), Z, map_name, target.dtype)

    check.__name__ = f"check_{map_name}"
    return check


def _check_map_axis(map_name):
    def check(call, inputs, target):
        keyword = target.axis_keywords[map_name]
        Z = rounded(np.asarray(inputs["batch"], dtype=np.float64), target.dtype)
        axis = inputs["axis"]
        actual = call(map_name, _as_sent(Z, target), **{keyword: axis})
        moved = np.moveaxis(Z, axis, -1)
        expect(np.shape(actual) == Z.shape, f"{map_name}({keyword}={axis}) returned shape {np.shape(actual)}; expected {Z.shape}")
        compare.compare_map(np.moveaxis(np.asarray(actual), axis, -1), moved, map_name, target.dtype,
                            f"{map_name}({keyword}={axis})")

    check.__name__ = f"check_{map_name}_axis"
    return check


def _adversarial_rows():
    big = 1e300
    return st.sampled_from(
        [
            [0.0, 0.0, 0.0],  # all tied
            [1.0, 1.0, -1.0],  # tie at the top
            [0.0, -2.0, -2.0],  # gap exactly 2: one-hot for entmax15
            [0.0, -1.0, -1.0, -1.0],  # gap exactly 1: one-hot for sparsemax
            [0.0, -2.0, -2.0, -2.0, -2.0],  # tied runner-ups at the entmax boundary
            [0.0, -1.0, -np.inf],  # an excluded entry
            [-np.inf, 3.0],
            [0.0, -1e6, 1e6],  # huge spread
            [1e4, 1e4 - 0.5, 1e4 - 3.0],  # shifted by 1e4: exp overflows without the max shift
            [big, big - 1e285],  # shifted by 1e300
            [-big, -big + 1e285, -big],
            [5.0],  # one element
            [1e-300, 0.0, -1e-300],  # tiny spread: uniform
        ]
    )


_logit_rows = st.integers(1, 6).flatmap(
    lambda k: st.lists(st.lists(st.floats(-20, 20), min_size=k, max_size=k), min_size=1, max_size=4)
)
_batches = st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda shape: st.lists(st.floats(-6, 6), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda values: np.reshape(values, shape)
    )
)


@st.composite
def _slow_starts(draw):
    """Centres on the K leftmost points of spread-out data: Lloyd needs several steps."""
    X = draw(datasets(n_points=st.integers(6, 24), geometry=st.sampled_from(["uniform", "overlapping"])))
    k = draw(st.integers(2, 4))
    C = X[np.argsort(X[:, 0], kind="stable")[:k]].copy()
    return X, C, 1.0


def _axis_keyword(map_name):
    return lambda target: map_name in target.axis_keywords


_ANY_PROBLEM = st.one_of(problems(), square_problems(), one_cell_problems(), problems_with_empty_cells())
_RUNS = st.one_of(problems(), _slow_starts(), starts_that_empty_a_cell(), problems_with_empty_cells())
_EXTREME = problems(temperature=st.sampled_from([1e-12, 1e12]))
_SMALL_TEMPERATURES = problems(temperature=temperatures(min_value=1e-4, max_value=1e4))


def _map_checks(map_name):
    rows = f"rows of logits map to the reference's {map_name}, exact zeros off the support"
    return [
        Check(f"{map_name}.reference", map_name, rows, _inputs(rows=_logit_rows), _check_map(map_name)),
        Check(f"{map_name}.adversarial", map_name, "ties, -inf entries, spreads of 1e6, shifts of 1e4 and 1e300, one element",
              _inputs(rows=_adversarial_rows().map(lambda row: [row])), _check_map(map_name)),
        Check(f"{map_name}.axis", map_name, "with an axis/dim keyword, the map along every axis of a 3-D batch",
              _inputs(batch=_batches, axis=st.sampled_from([0, 1, 2, -1])), _check_map_axis(map_name),
              requires=_axis_keyword(map_name)),
    ]


CHECKS = [
    Check("assign.nearest", "assign", "labels are integers in [0, K) naming a nearest centre (any, on ties within rounding)",
          _inputs(problem=_ANY_PROBLEM), check_assign),
    Check("lloyd_step.reference", "lloyd_step", "every non-empty cell's mean; an empty cell's centre kept or relocated",
          _inputs(problem=_ANY_PROBLEM), check_lloyd_step),
    Check("lloyd_step.ties", "lloyd_step", "on exact ties, the means of some tie-consistent partition",
          _inputs(problem=problems(data=datasets(geometry="grid"))), check_lloyd_step_ties),
    Check("lloyd_step.empty-cluster", "lloyd_step", "with empty clusters, every other centre exactly updated; the empty kept or relocated",
          _inputs(problem=away_from_the_origin(problems_with_empty_cells())), check_lloyd_step_empty),
    Check("lloyd_step.more-centres-than-points", "lloyd_step", "K > N is valid: the surplus centres kept or relocated",
          _inputs(problem=problems(n_clusters=st.integers(2, 6), data=datasets(n_points=st.integers(1, 4)))), check_lloyd_step_empty),
    Check("kmeans.reference", "kmeans", "n_iter Lloyd steps from C0 (1 to 4), cells emptying on the way included",
          _inputs(problem=_RUNS, n_iter=st.integers(1, 4)), check_kmeans),
    Check("kmeans.zero-iterations", "kmeans", "n_iter = 0 is valid and returns C0",
          _inputs(problem=problems(), n_iter=st.just(0)), check_kmeans),
    Check("kmeans_fit.labels-and-inertia", "kmeans_fit", "the centres after n_iter steps, the labels of those centres, the inertia (a sum) consistent with them",
          _inputs(problem=_RUNS, n_iter=st.integers(1, 4)), check_kmeans_fit),
    Check("responsibilities.reference", "responsibilities", "responsibilities of every offered kind at T in [1e-4, 1e4]",
          _kinded(ALL_KINDS, "responsibilities", problem=st.one_of(_SMALL_TEMPERATURES, one_cell_problems())), check_responsibilities, kinds=ALL_KINDS),
    Check("responsibilities.square", "responsibilities", "N == K with soft rows: each row normalised over the centres",
          _kinded(MAPS, "responsibilities", problem=square_problems()), check_responsibilities, kinds=MAPS),
    Check("responsibilities.extreme-temperature", "responsibilities", "finite and right at T = 1e-12 and 1e12",
          _kinded(MAPS, "responsibilities", problem=_EXTREME), check_responsibilities, kinds=MAPS),
    Check("soft_step.reference", "soft_step", "one EM step c_k <- sum_i r_ik x_i / n_k, dead centres kept or relocated",
          _kinded(MAPS, "soft_step", problem=st.one_of(_SMALL_TEMPERATURES, square_problems(), problems_with_empty_cells())), check_soft_step, kinds=MAPS),
    Check("soft_step.extreme-temperature", "soft_step", "finite and right at T = 1e-12 (weights below the float range) and 1e12",
          _kinded(MAPS, "soft_step", problem=_EXTREME), check_soft_step, kinds=MAPS),
    Check("objective.reference", "objective", "J and L_T of every offered kind, means over points",
          _kinded(ALL_KINDS, "objective", problem=st.one_of(problems(), square_problems())), check_objective, kinds=ALL_KINDS),
    Check("gradient.reference", "gradient", "the gradient of the objective, through the responsibilities",
          _kinded(ALL_KINDS, "gradient", problem=st.one_of(problems(), square_problems())), check_gradient, kinds=ALL_KINDS),
    *_map_checks("entmax15"),
    *_map_checks("sparsemax"),
]
