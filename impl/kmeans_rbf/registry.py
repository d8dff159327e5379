"""The registry of claims, ``theory/claims.toml``: loading and validation.

Each ``[[claim]]`` table has

* ``id`` (unique slug), ``title``, ``statement`` (precise, with hypotheses),
* ``status``: ``"proved"`` (machine-checked derivations cover the statement, in full or in
  part: its ``level`` says which),
  ``"verified"`` (property tests pass; no proof exists or is claimed), ``"refuted"``
  (a counterexample is recorded and tested), ``"open"`` (searched, not settled), or
  ``"formally proved"`` (machine-checked Coq theorems prove the full statement; requires a
  non-empty ``coq`` list),
* ``level``: what stands behind the status, one of :data:`LEVELS`: ``"coq"`` (the full
  statement is a Coq theorem; exactly the claims with status ``"formally proved"``),
  ``"derived"`` (sympy/z3, or Coq, derivations cover the full statement), ``"derived-in-part"``
  (they cover part of it: ``level_note`` says which part, and what the rest rests on),
  ``"numerical"`` (measurements, searches, property tests), ``"written"`` (a written argument
  only). A claim with status ``"proved"`` is at least ``"derived-in-part"``;
* ``level_note``: required for ``"derived-in-part"``,
* ``proofs``: paths under ``proofs/``, optionally ``path::test_name``,
* ``tests``: pytest node ids under ``tests/`` (``path::test_name``), at least one of them
  a test that the claim's property *bites* (fails on a deliberately broken
  implementation), named ``*bite*``,
* ``no_proof_reason``: required when ``proofs`` is empty,
* ``coq`` (optional): Coq theorems that prove the claim or part of it, as
  ``"proofs/coq/File.v::theorem_name"``; each must be declared in that file
  (``Theorem|Lemma|Corollary|Proposition|Example name``). ``tests/test_coq_proofs.py``
  compiles the files and checks the axioms every named theorem depends on.

Every proof and test the registry names must exist and must carry the marker
``@pytest.mark.claim("<id>")`` of that claim, and every test that carries a claim marker
must be named by that claim: the registry and the code point at each other.
"""

import ast
import functools
import pathlib
import re
import tomllib

__all__ = ["STATUSES", "HOLDING", "LEVELS", "load", "inconsistencies", "claim_markers", "caught_variants", "coq_theorems"]

STATUSES = ("proved", "verified", "refuted", "open", "formally proved")
# The statuses of a claim that holds (each says how it is known); "refuted" and "open" do not.
HOLDING = ("formally proved", "proved", "verified")
LEVELS = ("coq", "derived", "derived-in-part", "numerical", "written")
# The levels each status admits: "proved" needs a machine-checked derivation of at least
# part of the statement; "verified" and "open" rest on measurements (or words).
_LEVELS_OF_STATUS = {
    "formally proved": ("coq",),
    "proved": ("derived", "derived-in-part"),
    "refuted": ("derived", "derived-in-part", "numerical"),
    "verified": ("numerical", "written"),
    "open": ("numerical", "written"),
}
REQUIRED = ("id", "title", "statement", "status", "proofs", "tests")


def load(path):
    """The list of claim tables of the registry at ``path``."""
    with open(path, "rb") as handle:
        return tomllib.load(handle).get("claim", [])


@functools.lru_cache(maxsize=None)
def _parsed(path, modified):
    # One parse per file version: the registry names each test file many times.
    return ast.parse(pathlib.Path(path).read_text(), filename=str(path))


def _tree(path):
    path = pathlib.Path(path)
    return _parsed(str(path.resolve()), path.stat().st_mtime_ns)


def claim_markers(path):
    """``{test_name: {claim ids}}`` for the functions of a test file marked with ``claim``."""
    tree = _tree(path)
    markers = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            ids = set()
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "claim"
                ):
                    ids.update(a.value for a in decorator.args if isinstance(a, ast.Constant))
            markers[node.name] = ids
    return markers


def _variant_descriptions(root):
    """``{NAME: description}`` of ``tests/variants.py``: the first string of each
    ``NAME = <builder>("description", ...)``."""
    path = pathlib.Path(root) / "tests" / "variants.py"
    if not path.is_file():
        return {}
    found = {}
    for node in _tree(path).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args:
            first = node.value.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.isupper():
                        found[target.id] = first.value
    return found


def caught_variants(root, claim):
    """The broken variants the claim's bite tests run, as ``[(NAME, description)]``.

    A bite test (a test of the claim named ``*bite*``) names its variants as
    ``variants.NAME`` in its body or its decorators; the descriptions come from
    ``tests/variants.py``. This is what takes a reader from a claim id to the bug its
    property is shown to catch.

    Examples
    --------
    >>> [name for name, _ in caught_variants(_default_root(), {"tests": [
    ...     "tests/claims/test_step_size.py::test_step_size_property_bites"]})]
    ['SOFT_STEP_MIRRORED']
    """
    root = pathlib.Path(root)
    descriptions = _variant_descriptions(root)
    names = []
    for test in claim.get("tests", []):
        path, name = _split(test)
        if not name or "bite" not in name or not (root / path).is_file():
            continue
        for node in ast.walk(_tree(root / path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                for inner in ast.walk(ast.Module(body=[node], type_ignores=[])):
                    if (isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name)
                            and inner.value.id == "variants" and inner.attr in descriptions and inner.attr not in names):
                        names.append(inner.attr)
    return [(name, descriptions[name]) for name in names]


def coq_theorems(path):
    """The names declared as theorems in the Coq file at ``path``."""
    text = re.sub(r"\(\*.*?\*\)", " ", pathlib.Path(path).read_text(), flags=re.S)
    return set(re.findall(r"\b(?:Theorem|Lemma|Corollary|Proposition|Example)\s+([A-Za-z_][\w']*)", text))


def _coq_inconsistencies(where, claim, root):
    found = []
    if claim["status"] == "formally proved" and not claim.get("coq"):
        found.append(f"{where}: status 'formally proved' without a coq theorem")
    for reference in claim.get("coq", []):
        path, _, name = reference.partition("::")
        file = root / path
        if not path.startswith("proofs/coq/") or not path.endswith(".v") or not file.is_file():
            found.append(f"{where}: coq names {path!r}, not a .v file under proofs/coq/")
        elif name not in coq_theorems(file):
            found.append(f"{where}: coq names {reference!r}, no theorem of {path}")
    return found


def _level_inconsistencies(where, claim):
    level = claim.get("level")
    if level is None:
        return [f"{where}: no level (one of {LEVELS})"]
    if level not in LEVELS:
        return [f"{where}: level {level!r} is not one of {LEVELS}"]
    found = []
    allowed = _LEVELS_OF_STATUS.get(claim["status"], LEVELS)
    if level not in allowed:
        found.append(f"{where}: level {level!r} with status {claim['status']!r} (allowed: {allowed})")
    if level == "derived-in-part" and not str(claim.get("level_note", "")).strip():
        found.append(f"{where}: level 'derived-in-part' without a level_note saying which part")
    if level in ("derived", "derived-in-part") and not (claim["proofs"] or claim.get("coq")):
        found.append(f"{where}: level {level!r} without a proof or a coq theorem")
    return found


def _split(reference):
    path, _, name = reference.partition("::")
    return path, name.split("[")[0] or None


def inconsistencies(root, registry=None):
    """Everything wrong with the registry of the project at ``root``, as sentences.

    ``registry`` names another registry file to check against the same tree (default
    ``root/theory/claims.toml``).
    """
    root = pathlib.Path(root)
    claims = load(registry or root / "theory" / "claims.toml")
    found, seen = [], set()
    named = set()  # (file, function) pairs the registry names
    for index, claim in enumerate(claims):
        where = f"claim {claim.get('id', f'#{index}')!s}"
        missing = [key for key in REQUIRED if key not in claim]
        if missing:
            found.append(f"{where}: missing {', '.join(missing)}")
            continue
        if claim["id"] in seen:
            found.append(f"{where}: duplicate id")
        seen.add(claim["id"])
        if claim["status"] not in STATUSES:
            found.append(f"{where}: status {claim['status']!r} is not one of {STATUSES}")
        if not claim["tests"]:
            found.append(f"{where}: no tests")
        elif not any("bite" in test for test in claim["tests"]):
            found.append(f"{where}: no test that the property bites (a *bite* test)")
        if not claim["proofs"] and not claim.get("no_proof_reason", "").strip():
            found.append(f"{where}: neither proofs nor no_proof_reason")
        if claim["status"] == "proved" and not claim["proofs"] and not claim.get("coq"):
            found.append(f"{where}: status 'proved' without a proof")
        found.extend(_coq_inconsistencies(where, claim, root))
        found.extend(_level_inconsistencies(where, claim))
        for kind, folder in (("proofs", "proofs"), ("tests", "tests")):
            for reference in claim[kind]:
                path, name = _split(reference)
                file = root / path
                if not path.startswith(folder + "/") or not file.is_file():
                    found.append(f"{where}: {kind} names {path!r}, not a file under {folder}/")
                    continue
                markers = claim_markers(file)
                names = [name] if name else [n for n in markers if n.startswith("test")]
                for test in names:
                    named.add((path, test))
                    if test not in markers:
                        found.append(f"{where}: {reference!r} names no function of {path}")
                    elif claim["id"] not in markers[test]:
                        found.append(
                            f"{where}: {path}::{test} lacks @pytest.mark.claim({claim['id']!r})"
                        )
    for folder, pattern in (("tests", "test_*.py"), ("proofs", "proof_*.py")):
        for file in sorted((root / folder).rglob(pattern)):
            path = file.relative_to(root).as_posix()
            for test, ids in claim_markers(file).items():
                for claim_id in ids:
                    if claim_id not in seen:
                        found.append(f"{path}::{test} is marked with unknown claim {claim_id!r}")
                    elif (path, test) not in named:
                        found.append(f"{path}::{test} is marked {claim_id!r} but the claim does not name it")
    return found


# --- The notes: one generated block per claim --------------------------------------------
#
# Each claim has exactly one section in exactly one note theory/<topic>.md, headed
# ``## <id> — <short title>``. Right under the heading, between the markers
# ``<!-- registry:begin <id> -->`` and ``<!-- registry:end <id> -->``, sits a block generated
# from the claim's table: the registry is the one copy of the statement, the status and the
# lists of proofs and tests; the note's hand-written prose around it discusses them.

__all__ += ["NOTES_COMMAND", "render_block", "claim_notes", "note_inconsistencies", "write_notes", "main"]

NOTES_COMMAND = "python -m kmeans_rbf.registry --write-notes"

_HEADING = re.compile(r"^## (?P<id>[a-z0-9][a-z0-9-]*) — ")
_BEGIN = re.compile(r"^<!-- registry:begin (?P<id>\S+) -->\s*$")
_END = re.compile(r"^<!-- registry:end (?P<id>\S+) -->\s*$")
_LABELS = {"status": "Status", "statement": "Statement", "proofs": "Proofs", "tests": "Tests"}


def _label(field):
    return _LABELS.get(field) or field.replace("_", " ").capitalize()


def _render_field(field, value):
    """Markdown lines for one field: a scalar inline (a multi-line string as a paragraph),
    a list of scalars as bullets of code spans, anything else as its repr in a code span."""
    label = f"**{_label(field)}.**"
    if isinstance(value, str):
        text = value.strip()
        return [f"{label} {text}"] if "\n" not in text else [label, "", text]
    if isinstance(value, (bool, int, float)):
        return [f"{label} {str(value).lower() if isinstance(value, bool) else value}"]
    if isinstance(value, list) and all(isinstance(item, (str, bool, int, float)) for item in value):
        return [f"{label} none"] if not value else [label, "", *(f"- `{item}`" for item in value)]
    return [f"{label} `{value!r}`"]


def render_block(claim, variants=()):
    """The block of the notes generated from one claim table, markers included.

    It shows the status and title, the statement verbatim (a ``text`` code block: the
    registry writes its maths in ASCII), the proofs and tests as node ids, then every other
    field of the table in the registry's order, under its name (``no_proof_reason`` as
    "No proof reason"), so that a field added to the registry appears without a change
    here, and last the broken ``variants`` its bite tests catch (``caught_variants``).
    ``id`` is in the markers.

    Examples
    --------
    >>> claim = {"id": "demo", "title": "J <= L_T", "statement": "For every C:\\nJ <= L_T.",
    ...          "status": "proved", "proofs": ["proofs/proof_demo.py::test_chain"],
    ...          "tests": [], "coq": ["Demo.chain"]}
    >>> print(render_block(claim))
    <!-- registry:begin demo -->
    <!-- Generated from theory/claims.toml by `python -m kmeans_rbf.registry --write-notes`: edit the registry, not this block. -->
    **Status: proved.** J <= L_T
    <BLANKLINE>
    **Statement.**
    <BLANKLINE>
    ```text
    For every C:
    J <= L_T.
    ```
    <BLANKLINE>
    **Proofs.**
    <BLANKLINE>
    - `proofs/proof_demo.py::test_chain`
    <BLANKLINE>
    **Tests.** none
    <BLANKLINE>
    **Coq.**
    <BLANKLINE>
    - `Demo.chain`
    <!-- registry:end demo -->
    """
    lines = [
        f"<!-- registry:begin {claim['id']} -->",
        f"<!-- Generated from theory/claims.toml by `{NOTES_COMMAND}`: edit the registry, not this block. -->",
        f"**Status: {claim.get('status', '?')}.** {claim.get('title', '').strip()}",
    ]
    statement = claim.get("statement", "").strip()
    lines += ["", "**Statement.**", "", "```text", *statement.splitlines(), "```"]
    for field in ("proofs", "tests"):
        if field in claim:
            lines += ["", *_render_field(field, claim[field])]
    for field, value in claim.items():
        if field not in ("id", "title", "statement", "status", "proofs", "tests"):
            lines += ["", *_render_field(field, value)]
    if variants:
        lines += ["", "**Broken variants its bite tests catch** (`tests/variants.py`).", ""]
        lines += [f"- `{name}`: {description}" for name, description in variants]
    lines.append(f"<!-- registry:end {claim['id']} -->")
    return "\n".join(lines)


def _notes(root):
    return sorted((pathlib.Path(root) / "theory").glob("*.md"))


def _scan(lines):
    """Claim sections and registry blocks of a note's lines.

    Returns ``(sections, blocks, errors)``: ``sections`` maps a line index to the id of a
    ``## <id> — `` heading; ``blocks`` is a list of ``(id, begin, end, section)`` (line
    indices of the markers, and the id of the claim section the block is in, or None);
    ``errors`` are malformed markers, as ``(line index, sentence)``.
    """
    sections, blocks, errors = {}, [], []
    section, begin = None, None
    for index, line in enumerate(lines):
        if line.startswith("## "):
            heading = _HEADING.match(line)
            section = heading["id"] if heading else None
            if heading:
                sections[index] = section
        opened, closed = _BEGIN.match(line), _END.match(line)
        if opened:
            if begin is not None:
                errors.append((begin, f"block {_BEGIN.match(lines[begin])['id']} is not closed before line {index + 1}"))
            begin = index
        elif closed:
            if begin is None:
                errors.append((index, f"end of block {closed['id']} without its begin"))
            elif closed["id"] != _BEGIN.match(lines[begin])["id"]:
                errors.append((begin, f"block {_BEGIN.match(lines[begin])['id']} ends as {closed['id']}"))
                begin = None
            else:
                blocks.append((closed["id"], begin, index, section))
                begin = None
    if begin is not None:
        errors.append((begin, f"block {_BEGIN.match(lines[begin])['id']} is never closed"))
    return sections, blocks, errors


def claim_notes(root):
    """``{claim id: [notes]}``: for every ``## <id> — ...`` heading of ``root/theory/*.md``,
    the notes (paths relative to ``root``) that have it; ids are not checked against the
    registry here (:func:`note_inconsistencies` does).

    Examples
    --------
    >>> claim_notes(_default_root())["sandwich"]
    ['theory/convergence.md']
    """
    root = pathlib.Path(root)
    found = {}
    for note in _notes(root):
        for claim_id in _scan(note.read_text().splitlines())[0].values():
            found.setdefault(claim_id, []).append(note.relative_to(root).as_posix())
    return found


def note_inconsistencies(root, registry=None):
    """Everything wrong with the claim sections of the notes ``root/theory/*.md``, as sentences.

    The rules: every claim of the registry has exactly one section ``## <id> — ...`` in
    exactly one note, and that section holds exactly one block
    ``<!-- registry:begin <id> -->`` ... ``<!-- registry:end <id> -->``, equal to
    ``render_block(claim)`` (else: regenerate with :data:`NOTES_COMMAND`); no note has a
    section or a block for an id the registry does not have; markers are well formed.
    ``registry`` names another registry file (default ``root/theory/claims.toml``).

    Examples
    --------
    >>> import pathlib, shutil, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "theory").mkdir()
    >>> _ = (root / "theory" / "claims.toml").write_text(
    ...     '[[claim]]\\nid = "a"\\ntitle = "t"\\nstatement = "s"\\nstatus = "open"\\n'
    ...     'proofs = []\\ntests = []\\n')
    >>> _ = (root / "theory" / "note.md").write_text("# Note\\n\\n## a — the claim a\\n\\nProse.\\n")
    >>> note_inconsistencies(root)  # doctest: +ELLIPSIS
    ['theory/note.md:3: section a has no registry block; run `python -m kmeans_rbf.registry --write-notes`...']
    >>> write_notes(root)
    ['theory/note.md']
    >>> note_inconsistencies(root)
    []
    >>> shutil.rmtree(root)
    """
    root = pathlib.Path(root)
    claims = {claim["id"]: claim for claim in load(registry or root / "theory" / "claims.toml") if "id" in claim}
    found = []
    where_sections, where_blocks = {}, {}
    for note in _notes(root):
        name = note.relative_to(root).as_posix()
        lines = note.read_text().splitlines()
        sections, blocks, errors = _scan(lines)
        found += [f"{name}:{index + 1}: {sentence}" for index, sentence in errors]
        for index, claim_id in sections.items():
            where_sections.setdefault(claim_id, []).append(f"{name}:{index + 1}")
            if claim_id not in claims:
                found.append(f"{name}:{index + 1}: section for unknown claim {claim_id!r}")
            elif not any(block[0] == claim_id and block[3] == claim_id for block in blocks):
                found.append(
                    f"{name}:{index + 1}: section {claim_id} has no registry block; run `{NOTES_COMMAND}` "
                    "(it adds one under the heading)"
                )
        for claim_id, begin, end, section in blocks:
            where_blocks.setdefault(claim_id, []).append(f"{name}:{begin + 1}")
            if claim_id not in claims:
                found.append(f"{name}:{begin + 1}: block for unknown claim {claim_id!r}")
                continue
            if section != claim_id:
                found.append(f"{name}:{begin + 1}: block {claim_id} is not in the section ## {claim_id} — ...")
            if "\n".join(lines[begin : end + 1]) != render_block(claims[claim_id], caught_variants(root, claims[claim_id])):
                found.append(
                    f"{name}:{begin + 1}: block {claim_id} is out of date with theory/claims.toml; "
                    f"regenerate it with `{NOTES_COMMAND}`"
                )
    for claim_id, claim in claims.items():
        sections, blocks = where_sections.get(claim_id, []), where_blocks.get(claim_id, [])
        if not sections:
            found.append(
                f"claim {claim_id}: no section in theory/*.md; add `## {claim_id} — <title>` to its note "
                f"and run `{NOTES_COMMAND}`"
            )
        elif len(sections) > 1:
            found.append(f"claim {claim_id}: {len(sections)} sections ({', '.join(sections)}); keep one")
        if len(blocks) > 1:
            found.append(f"claim {claim_id}: {len(blocks)} blocks ({', '.join(blocks)}); keep one")
    return found


def write_notes(root, registry=None):
    """Regenerate the registry blocks of the notes ``root/theory/*.md`` in place.

    Replaces every block of a known claim by ``render_block(claim)`` and adds a block right
    under every claim heading ``## <id> — ...`` that has none. Blocks of unknown ids are left
    for :func:`note_inconsistencies` to report. Returns the paths (relative to ``root``) of the notes
    it changed. Raises ``ValueError`` on malformed markers, before writing anything.
    Example: see :func:`note_inconsistencies`.
    """
    root = pathlib.Path(root)
    claims = {claim["id"]: claim for claim in load(registry or root / "theory" / "claims.toml") if "id" in claim}
    updates = {}
    for note in _notes(root):
        name = note.relative_to(root).as_posix()
        text = note.read_text()
        lines = text.splitlines()
        sections, blocks, errors = _scan(lines)
        if errors:
            raise ValueError("; ".join(f"{name}:{index + 1}: {sentence}" for index, sentence in errors))
        def block(claim_id):
            return render_block(claims[claim_id], caught_variants(root, claims[claim_id])).split("\n")

        edits = [(begin, end + 1, block(claim_id)) for claim_id, begin, end, _ in blocks if claim_id in claims]
        covered = {section for claim_id, _, _, section in blocks if claim_id == section}
        edits += [(index + 1, index + 1, ["", *block(claim_id)])
                  for index, claim_id in sections.items() if claim_id in claims and claim_id not in covered]
        for start, stop, replacement in sorted(edits, reverse=True):
            lines[start:stop] = replacement
        new = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
        if new != text:
            updates[note] = (name, new)
    for note, (_, new) in updates.items():
        note.write_text(new)
    return [name for name, _ in updates.values()]


def _default_root():
    here = pathlib.Path.cwd()
    source = pathlib.Path(__file__).resolve().parents[2]
    return here if (here / "theory" / "claims.toml").is_file() else source


def main(argv=None):
    """``python -m kmeans_rbf.registry [--write-notes] [--root DIR]``.

    Without options: print every problem of the registry and of the notes, exit status 1 if
    there is one. With ``--write-notes``: regenerate the notes' blocks first.
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m kmeans_rbf.registry",
        description="Check theory/claims.toml against the code and the notes; regenerate the notes' blocks.",
    )
    parser.add_argument("--write-notes", action="store_true", help="regenerate the registry blocks of theory/*.md")
    parser.add_argument("--root", type=pathlib.Path, default=None, help="the project's root (default: found)")
    options = parser.parse_args(argv)
    root = options.root or _default_root()
    if options.write_notes:
        for name in write_notes(root):
            print(f"rewrote {name}")
    found = inconsistencies(root) + note_inconsistencies(root)
    for sentence in found:
        print(sentence)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
