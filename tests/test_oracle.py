"""The oracle is itself tested: it passes correct implementations (the reference, torch,
and correct-but-different ones) and fails every bug of the zoo on the checks that should
catch it, with a counterexample; hangs are caught by the time limit."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from kmeans_rbf.oracle import CHECKS
from kmeans_rbf.oracle.pytest_route import conformance_checks
from kmeans_rbf.oracle.runner import run_check, verify
from kmeans_rbf.oracle.sandbox import InProcess
from oracle_zoo import BROKEN, DIFFERENT

# The zoo runs in process (it cannot hang) and without shrinking (only the verdict is
# tested here; shrinking is tested through the CLI below). A broken implementation gets a
# search of up to 300 examples, stopped at its first failure, so that a bug caught only on
# rarer inputs (an early stop needs a trajectory that is still moving) is caught in every
# run; a correct one gets the oracle's default depth.
BROKEN_EXAMPLES = 300
DEFAULT_EXAMPLES = 30


@conformance_checks("reference")
def test_reference_conforms(check):
    # The pytest route, exactly as a user would write it.
    check()


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_implementation_is_caught(name):
    implementation, must_fail = BROKEN[name]
    sandbox = InProcess(implementation, name)
    for check in CHECKS:
        if check.id in must_fail:
            result = run_check(check, sandbox, BROKEN_EXAMPLES, shrink=False)
            assert result.status == "failed", f"{check.id} did not catch {name}"
            assert result.message and result.counterexample is not None


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_correct_but_different_implementation_passes(name):
    sandbox = InProcess(DIFFERENT[name], name)
    for check in CHECKS:
        if check.capability in sandbox.info["capabilities"]:
            result = run_check(check, sandbox, DEFAULT_EXAMPLES, shrink=False)
            assert result.status in ("passed", "skipped"), f"{check.id}: {result.message}"


def test_a_hang_is_a_failure_with_its_input():
    # In the real sandbox: the call is killed after the time limit, the check fails with
    # the input that hung, and the next call gets a fresh worker.
    empty = [check for check in CHECKS if check.id == "lloyd_step.empty-cluster"]
    report = verify("variants:HANGS_ON_EMPTY_CLUSTER", checks=empty, timeout=1.0, max_examples=5)
    (result,) = report.checks
    assert result.status == "failed" and result.message.startswith("hang")
    assert result.counterexample is not None


def test_cli_verify_writes_json_and_exit_status(tmp_path):
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "kmeans_rbf.cli", "verify", "variants:OBJECTIVE_SUMMED",
               "--json", str(out), "--max-examples", "5"]
    # The tests folder goes first on PYTHONPATH, whatever the caller's PYTHONPATH holds: the
    # test must not depend on the environment it is run from.
    caller_path = os.environ.get("PYTHONPATH")
    path = os.pathsep.join([str(pathlib.Path(__file__).parent), *([caller_path] if caller_path else [])])
    completed = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": path})
    assert completed.returncode == 1, completed.stderr
    payload = json.loads(out.read_text())
    statuses = {c["id"]: c["status"] for c in payload["checks"]}
    assert statuses["objective.reference"] == "failed"
    assert statuses["assign.nearest"] == "passed"
    assert "FAILED objective.reference" in completed.stdout
    assert "counterexample (shrunk)" in completed.stdout
