"""The registry theory/claims.toml and the code point at each other (kmeans_rbf.registry)."""

import pathlib

from kmeans_rbf import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_registry_is_complete_and_consistent():
    problems = registry.problems(ROOT)
    assert not problems, "theory/claims.toml:\n" + "\n".join(problems)


def test_registry_validation_bites(tmp_path):
    # A registry with every kind of defect must report each one.
    (tmp_path / "theory").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "proofs").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text(
        "import pytest\n\n@pytest.mark.claim('a')\ndef test_marked():\n    pass\n\n"
        "def test_unmarked():\n    pass\n\n@pytest.mark.claim('ghost')\ndef test_ghost():\n    pass\n"
    )
    (tmp_path / "theory" / "claims.toml").write_text(
        '[[claim]]\nid = "a"\ntitle = "t"\nstatement = "s"\nstatus = "proved"\nproofs = []\n'
        'tests = ["tests/test_a.py::test_marked", "tests/test_a.py::test_unmarked", "tests/test_b.py::test_x"]\n'
        '[[claim]]\nid = "a"\ntitle = "t"\nstatement = "s"\nstatus = "maybe"\nproofs = []\ntests = []\n'
        '[[claim]]\nid = "c"\n'
    )
    text = "\n".join(registry.problems(tmp_path))
    for expected in [
        "claim a: status 'proved' without a proof",
        "claim a: neither proofs nor no_proof_reason",
        "lacks @pytest.mark.claim('a')",
        "names 'tests/test_b.py', not a file under tests/",
        "claim a: duplicate id",
        "status 'maybe' is not one of",
        "claim a: no tests",
        "claim a: no test that the property bites",
        "claim c: missing title",
        "marked with unknown claim 'ghost'",
    ]:
        assert expected in text, f"{expected!r} not reported in:\n{text}"
