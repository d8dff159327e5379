"""The command line and the project's own promises (README commands, CI script)."""

import io
import pathlib
import re
import subprocess
import sys

from kmeans_rbf import cli, reference

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_demo_shows_the_limit_and_the_tie():
    out = io.StringIO()
    cli.demo(out)
    text = out.getvalue()
    # The last rows (T = 1e-6) equal J, and the soft step limit is printed against Lloyd's.
    J = reference.objective(cli.DEMO_X, cli.DEMO_C)
    assert f"{J:.6f}" in text
    limit = reference.soft_step(cli.DEMO_X, cli.DEMO_C, 1e-6, "entmax15")[:, 0]
    lloyd = reference.lloyd_step(cli.DEMO_X, cli.DEMO_C)[:, 0]
    assert f"({limit[0]:g}, {limit[1]:g}), not to Lloyd's ({lloyd[0]:g}, {lloyd[1]:g})" in text
    rows = [line for line in text.splitlines() if line.startswith(("softmax", "entmax15"))]
    assert len(rows) == 2 * len(cli.DEMO_TEMPERATURES)


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "kmeans_rbf.cli", "demo"], capture_output=True, text=True, check=True
    )
    assert "K-Means as an RBF network" in result.stdout


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```\n(.*?)\n```", readme, flags=re.S)
    test_command = next(block for block in blocks if "pytest" in block and "pip install" in block)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
