"""The registry theory/claims.toml and the code point at each other (kmeans_rbf.registry)."""

import pathlib
import re
import shutil

import pytest

from kmeans_rbf import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_registry_is_complete_and_consistent():
    problems = registry.inconsistencies(ROOT)
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
    text = "\n".join(registry.inconsistencies(tmp_path))
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


def test_level_validation_bites(tmp_path):
    # Catches: a level missing or unknown, a level that claims more than the status (coq
    # without "formally proved", "formally proved" at another level, "proved" resting on
    # measurements), "derived-in-part" without the note that names the part, and a derived
    # level without any proof behind it.
    (tmp_path / "theory").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "proofs").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text(
        "import pytest\n\n" + "".join(
            f"@pytest.mark.claim('{c}')\ndef test_bites_{i}():\n    pass\n\n" for i, c in enumerate("abcdefgh")
        )
    )

    def claim(name, status, level=None, note=None, proofs="[]"):
        text = (f'[[claim]]\nid = "{name}"\ntitle = "t"\nstatement = "s"\nstatus = "{status}"\n'
                f'proofs = {proofs}\nno_proof_reason = "r"\ntests = ["tests/test_a.py::test_bites_{"abcdefgh".index(name)}"]\n')
        text += f'level = "{level}"\n' if level else ""
        return text + (f'level_note = "{note}"\n' if note else "")

    (tmp_path / "theory" / "claims.toml").write_text(
        claim("a", "verified")
        + claim("b", "verified", "guessed")
        + claim("c", "proved", "coq")
        + claim("d", "formally proved", "derived")
        + claim("e", "proved", "numerical")
        + claim("f", "refuted", "derived-in-part")
        + claim("g", "refuted", "derived")
        + claim("h", "verified", "numerical")
    )
    text = "\n".join(registry.inconsistencies(tmp_path))
    for expected in [
        "claim a: no level",
        "claim b: level 'guessed' is not one of",
        "claim c: level 'coq' with status 'proved'",
        "claim d: level 'derived' with status 'formally proved'",
        "claim e: level 'numerical' with status 'proved'",
        "claim f: level 'derived-in-part' without a level_note",
        "claim g: level 'derived' without a proof or a coq theorem",
    ]:
        assert expected in text, f"{expected!r} not reported in:\n{text}"
    assert "claim h:" not in text, text


# --- the notes: each claim's block in theory/*.md is generated from the registry ----------


def test_notes_carry_the_registry():
    problems = registry.note_inconsistencies(ROOT)
    assert not problems, "theory/*.md:\n" + "\n".join(problems)


def _copy_of_theory(tmp_path):
    # The blocks also name the broken variants of each claim's bite tests: the tests and the
    # variants they use come along.
    shutil.copytree(ROOT / "theory", tmp_path / "theory")
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    return tmp_path / "theory"


def test_blocks_follow_the_broken_variants(tmp_path):
    # A variant renamed or redescribed makes the blocks of the claims it serves stale.
    _copy_of_theory(tmp_path)
    variants = tmp_path / "tests" / "variants.py"
    variants.write_text(variants.read_text().replace('"soft step of size N/n_k"', '"a renamed bug"', 1))
    stale = "\n".join(registry.note_inconsistencies(tmp_path))
    assert "block step-size is out of date" in stale


def test_note_check_bites(tmp_path):
    # On a copy of theory/: a stale block, a missing section, a block and a section for an
    # unknown id, a claim with two sections, and malformed markers must each be reported.
    theory = _copy_of_theory(tmp_path)
    assert registry.note_inconsistencies(tmp_path) == []
    toml = theory / "claims.toml"
    toml.write_text(toml.read_text().replace("J(C) - T H_max <= F_T(C)", "J(C) - 2 T H_max <= F_T(C)", 1))
    convergence = theory / "convergence.md"
    text = convergence.read_text()
    start = text.index("## rates — ")
    convergence.write_text(text[:start])  # the section of claim rates is gone
    gradients = theory / "gradients.md"
    gradients.write_text(
        gradients.read_text()
        + "\n## ghost — not a claim\n\n<!-- registry:begin ghost -->\n<!-- registry:end ghost -->\n"
        + "\n## sandwich — a second section\n\nProse.\n"
    )
    text = "\n".join(registry.note_inconsistencies(tmp_path))
    for expected in [
        "theory/convergence.md:",
        "block sandwich is out of date with theory/claims.toml; regenerate it with "
        "`python -m kmeans_rbf.registry --write-notes`",
        "claim rates: no section in theory/*.md",
        "section for unknown claim 'ghost'",
        "block for unknown claim 'ghost'",
        "claim sandwich: 2 sections",
        "theory/gradients.md:",
        "section sandwich has no registry block",
    ]:
        assert expected in text, f"{expected!r} not reported in:\n{text}"
    # The command repairs what it can: the stale block, and a block under the new heading.
    assert sorted(registry.write_notes(tmp_path)) == ["theory/convergence.md", "theory/gradients.md"]
    text = "\n".join(registry.note_inconsistencies(tmp_path))
    assert "out of date" not in text and "has no registry block" not in text
    assert "claim sandwich: 2 blocks" in text and "claim rates: no section" in text
    # Malformed markers: reported by the check, and write_notes refuses to touch the notes.
    entmax = theory / "entmax.md"
    entmax.write_text(entmax.read_text().replace("<!-- registry:end dead-centres -->", "", 1))
    assert "block dead-centres is not closed before line" in "\n".join(registry.note_inconsistencies(tmp_path))
    with pytest.raises(ValueError, match="dead-centres"):
        registry.write_notes(tmp_path)


def test_render_block_shows_every_field():
    # Fields the renderer has never heard of (added to the registry later) appear by name.
    claim = {
        "id": "x", "title": "t", "statement": "s", "status": "open", "proofs": [], "tests": ["tests/a.py::test_b"],
        "no_proof_reason": "two\nlines", "coq": ["Kmeans.sandwich"], "level": 2,
    }
    block = registry.render_block(claim)
    for expected in ["**Status: open.** t", "**Proofs.** none", "- `tests/a.py::test_b`",
                     "**No proof reason.**\n\ntwo\nlines", "**Coq.**\n\n- `Kmeans.sandwich`", "**Level.** 2"]:
        assert expected in block, f"{expected!r} not in:\n{block}"


def _table_rows(path):
    """(first cell, note linked in the row or None, [ids in backticks]) per markdown table row."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("|") and not set(line) <= set("|- "):
            note = re.search(r"\]\((\w+\.md)\)", line)
            first = line.split("|")[1].strip()
            rows.append((first, note and note.group(1), re.findall(r"`([a-z0-9-]+)`", line)))
    return rows


def test_claim_tables_list_every_claim_under_its_note():
    # theory/README.md and the claim families of theory/conventions.md list each claim once,
    # in the row of the note that has its section; the old-number table covers every claim.
    ids = {claim["id"] for claim in registry.load(ROOT / "theory" / "claims.toml")}
    notes = {claim_id: found[0].removeprefix("theory/") for claim_id, found in registry.claim_notes(ROOT).items()}
    for table in ("README.md", "conventions.md"):
        rows = _table_rows(ROOT / "theory" / table)
        listed = [(note, claim_id) for _, note, row in rows if note for claim_id in row]
        assert sorted(claim_id for _, claim_id in listed) == sorted(ids), f"theory/{table}: claims listed != registry"
        wrong = [(claim_id, note) for note, claim_id in listed if notes.get(claim_id) != note]
        assert not wrong, f"theory/{table}: listed under the wrong note: {wrong}"
    rows = _table_rows(ROOT / "theory" / "conventions.md")
    numbered = {int(first): row for first, _, row in rows if first.isdigit()}
    old = {claim_id for row in numbered.values() for claim_id in row}
    assert sorted(numbered) == list(range(1, 15)), f"old claim numbers: rows {sorted(numbered)}"
    assert old == ids, f"old claim numbers: missing {ids - old}, unknown {old - ids}"
