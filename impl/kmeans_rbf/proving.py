"""Proof steps that can fail: the one home of the checks every z3 and sympy step of ``proofs/`` makes.

A proof step shows a *goal* from *hypotheses*. It shows nothing when

* the goal holds without the hypotheses: a tautology such as ``(T - 2 v > 0) == (T > 2 v)``
  (its negation is unsatisfiable on its own);
* the goal restates a hypothesis (``Implies(D s == S, S == D s)``);
* the hypotheses contradict each other (then every goal follows);
* a sympy identity is ``0 == 0`` before any simplification: a value substituted that makes
  the expression trivially zero, or a threshold solved from the very equation it is then
  substituted into.

:func:`assert_implies` proves ``hypotheses => goal`` with z3 and refuses the first three;
:func:`assert_identity` reduces a sympy residual to zero and refuses the fourth. Both raise
:class:`VacuousStep` (an ``AssertionError``) for a step that cannot fail, and an ordinary
``AssertionError`` for a step that is false. :func:`model_of` is the one way to ask z3 for
a witness (a counterexample search). ``tests/test_proving.py`` checks that the proofs go
through these three functions and nothing else, and that each refusal bites.

Examples
--------
>>> import z3
>>> T, v = z3.Reals("T v")
>>> assert_implies([T > 0, v >= 0, T > 2 * v], 1 - 2 * v / T > 0)
>>> assert_implies([T > 0, v >= 0], (T - 2 * v > 0) == (T > 2 * v))
Traceback (most recent call last):
...
kmeans_rbf.proving.VacuousStep: the goal (T - 2*v > 0) == (T > 2*v) holds with no hypothesis: its negation is unsatisfiable on its own
>>> import sympy as sp
>>> s, K = sp.symbols("s K", positive=True)
>>> assert_identity((1 - s / K).subs(s, K))
Traceback (most recent call last):
...
kmeans_rbf.proving.VacuousStep: the residual is 0 before any simplification (0 == 0 after substitution): nothing is checked
>>> x = sp.Symbol("x", real=True)
>>> assert_identity((x + 1) ** 2 - (x**2 + 2 * x + 1), by=sp.expand)
"""

import contextlib

import sympy as sp
import z3

__all__ = ["VacuousStep", "assert_implies", "assert_identity", "model_of", "recording"]

# A refusal must come from z3 deciding, not from a slow query: the side checks (is the
# negated goal satisfiable on its own, are the hypotheses, does the goal restate one) get
# this budget each; the proof itself has none unless the caller gives one.
_SIDE_TIMEOUT_MS = 10_000

_RECORDINGS = []


class VacuousStep(AssertionError):
    """A proof step that cannot fail: a tautology, a restated hypothesis, contradictory
    hypotheses, or a sympy identity that is 0 == 0 before simplification."""


@contextlib.contextmanager
def recording():
    """Collect the steps checked inside the block: ``("z3", hypotheses, goal)`` and
    ``("sympy", residual, by)``, in order."""
    steps = []
    _RECORDINGS.append(steps)
    try:
        yield steps
    finally:
        _RECORDINGS.remove(steps)


def _record(step):
    for steps in _RECORDINGS:
        steps.append(step)


def _check(constraints, timeout_ms=None):
    solver = z3.Solver()
    if timeout_ms is not None:
        solver.set("timeout", timeout_ms)
    solver.add(*constraints)
    return solver.check()


def _variables(expression):
    """The names of the uninterpreted constants (the variables) of a z3 expression."""
    found, pending, seen = set(), [expression], set()
    while pending:
        current = pending.pop()
        if current.get_id() in seen:
            continue
        seen.add(current.get_id())
        if z3.is_const(current) and current.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            found.add(current.decl().name())
        pending.extend(current.children())
    return frozenset(found)


def _conjuncts(goal):
    """The goal as ``[(premises, conclusion)]``: a conjunction split into its conjuncts, and
    ``Implies(A, B)`` read as the conclusion B under the premise A (a premise of its own)."""
    pending, found = [((), goal)], []
    while pending:
        premises, current = pending.pop(0)
        if z3.is_implies(current):
            premise, conclusion = current.children()
            pending.insert(0, ((*premises, premise), conclusion))
        elif z3.is_and(current):
            pending[:0] = [(premises, child) for child in current.children()]
        else:
            found.append((premises, current))
    return found


def assert_implies(hypotheses, goal, *, timeout_ms=None):
    """Prove ``And(hypotheses) => goal`` over the reals with z3, as a step that can fail.

    The goal is split into conjuncts, and ``Implies(A, B)`` is read as B under the premise
    A, so that each conclusion is checked on its own, with the hypotheses and its own
    premises. Raises :class:`VacuousStep` if a conclusion's negation is unsatisfiable
    without any hypothesis (a tautology), if a conclusion is equivalent to one hypothesis or
    premise over the same variables (restated), or if the hypotheses and premises of a
    conclusion are unsatisfiable together; and ``AssertionError`` if the step is false or z3
    cannot decide it within ``timeout_ms``. A side check that z3 cannot decide within 10 s refuses nothing (only a
    decided ``unsat`` is evidence of vacuity); none of the registered proofs comes near it.
    """
    hypotheses = list(hypotheses)
    _record(("z3", tuple(hypotheses), goal))
    for premises, conclusion in _conjuncts(goal):
        if _check([z3.Not(conclusion)], _SIDE_TIMEOUT_MS) == z3.unsat:
            raise VacuousStep(
                f"the goal {conclusion} holds with no hypothesis: its negation is unsatisfiable on its own"
            )
        assumed = [*hypotheses, *premises]
        names = _variables(conclusion)
        for hypothesis in assumed:
            # A restatement is equivalent to the hypothesis; only one over the same variables
            # can be (up to degenerate formulas such as x - x > 0), so only those are asked.
            if _variables(hypothesis) == names and (
                z3.eq(z3.simplify(conclusion), z3.simplify(hypothesis))
                or _check([conclusion != hypothesis], _SIDE_TIMEOUT_MS) == z3.unsat
            ):
                raise VacuousStep(f"the goal {conclusion} restates the hypothesis {hypothesis}")
        if assumed and _check(assumed, _SIDE_TIMEOUT_MS) == z3.unsat:
            raise VacuousStep(f"the hypotheses {assumed} are unsatisfiable: every goal would follow")
    verdict = _check([*hypotheses, z3.Not(goal)], timeout_ms)
    assert verdict == z3.unsat, (
        f"z3 did not prove the step ({verdict}): hypotheses {hypotheses}, goal {goal}"
        + (f"; counterexample {_check_model(hypotheses, goal)}" if verdict == z3.sat else "")
    )


def _check_model(hypotheses, goal):
    solver = z3.Solver()
    solver.add(*hypotheses, z3.Not(goal))
    solver.check()
    return solver.model()


def model_of(constraints, *, timeout_ms=None):
    """A model of ``constraints`` (a witness, e.g. a counterexample); fails if there is none."""
    solver = z3.Solver()
    if timeout_ms is not None:
        solver.set("timeout", timeout_ms)
    solver.add(*constraints)
    verdict = solver.check()
    assert verdict == z3.sat, f"no model ({verdict}) of {constraints}"
    return solver.model()


def assert_identity(residual, *, by=sp.simplify):
    """``by(residual) == 0`` (entry-wise for a matrix), for a residual that is not 0 already.

    ``residual`` is ``left - right`` of the identity, as computed; ``by`` the reduction
    (``sp.simplify``, ``sp.expand``, ``sp.cancel``, ...). A residual that sympy's automatic
    evaluation has already made 0, before ``by`` runs, checks nothing (the sides were
    written equal, or a substitution made them so): :class:`VacuousStep`. A derivative or a
    limit whose value is the point of the step is passed unevaluated (``sp.Derivative``,
    ``sp.Limit``): ``by`` evaluates it (``doit``) first.
    """
    _record(("sympy", residual, by))
    if isinstance(residual, sp.MatrixBase):
        if all(entry == 0 for entry in residual):
            raise VacuousStep("the residual is the zero matrix before any simplification: nothing is checked")
        reduced = residual.applyfunc(lambda entry: by(sp.sympify(entry).doit()))
        assert all(entry == 0 for entry in reduced), f"not an identity: the residual reduces to {reduced}"
        return
    residual = sp.sympify(residual)
    if residual == 0:
        raise VacuousStep(
            "the residual is 0 before any simplification (0 == 0 after substitution): nothing is checked"
        )
    reduced = by(residual.doit())
    assert reduced == 0, f"not an identity: the residual reduces to {reduced}"
