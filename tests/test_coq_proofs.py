"""The Coq proofs of ``proofs/coq``: they compile, admit nothing, and every theorem the
registry names (``coq = [...]`` in ``theory/claims.toml``) rests on no axiom beyond those
of Coq's real numbers.

Needs ``coqc`` with Coquelicot (Debian: ``apt-get install -y coq libcoq-coquelicot
libcoq-interval libcoq-flocq``). Without it the tests skip, unless the environment sets
``KMEANS_RBF_REQUIRE_COQ=1`` (as ``.ci/run`` does), where a missing ``coqc`` fails.
"""

import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest

from kmeans_rbf import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]
COQ_DIR = ROOT / "proofs" / "coq"
INSTALL = "apt-get install -y coq libcoq-coquelicot libcoq-interval libcoq-flocq"

# The axioms a proof over Coq's real numbers may depend on, and nothing else. Determined
# empirically with Coq 8.16.1 and Coquelicot 3.2 (Debian bookworm), and re-derived by
# test_whitelist_is_what_the_real_numbers_need below: `Print Assumptions` of a trivial real
# lemma (x + 0 = x, by lra) lists the first two (the axioms of the classical Dedekind
# construction of R in Coq.Reals, and functional extensionality it uses); a lemma deciding
# an order (Rle_dec, Rmin) adds sig_not_dec; Coquelicot's limits (is_lim_exp_m) and the
# standard library's 1 + x <= exp x add Classical_Prop.classic. (The Interval tactic would add primitive-float axioms: the
# proofs do not use it.)
WHITELIST = {
    "ClassicalDedekindReals.sig_forall_dec",
    "FunctionalExtensionality.functional_extensionality_dep",
    "ClassicalDedekindReals.sig_not_dec",
    "Classical_Prop.classic",
}

# What a proof may not contain (outside comments): an admitted or aborted proof, or a new
# axiom. Section variables and hypotheses are allowed: they are discharged when the section
# closes, and an undischarged one would show in Print Assumptions.
FORBIDDEN = re.compile(r"\b(Admitted|admit|Abort|Axiom|Axioms|Parameter|Parameters|Conjecture)\b")


def _strip_comments(text):
    """Coq source without its (possibly nested) comments."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith("(*", i):
            depth, i = depth + 1, i + 2
        elif depth and text.startswith("*)", i):
            depth, i = depth - 1, i + 2
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


def forbidden_commands(path):
    """``[(line, word)]`` of the forbidden commands in the Coq file at ``path``."""
    text = _strip_comments(pathlib.Path(path).read_text())
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FORBIDDEN.finditer(text)]


def project(folder):
    """The ``coqc`` flags and the files (in build order) of ``folder/_CoqProject``."""
    words = (folder / "_CoqProject").read_text().split()
    flags, files, i = [], [], 0
    while i < len(words):
        word = words[i]
        if word == "-arg":
            flags.append(words[i + 1])
            i += 2
        elif word in ("-Q", "-R"):
            flags += words[i : i + 3]
            i += 3
        else:
            files.append(word)
            i += 1
    return flags, files


def compile_files(folder, flags, files, jobs=2):
    """Compile ``files`` in ``folder``, ``jobs`` at a time, each after the files it imports
    (``Require`` of a sibling module); return ``{file: error text}`` of the failures."""
    names = {pathlib.Path(name).stem: name for name in files}
    needs = {}
    for name in files:
        text = _strip_comments((folder / name).read_text())
        required = " ".join(re.findall(r"Require\s+(?:Import\s+|Export\s+)?([^.]*(?:\.[A-Za-z]\w*)*)\.", text))
        needs[name] = {names[word.split(".")[-1]] for word in required.split() if word.split(".")[-1] in names}
        needs[name].discard(name)
    done, running, errors = set(), {}, {}
    while len(done) < len(files) and not errors:
        for name in files:
            if name not in done and name not in running and needs[name] <= done and len(running) < jobs:
                with open(folder / f"{name}.log", "w") as log:  # a file: a pipe could fill up
                    running[name] = subprocess.Popen(
                        ["coqc", *flags, name], cwd=folder, stdout=log, stderr=subprocess.STDOUT
                    )
        if not running:
            errors["(project)"] = f"cannot order the files: {needs}"
            break
        finished = [name for name, process in running.items() if process.poll() is not None]
        if not finished:
            time.sleep(0.05)
        for name in finished:
            process = running.pop(name)
            if process.returncode:
                errors[name] = (folder / f"{name}.log").read_text()
            done.add(name)
    for process in running.values():
        process.wait()
    return errors


def parse_assumptions(text):
    """The axiom names of one ``Print Assumptions`` output."""
    if "Closed under the global context" in text:
        return set()
    names = set()
    for line in text.splitlines():
        if line and not line[0].isspace() and line.strip() != "Axioms:":
            names.add(line.split(" : ")[0].strip())
    return names


def assumptions(folder, flags, library, theorems, together=False):
    """``{theorem: axiom names}`` for qualified theorem names of the compiled ``library``.

    With ``together``, one ``Print Assumptions`` of the tuple of all the theorems (one
    traversal of the dependencies instead of one per theorem): ``{"all": union}``.
    """
    modules = sorted({name.split(".")[1] for name in theorems})
    lines = [f"From {library} Require {' '.join(modules)}."]
    if together:
        lines.append(f"Definition all_theorems := ({', '.join(theorems)}).")
        lines.append('Redirect "assumptions_all" Print Assumptions all_theorems.')
    else:
        for index, name in enumerate(theorems):
            lines.append(f'Redirect "assumptions_{index}" Print Assumptions {name}.')
    (folder / "PrintAssumptions.v").write_text("\n".join(lines) + "\n")
    run = subprocess.run(
        ["coqc", *flags, "PrintAssumptions.v"], cwd=folder, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    if together:
        return {"all": parse_assumptions((folder / "assumptions_all.out").read_text())}
    return {
        name: parse_assumptions((folder / f"assumptions_{index}.out").read_text())
        for index, name in enumerate(theorems)
    }


def registered_theorems():
    """Qualified names ``KmeansRBF.File.theorem`` of every theorem the registry names."""
    names = set()
    for claim in registry.load(ROOT / "theory" / "claims.toml"):
        for reference in claim.get("coq", []):
            path, _, theorem = reference.partition("::")
            names.add(f"KmeansRBF.{pathlib.Path(path).stem}.{theorem}")
    return sorted(names)


@pytest.fixture(scope="module")
def coq():
    if shutil.which("coqc") is None:
        message = f"coqc not found: install Coq and its libraries with `{INSTALL}`"
        if os.environ.get("KMEANS_RBF_REQUIRE_COQ") == "1":
            pytest.fail(message + " (KMEANS_RBF_REQUIRE_COQ=1 requires it)")
        pytest.skip(message)
    return shutil.which("coqc")


@pytest.fixture(scope="module")
def built(coq, tmp_path_factory):
    """A compiled copy of proofs/coq (the build products stay out of the worktree)."""
    folder = tmp_path_factory.mktemp("coq")
    flags, files = project(COQ_DIR)
    for name in files:
        shutil.copy(COQ_DIR / name, folder / name)
    errors = compile_files(folder, flags, files)
    assert not errors, "\n".join(f"{name}:\n{text}" for name, text in errors.items())
    return folder, flags


def test_every_coq_file_is_in_the_project():
    _, files = project(COQ_DIR)
    assert sorted(files) == sorted(path.name for path in COQ_DIR.glob("*.v"))


def test_no_admitted_step_and_no_new_axiom():
    found = {path.name: forbidden_commands(path) for path in sorted(COQ_DIR.glob("*.v"))}
    assert not any(found.values()), found


def test_registered_theorems_rest_only_on_the_real_number_axioms(built):
    folder, flags = built
    theorems = registered_theorems()
    assert theorems, "the registry names no Coq theorem"
    # The axioms of all of them at once; theorem by theorem only to say which one failed.
    if assumptions(folder, flags, "KmeansRBF", theorems, together=True)["all"] <= WHITELIST:
        return
    extra = {
        name: sorted(axioms - WHITELIST)
        for name, axioms in assumptions(folder, flags, "KmeansRBF", theorems).items()
        if axioms - WHITELIST
    }
    assert not extra, f"axioms outside the whitelist: {extra}"


def test_formally_proved_claims_name_coq_theorems():
    claims = registry.load(ROOT / "theory" / "claims.toml")
    proved = [claim["id"] for claim in claims if claim["status"] == "formally proved"]
    assert len(proved) >= 10, proved
    assert all(claim.get("coq") for claim in claims if claim["status"] == "formally proved")


def test_whitelist_is_what_the_real_numbers_need(coq, tmp_path):
    # Re-derive the whitelist: the axioms of three library-level facts over R.
    (tmp_path / "Trivial.v").write_text(
        "From Coq Require Import Reals Lra.\nFrom Coquelicot Require Import Coquelicot.\n"
        "Open Scope R_scope.\n"
        "Lemma plus_zero (x : R) : x + 0 = x.\nProof. lra. Qed.\n"
        "Lemma min_le (x y : R) : Rmin x y <= x.\nProof. apply Rmin_l. Qed.\n"
    )
    flags = ["-Q", ".", "Scratch", "-w", "-ambiguous-paths"]
    assert not compile_files(tmp_path, flags, ["Trivial.v"])
    found = assumptions(
        tmp_path,
        flags,
        "Scratch",
        ["Scratch.Trivial.plus_zero", "Scratch.Trivial.min_le"],
    )
    (tmp_path / "Lib.v").write_text(
        "From Coquelicot Require Import Coquelicot.\n"
        'Redirect "derive" Print Assumptions is_lim_exp_m.\n'
    )
    assert not compile_files(tmp_path, flags, ["Lib.v"])
    derive = parse_assumptions((tmp_path / "derive.out").read_text())
    assert found["Scratch.Trivial.plus_zero"] == {
        "ClassicalDedekindReals.sig_forall_dec",
        "FunctionalExtensionality.functional_extensionality_dep",
    }
    assert set().union(*found.values(), derive) == WHITELIST


def test_checker_bites_on_admitted_proofs_and_new_axioms(coq, tmp_path):
    # A proof with Admitted and one resting on a new Axiom: the text check and the
    # Print Assumptions check must each catch what they are for.
    (tmp_path / "Bad.v").write_text(
        "From Coq Require Import Reals Lra.\nOpen Scope R_scope.\n"
        "(* a comment saying Admitted is not a command *)\n"
        "Lemma admitted_lemma : 1 = 2.\nProof. Admitted.\n"
        "Axiom cheat : forall x : R, x = 0.\n"
        "Lemma uses_cheat : 1 = 0.\nProof. apply cheat. Qed.\n"
        "Lemma honest (x : R) : x + 0 = x.\nProof. lra. Qed.\n"
    )
    assert [word for _, word in forbidden_commands(tmp_path / "Bad.v")] == ["Admitted", "Axiom"]
    flags = ["-Q", ".", "Scratch"]
    # and a proof that does not check does not compile
    (tmp_path / "Broken.v").write_text("Lemma broken : 1 = 2.\nProof. reflexivity. Qed.\n")
    assert "Broken.v" in compile_files(tmp_path, flags, ["Broken.v"])
    assert not compile_files(tmp_path, flags, ["Bad.v"])
    found = assumptions(
        tmp_path,
        flags,
        "Scratch",
        ["Scratch.Bad.admitted_lemma", "Scratch.Bad.uses_cheat", "Scratch.Bad.honest"],
    )
    # Print Assumptions names them as short as unambiguous (here Bad.admitted_lemma).
    [admitted] = found["Scratch.Bad.admitted_lemma"] - WHITELIST
    [cheat] = found["Scratch.Bad.uses_cheat"] - WHITELIST
    assert admitted.endswith("admitted_lemma") and cheat.endswith("cheat")
    assert found["Scratch.Bad.honest"] <= WHITELIST
    # and the one-traversal check sees them too
    [union] = assumptions(tmp_path, flags, "Scratch", sorted(found), together=True).values()
    assert len(union - WHITELIST) == 2


def test_registry_coq_checks_bite(tmp_path):
    # A registry naming a missing Coq theorem, a file outside proofs/coq, and a
    # 'formally proved' claim without Coq theorems: each must be reported.
    (tmp_path / "theory").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "proofs" / "coq").mkdir(parents=True)
    (tmp_path / "proofs" / "coq" / "A.v").write_text(
        "(* Theorem commented_out : True. *)\nTheorem real_one : True.\nProof. exact I. Qed.\n"
    )
    (tmp_path / "tests" / "test_a.py").write_text(
        "import pytest\n\n@pytest.mark.claim('a')\ndef test_a_bite():\n    pass\n\n"
        "@pytest.mark.claim('b')\ndef test_b_bite():\n    pass\n"
    )
    (tmp_path / "theory" / "claims.toml").write_text(
        '[[claim]]\nid = "a"\ntitle = "t"\nstatement = "s"\nstatus = "formally proved"\n'
        'proofs = []\nno_proof_reason = "r"\ntests = ["tests/test_a.py::test_a_bite"]\n'
        'coq = ["proofs/coq/A.v::real_one", "proofs/coq/A.v::missing", '
        '"proofs/coq/A.v::commented_out", "proofs/B.v::x"]\n'
        '[[claim]]\nid = "b"\ntitle = "t"\nstatement = "s"\nstatus = "formally proved"\n'
        'proofs = []\nno_proof_reason = "r"\ntests = ["tests/test_a.py::test_b_bite"]\n'
    )
    text = "\n".join(registry.inconsistencies(tmp_path))
    for expected in [
        "claim a: coq names 'proofs/coq/A.v::missing', no theorem of proofs/coq/A.v",
        "claim a: coq names 'proofs/coq/A.v::commented_out', no theorem of proofs/coq/A.v",
        "claim a: coq names 'proofs/B.v', not a .v file under proofs/coq/",
        "claim b: status 'formally proved' without a coq theorem",
    ]:
        assert expected in text, f"{expected!r} not reported in:\n{text}"
    assert "real_one" not in text
