"""The oracle is itself tested: it passes correct implementations (the reference, torch,
and correct-but-different ones), fails every bug of the zoo on the checks that should catch
it, with a counterexample; hangs are caught by the time limit; refusals are reported and
never hide a defect; the command line keeps its exit statuses and JSON report."""

import json
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from kmeans_rbf.assertions import Defect
from kmeans_rbf.oracle import CHECKS, SCALE_CHECKS
from kmeans_rbf.oracle.pytest_route import conformance_checks
from kmeans_rbf.oracle.runner import _target, run_check, verify
from kmeans_rbf.oracle.sandbox import InProcess, is_refusal
from oracle_zoo import BROKEN, DIFFERENT, ORACLE_MENDED

EVERY_CHECK = CHECKS + SCALE_CHECKS
BY_ID = {check.id: check for check in EVERY_CHECK}
TESTS = pathlib.Path(__file__).parent

# The zoo runs in process (it cannot hang) and without shrinking (only the verdict is
# tested here; shrinking is tested through the CLI below). A broken implementation gets a
# search of up to 300 examples, stopped at its first failure, so that a bug caught only on
# rarer inputs is caught in every run; a correct one gets the oracle's default depth.
BROKEN_EXAMPLES = 300
DEFAULT_EXAMPLES = 30


@conformance_checks("reference")
def test_reference_conforms(check):
    # The pytest route, exactly as a user would write it.
    check()


def test_the_zoo_is_big_enough():
    # The bar: at least 40 realistic bugs and 8 correct-but-different implementations.
    assert len(BROKEN) >= 40 and len(DIFFERENT) >= 8
    named = {check for _, must_fail in BROKEN.values() for check in must_fail}
    assert named <= set(BY_ID), named - set(BY_ID)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_implementation_is_caught(name):
    implementation, must_fail = BROKEN[name]
    sandbox = InProcess(implementation, name)
    for check_id in sorted(must_fail):
        check = BY_ID[check_id]
        assert check.applies(sandbox.info["capabilities"], _target(sandbox)), f"{check_id} does not apply to {name}"
        result = run_check(check, sandbox, BROKEN_EXAMPLES, shrink=False)
        assert result.status == "failed", f"{check_id} did not catch {name}: {result.status} {result.message}"
        assert result.message and result.counterexample is not None


# The correct-but-different implementations whose point is the scale tier (the expansion
# done carefully is right where the careless one breaks): the default run judges them on it
# too; the others get the small tier there, and both tiers in the slow run.
SCALE_IS_THE_POINT = {"careful-expansion-float32", "careful-expansion-float64"}


def _judge_correct(name, checks, what_differs_only):
    implementation, refused = DIFFERENT[name]
    sandbox = InProcess(implementation, name)
    target = _target(sandbox)
    for check in checks:
        if not check.applies(sandbox.info["capabilities"], target):
            continue
        if what_differs_only and check.capability not in implementation.replaced:
            continue
        result = run_check(check, sandbox, DEFAULT_EXAMPLES, shrink=False)
        expected = "refused" if check.id in refused else "passed"
        assert result.status == expected, f"{check.id}: {result.status} {result.message}"


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_correct_but_different_implementation_passes(name):
    # The checks of the capabilities in which it differs from the reference (the rest is
    # the reference, which test_reference_conforms verifies in full).
    _judge_correct(name, EVERY_CHECK if name in SCALE_IS_THE_POINT else CHECKS, what_differs_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_correct_but_different_implementation_passes_every_check(name):
    _judge_correct(name, EVERY_CHECK, what_differs_only=False)


def test_a_hang_is_a_failure_with_its_input():
    # In the real sandbox: the call is killed after the time limit, the check fails with
    # the input that hung, and the next call gets a fresh worker.
    report = verify("variants:HANGS_ON_EMPTY_CLUSTER", checks=[BY_ID["lloyd_step.empty-cluster"]], timeout=1.0, max_examples=5)
    (result,) = report.checks
    assert result.status == "failed" and result.message.startswith("hang")
    assert result.counterexample is not None


def _cli(*arguments, cwd):
    command = [sys.executable, "-m", "kmeans_rbf.cli", "verify", *arguments]
    # The tests folder goes first on PYTHONPATH, whatever the caller's PYTHONPATH holds: the
    # test must not depend on the environment it is run from.
    caller_path = os.environ.get("PYTHONPATH")
    path = os.pathsep.join([str(TESTS), *([caller_path] if caller_path else [])])
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": path})


def test_cli_verify_writes_json_and_exit_status(tmp_path):
    out = tmp_path / "report.json"
    completed = _cli("variants:OBJECTIVE_SUMMED", "--json", str(out), "--max-examples", "5",
                     "--checks", "assign.*,objective.*", cwd=tmp_path)
    assert completed.returncode == 1, completed.stderr
    payload = json.loads(out.read_text())
    statuses = {c["id"]: c["status"] for c in payload["checks"]}
    assert statuses["objective.reference"] == "failed"
    assert statuses["assign.nearest"] == "passed"
    assert "FAILED objective.reference" in completed.stdout
    assert "counterexample (shrunk)" in completed.stdout


def test_cli_usage_errors_exit_2_with_one_line_and_json(tmp_path):
    out = tmp_path / "report.json"
    completed = _cli("no_such_module:Thing", "--json", str(out), cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1].startswith("kmeans-rbf: error: cannot load no_such_module:Thing")
    assert "Traceback" not in completed.stderr
    assert json.loads(out.read_text())["error"]
    assert _cli("reference", "--max-examples", "0", cwd=tmp_path).returncode == 2
    assert _cli("reference", "--no-such-option", cwd=tmp_path).returncode == 2
    assert _cli("reference", "--checks", "no.such.check", cwd=tmp_path).returncode == 2


def test_cli_takes_a_file_path_and_strict_fails_refusals(tmp_path):
    adapter = tmp_path / "my_adapter.py"
    adapter.write_text(
        "import numpy as np\n"
        "from kmeans_rbf import reference\n"
        "class Refusing:\n"
        "    def kmeans(self, X, C0, n_iter):\n"
        "        if n_iter < 1:\n"
        "            raise ValueError('n_iter must be >= 1')\n"
        "        return reference.kmeans(X, C0, n_iter)\n"
    )
    zero = ["--max-examples", "5", "--checks", "kmeans.*"]
    lenient = _cli(f"{adapter}:Refusing", *zero, cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "REFUSED kmeans.zero-iterations" in lenient.stdout
    assert _cli(f"{adapter}:Refusing", *zero, "--strict", cwd=tmp_path).returncode == 1


def test_nothing_checked_is_not_a_pass(tmp_path):
    (tmp_path / "empty_adapter.py").write_text("class Nothing:\n    pass\n")
    completed = _cli("empty_adapter:Nothing", cwd=tmp_path)
    assert completed.returncode == 1
    assert "no check applied" in completed.stdout


def test_the_readme_example_adapter_gets_the_verdicts_the_readme_gives(tmp_path):
    # The README's own example: scikit-learn refuses n_iter = 0 and K > N (documented
    # limitations), which must show as "refused"; and it has a real defect (S1 in
    # docs/findings.md: a cell emptied by a relocation gets a centre outside the data),
    # which kmeans.reference must catch with its counterexample, as the README says.
    readme = (TESTS.parent / "README.md").read_text()
    start = readme.index("class MyKMeans:")
    source = readme[readme.rindex("```python", 0, start) + len("```python"):readme.index("```", start)]
    (tmp_path / "readme_adapter.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        import readme_adapter

        sandbox = InProcess(readme_adapter.MyKMeans(), "readme")
    finally:
        sys.path.remove(str(tmp_path))
    target = _target(sandbox)
    results = {c.id: run_check(c, sandbox, DEFAULT_EXAMPLES) for c in EVERY_CHECK if c.applies(sandbox.info["capabilities"], target)}
    assert set(results) == {"kmeans.reference", "kmeans.zero-iterations", "scale.kmeans"}
    assert results["kmeans.zero-iterations"].status == "refused"
    assert "max_iter" in results["kmeans.zero-iterations"].message
    assert results["scale.kmeans"].status in ("passed", "refused"), results["scale.kmeans"].message
    found = results["kmeans.reference"]
    assert found.status == "failed", found.message
    X, C, _ = found.counterexample["problem"]
    with warnings.catch_warnings():  # scikit-learn's ConvergenceWarning on duplicate points
        warnings.simplefilter("ignore")
        centres = readme_adapter.MyKMeans().kmeans(np.asarray(X), np.asarray(C), found.counterexample["n_iter"])
    low, high = np.min(X, axis=0), np.max(X, axis=0)
    assert np.any((centres < low - 1e-9) | (centres > high + 1e-9)), "S1: a centre outside the data"
    assert len(X) == 4  # "the printed counterexample has four points"
