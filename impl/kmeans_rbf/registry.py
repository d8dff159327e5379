"""The registry of claims, ``theory/claims.toml``: loading and validation.

Each ``[[claim]]`` table has

* ``id`` (unique slug), ``title``, ``statement`` (precise, with hypotheses),
* ``status``: ``"proved"`` (a symbolic or SMT proof covers the statement),
  ``"verified"`` (property tests pass; no proof exists or is claimed), ``"refuted"``
  (a counterexample is recorded and tested), ``"open"`` (searched, not settled), or
  ``"formally proved"`` (machine-checked Coq theorems prove the full statement; requires a
  non-empty ``coq`` list),
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
import pathlib
import re
import tomllib

__all__ = ["STATUSES", "load", "problems", "claim_markers", "coq_theorems"]

STATUSES = ("proved", "verified", "refuted", "open", "formally proved")
REQUIRED = ("id", "title", "statement", "status", "proofs", "tests")


def load(path):
    """The list of claim tables of the registry at ``path``."""
    with open(path, "rb") as handle:
        return tomllib.load(handle).get("claim", [])


def claim_markers(path):
    """``{test_name: {claim ids}}`` for the functions of a test file marked with ``claim``."""
    tree = ast.parse(pathlib.Path(path).read_text(), filename=str(path))
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


def coq_theorems(path):
    """The names declared as theorems in the Coq file at ``path``."""
    text = re.sub(r"\(\*.*?\*\)", " ", pathlib.Path(path).read_text(), flags=re.S)
    return set(re.findall(r"\b(?:Theorem|Lemma|Corollary|Proposition|Example)\s+([A-Za-z_][\w']*)", text))


def _coq_problems(where, claim, root):
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


def _split(reference):
    path, _, name = reference.partition("::")
    return path, name.split("[")[0] or None


def problems(root, registry=None):
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
        if claim["status"] == "proved" and not claim["proofs"]:
            found.append(f"{where}: status 'proved' without a proof")
        found.extend(_coq_problems(where, claim, root))
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
