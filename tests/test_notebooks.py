"""The notebooks of notebooks/: each one executes, draws its figures and asserts its facts.

The notebooks run once per session (the ``executed_notebooks`` fixture of conftest.py, the
way ``kmeans-rbf report`` runs them): a notebook that raises, or whose assertions fail, fails
its test here with the notebook's traceback. A notebook's verdicts are checked against the
registry inside the notebook (``kmeans_rbf.notebooks.verdict``).
"""

import json
import pathlib

import pytest

from kmeans_rbf import notebooks, registry

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = notebooks.notebooks(ROOT)
CLAIMS = {claim["id"] for claim in registry.load(ROOT / "theory" / "claims.toml")}


def test_the_notebooks_are_there_and_name_their_claims():
    assert [n.name[:2] for n in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]
    assert len(NOTEBOOKS) == 8
    for notebook in NOTEBOOKS:
        assert notebook.title and notebook.summary, f"{notebook.name}: its first cell needs a title and a paragraph"
        assert notebook.claims, f"{notebook.name}: its first cell names no claim (a line 'Claims: `id`, ...')"
        unknown = set(notebook.claims) - CLAIMS
        assert not unknown, f"{notebook.name} names claims that theory/claims.toml does not have: {unknown}"


@pytest.mark.parametrize("name", [n.name for n in NOTEBOOKS])
def test_notebook_executes_draws_and_asserts(executed_notebooks, name):
    run = executed_notebooks.runs[name]
    if run.error is not None:
        pytest.fail(f"{name} failed:\n{run.traceback}", pytrace=False)
    assert run.figures, f"{name} saved no figure"
    for figure in run.figures:
        path = executed_notebooks.output / figure["file"]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        assert figure["caption"]
    # Every claim the notebook names gets a verdict, and it gives no verdict on others.
    judged = {entry["claim"] for entry in run.verdicts}
    assert judged == set(run.notebook.claims), (
        f"{name}: names {sorted(run.notebook.claims)}, gives verdicts on {sorted(judged)}")


def test_stored_notebooks_carry_no_outputs():
    # Notebooks are stored as percent scripts; a paired .ipynb, if one is ever added, is
    # stored without outputs so that its diffs stay readable.
    for path in (ROOT / "notebooks").rglob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        dirty = [i for i, cell in enumerate(cells) if cell.get("outputs") or cell.get("execution_count")]
        assert not dirty, f"{path.relative_to(ROOT)}: cells {dirty} carry outputs; strip them"
