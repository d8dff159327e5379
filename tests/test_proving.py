"""Proof steps that cannot fail are refused (``kmeans_rbf.proving``), and no registered proof
goes around the refusal.

Every z3 step of ``proofs/proof_*.py`` is an ``assert_implies(hypotheses, goal)``, which
checks at each run that the goal is not a tautology (its negation is satisfiable without the
hypotheses), does not restate a hypothesis, and that the hypotheses are satisfiable; every
sympy identity is an ``assert_identity(residual, by=...)``, which refuses a residual that is
0 before any simplification. The tests below show that each refusal bites, and walk every
registered proof, step by step, to show that no z3 query and no sympy identity bypasses them.
"""

import ast
import functools
import pathlib

import pytest
import sympy as sp
import z3

from kmeans_rbf import registry
from kmeans_rbf.proving import VacuousStep, assert_identity, assert_implies, model_of, recording

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The reductions whose "== 0" would be an identity check done outside the helper.
REDUCERS = {"sp.simplify", "sp.expand", "sp.cancel", "sp.factor", "sp.together", "sp.expand_log", "sp.trigsimp"}
CHECKED_Z3 = {"assert_implies", "model_of"}


# --- the helper refuses what cannot fail ----------------------------------------------------


def test_a_tautology_is_refused():
    # Catches: the critical-temperature step `(T - 2v > 0) == (T > 2v)` (a goal true for all
    # reals, hypotheses unused) passing as a proof.
    T, v = z3.Reals("T v")
    with pytest.raises(VacuousStep, match="holds with no hypothesis"):
        assert_implies([T > 0, v >= 0], (T - 2 * v > 0) == (T > 2 * v))
    # ... also as one conjunct among real ones, and inside an implication.
    with pytest.raises(VacuousStep, match="holds with no hypothesis"):
        assert_implies([T > 0], z3.And(T * T > 0, v * v >= 0))


def test_a_restated_hypothesis_is_refused():
    # Catches: `Implies(D s == S, S == D s)` (the conclusion restates its premise) and a goal
    # that is a hypothesis rearranged (`S - D s > 0` from `D s < S`).
    S, D, s = z3.Reals("S D s")
    with pytest.raises(VacuousStep, match="restates"):
        assert_implies([S > 0, D > 0, s > 0], z3.Implies(D * s == S, S == D * s))
    with pytest.raises(VacuousStep, match="restates"):
        assert_implies([S > 0, D > 0, s > 0, D * s < S], S - D * s > 0)


def test_contradictory_hypotheses_are_refused():
    # Catches: a step whose hypotheses cannot hold together (every goal would follow).
    x = z3.Real("x")
    with pytest.raises(VacuousStep, match="unsatisfiable"):
        assert_implies([x > 1, x < 0], x * x == 7)


def test_a_real_step_passes_and_a_false_one_fails():
    # Catches: a helper that refuses everything, or accepts a false step.
    T, v, K = z3.Reals("T v K")
    assert_implies([T > 0, v >= 0, K >= 2], (2 / K * (1 - 2 * v / T) > 0) == (T > 2 * v))
    with pytest.raises(AssertionError) as failure:
        assert_implies([v >= 0, K >= 2], (2 / K * (1 - 2 * v / T) > 0) == (T > 2 * v))  # T > 0 dropped
    assert not isinstance(failure.value, VacuousStep)
    assert model_of([T > 0, T < 1])


def test_a_sympy_identity_that_is_zero_by_substitution_is_refused():
    # Catches: `(1 - s/K).subs(s, K) == 0` (the value substituted makes the residual 0 before
    # any simplification), `p/p - 1`, and a threshold solved from the very equation it is
    # then substituted into.
    s, K, p = sp.symbols("s K p", positive=True)
    with pytest.raises(VacuousStep):
        assert_identity((1 - s / K).subs(s, K))
    with pytest.raises(VacuousStep):
        assert_identity(p / p - 1)
    z, tau = sp.symbols("z tau", real=True)
    (solved,) = sp.solve(sp.Eq(z / 2 - tau, 1), tau)
    with pytest.raises(VacuousStep):
        assert_identity((z / 2 - solved) ** 2 - 1)
    with pytest.raises(VacuousStep):
        assert_identity(sp.zeros(2, 2))


def test_a_sympy_identity_that_needs_its_reduction_passes_and_a_false_one_fails():
    # Catches: a helper that refuses real identities (a derivative evaluated by the helper, a
    # substitution deferred with sp.Subs) or accepts a false one.
    x = sp.Symbol("x", real=True)
    assert_identity((x + 1) ** 2 - (x**2 + 2 * x + 1), by=sp.expand)
    assert_identity(sp.Derivative(sp.exp(2 * x), x) - 2 * sp.exp(2 * x))
    assert_identity(sp.Subs(x**2 - 1, x, 1))
    with pytest.raises(AssertionError) as failure:
        assert_identity((x + 1) ** 2 - (x**2 + 1), by=sp.expand)
    assert not isinstance(failure.value, VacuousStep)


def test_steps_are_recorded():
    # Catches: a step that is checked but not recorded, or recorded outside the block.
    x = z3.Real("x")
    with recording() as steps:
        assert_implies([x > 1], x * x > 1)
        assert_identity(sp.Subs(sp.Symbol("y") ** 2 - 4, sp.Symbol("y"), 2))
    assert_implies([x > 2], x * x > 4)
    assert [step[0] for step in steps] == ["z3", "sympy"]
    assert steps[0][1] == (x > 1,) and steps[0][2].eq(x * x > 1)


# --- no registered proof goes around the helper --------------------------------------------


def _registered_proofs():
    """``[(path, function name)]`` of every proof the registry names (whole files expanded)."""
    found = []
    for claim in registry.load(ROOT / "theory" / "claims.toml"):
        for reference in claim["proofs"]:
            path, _, name = reference.partition("::")
            if name:
                found.append((path, name))
            else:
                found += [(path, node.name) for node in _module(path).body if isinstance(node, ast.FunctionDef) and node.name.startswith("test")]
    return sorted(set(found))


@functools.lru_cache(maxsize=None)
def _module(path):
    return ast.parse((ROOT / path).read_text())


def _function(path, name):
    for node in _module(path).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssertionError(f"{path}::{name} is not a function of {path}")


def bypasses(tree):
    """Sentences, one per place where ``tree`` proves or checks around ``kmeans_rbf.proving``:
    a z3 solver of its own, or an identity asserted as ``<reduction>(...) == 0``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and ast.unparse(node) in {"z3.Solver", "z3.prove", "z3.SolverFor", "z3.Then"}:
            found.append(f"line {node.lineno}: {ast.unparse(node)} (use assert_implies or model_of)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check":
            found.append(f"line {node.lineno}: {ast.unparse(node)} (a solver queried directly)")
        if isinstance(node, ast.Assert):
            for test in ast.walk(node.test):
                if isinstance(test, ast.Compare) and isinstance(test.left, ast.Call):
                    right = ast.unparse(test.comparators[0])
                    if ast.unparse(test.left.func) in REDUCERS and (right == "0" or right.startswith("sp.zeros")):
                        found.append(f"line {node.lineno}: {ast.unparse(node.test)} (use assert_identity)")
    return sorted(set(found), key=lambda sentence: int(sentence.split(":")[0].split()[1]))


def _z3_steps(node):
    return [call for call in ast.walk(node) if isinstance(call, ast.Call) and ast.unparse(call.func) in CHECKED_Z3]


def test_every_registered_z3_step_goes_through_assert_implies():
    # Catches: a registered proof that queries z3 itself (so its steps skip the tautology,
    # restatement and satisfiability checks) or asserts a sympy identity by hand.
    problems, steps = [], 0
    for path, name in _registered_proofs():
        function = _function(path, name)
        problems += [f"{path}::{name}, {sentence}" for sentence in bypasses(function)]
        uses_z3 = any(isinstance(n, ast.Name) and n.id == "z3" for n in ast.walk(function))
        found = _z3_steps(function)
        if uses_z3 and not found:
            problems.append(f"{path}::{name} uses z3 but makes no assert_implies/model_of step")
        for call in found:
            if ast.unparse(call.func) == "assert_implies" and len(call.args) != 2:
                problems.append(f"{path}::{name}, line {call.lineno}: assert_implies(hypotheses, goal) expected")
        steps += len(found)
    assert not problems, "\n".join(problems)
    assert steps > 50, f"only {steps} z3 steps found in the registered proofs"


def test_no_proof_module_has_a_solver_of_its_own():
    # Catches: a module-level helper (such as the former _unsat/_assert_valid) that the
    # registered proofs call instead of the checked one.
    problems = []
    for path in sorted((ROOT / "proofs").glob("proof_*.py")):
        problems += [f"{path.name}: {sentence}" for sentence in bypasses(_module(path.relative_to(ROOT).as_posix()))]
    assert not problems, "\n".join(problems)


def test_the_bypass_scan_bites():
    # Catches: a scan that no longer sees a solver of its own or a hand-asserted identity.
    source = (
        "def test_x():\n"
        "    solver = z3.Solver()\n"
        "    solver.add(x > 0)\n"
        "    assert solver.check() == z3.unsat\n"
        "    assert sp.simplify(a - b) == 0\n"
    )
    found = bypasses(ast.parse(source))
    assert len(found) == 3 and "z3.Solver" in found[0] and "check" in found[1] and "assert_identity" in found[2]
