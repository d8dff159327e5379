"""``kmeans-rbf report OUTDIR``: one static HTML page of every verdict, with its figures.

The page has, in order: a summary; the claims table of the registry ``theory/claims.toml``
(id, title, status, every other scalar field such as a proof ``level``, the number of
entries of every other list field such as Coq theorems, and what the notebooks showed); the
notebooks, each with its key figures and its verdicts; the counterexamples (the refuted
claims, with what the notebooks computed); the peer matrix of the conformance oracle; the
benchmark table of ``benchmarks/results.json`` if the file exists; and one section per
claim with its statement, proofs, tests, the broken variants its bite tests catch
(``registry.caught_variants``) and every other field of its table, rendered generically.

The figures come from executing the notebooks (``kmeans_rbf.notebooks.run_notebooks``) into
``OUTDIR/figures``, or from a directory a previous execution wrote (``--figures DIR``: the
test run builds the report from the notebooks it has just executed). The peer matrix is
read at run time from the record in ``tests/test_peers.py`` (the failing checks of each
built-in adapter at the default depth; "not provided" is what the adapter does not offer),
or from the JSON that ``kmeans-rbf verify --json`` writes (``--peers PATH``).
"""

import ast
import datetime
import html
import json
import pathlib
import re
import shutil
import warnings

from . import registry
from .notebooks import TIMINGS, agrees, notebooks, read_manifest, run_notebooks

__all__ = ["PEER_RECORD", "peer_record", "peer_matrix", "peer_matrix_from_reports", "build", "main"]

PEER_RECORD = "tests/test_peers.py"
PEER_MATRIX_FILE = "peer_matrix.json"  # written by notebook 8 next to its figures
FIGURES = "figures"


# --- the peer matrix ------------------------------------------------------------------------


def _literal(node, names):
    """The value of a literal expression: constants, tuples, lists, sets, dicts (with ``**``
    unpacking), ``set()``, ``dict()``, and names bound earlier to such values."""
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("set", "dict") and not node.args:
        return {"set": set, "dict": dict}[node.func.id]()
    if isinstance(node, ast.Dict):
        value = {}
        for key, item in zip(node.keys, node.values):
            if key is None:
                value.update(_literal(item, names))  # {**other, ...}
            else:
                value[_literal(key, names)] = _literal(item, names)
        return value
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_literal(element, names) for element in node.elts]
        return {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)](items)
    return ast.literal_eval(node)


def _record(root):
    """``RECORD`` of ``tests/test_peers.py``, read without importing it: the module-level
    assignments whose values are literals are evaluated in order, so ``RECORD`` may use
    names defined above it."""
    tree = ast.parse((pathlib.Path(root) / PEER_RECORD).read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            try:
                value = _literal(node.value, names)
            except (ValueError, KeyError, TypeError):
                continue
            names.update({target.id: value for target in node.targets})
    if "RECORD" not in names:
        raise ValueError(f"{PEER_RECORD} has no RECORD that can be read as a literal")
    return names["RECORD"]


def peer_record(root=None):
    r"""The record of ``tests/test_peers.py``: ``{adapter: (distribution, version, {check: status})}``.

    The record maps each adapter to ``(distribution, version, recorded)``, where ``recorded``
    maps checks to ``"failed"`` or ``"refused"``, or is a set of failing checks (its earlier
    layout); either is returned as the mapping.

    Examples
    --------
    >>> import tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "tests").mkdir()
    >>> _ = (root / "tests" / "test_peers.py").write_text(
    ...     "_REFUSED = {'kmeans.zero-iterations': 'refused'}\n"
    ...     "RECORD = {'old': ('lib', '1.0', {'assign.nearest'}), 'new': ('lib', None, {**_REFUSED, 'a.b': 'failed'})}\n")
    >>> peer_record(root)
    {'old': ('lib', '1.0', {'assign.nearest': 'failed'}), 'new': ('lib', None, {'kmeans.zero-iterations': 'refused', 'a.b': 'failed'})}
    """
    root = pathlib.Path(root) if root else registry._default_root()
    record = {}
    for name, (distribution, version, recorded, *_) in _record(root).items():
        statuses = dict(recorded) if isinstance(recorded, dict) else {check: "failed" for check in recorded}
        record[name] = (distribution, version, statuses)
    return record


def peer_matrix(root=None):
    """The verify matrix of the built-in adapters, from the record of ``tests/test_peers.py``.

    A check the record lists for an adapter has the recorded status (``failed`` or
    ``refused``; a record that is a set of checks lists failures); a check the adapter does
    not offer is ``not provided`` (its capabilities and kinds, read from the adapter, which
    is loaded in this process); every other check is ``passed``. An adapter that is not a
    built-in one here, or whose library is not installed, has every cell ``not installed``.

    Returns
    -------
    matrix : dict with ``source``, ``checks`` (ids in the oracle's order), ``adapters``
        (record order), ``labels`` (adapter -> library and version) and ``cells``
        (adapter -> check -> status).
    """
    from .oracle import CHECKS, SCALE_CHECKS, adapters
    from .oracle.checks import Target
    from .oracle.sandbox import describe, load_target

    record = peer_record(root)
    checks = [check.id for check in CHECKS + SCALE_CHECKS]
    cells, labels = {}, {}
    for name, (distribution, version, recorded) in record.items():
        labels[name] = f"{distribution} {version}" if version else distribution
        if name not in adapters.BUILT_IN or not adapters.installed(name):
            cells[name] = {check: "not installed" for check in checks}
            continue
        with warnings.catch_warnings():  # importing a third-party library only to read what it offers
            warnings.simplefilter("ignore")
            info = describe(load_target(name), name)
        target = Target(info["dtype"], info["kinds"], info.get("axis_keywords", {}))
        cells[name] = {
            check.id: recorded.get(check.id)
            or ("passed" if check.applies(info["capabilities"], target) else "not provided")
            for check in CHECKS + SCALE_CHECKS
        }
    return {"source": f"the record in {PEER_RECORD} (checks failing or refused at the default depth)",
            "checks": checks, "adapters": list(record), "labels": labels, "cells": cells}


def peer_matrix_from_reports(path):
    """The same matrix from the JSON of ``kmeans-rbf verify --json`` (a report or a list of them).

    Examples
    --------
    >>> import tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "verify.json"
    >>> _ = path.write_text(json.dumps([{"implementation": "mine", "dtype": "float64", "checks": [
    ...     {"id": "assign.nearest", "status": "passed"}, {"id": "kmeans.reference", "status": "failed"}]}]))
    >>> peer_matrix_from_reports(path)["cells"]
    {'mine': {'assign.nearest': 'passed', 'kmeans.reference': 'failed'}}
    """
    reports = json.loads(pathlib.Path(path).read_text())
    reports = reports if isinstance(reports, list) else [reports]
    checks, cells, labels = [], {}, {}
    for report in reports:
        name = report["implementation"]
        labels[name] = f"{name} ({report.get('dtype', '')})"
        cells[name] = {}
        for result in report.get("checks", []):
            if result["id"] not in checks:
                checks.append(result["id"])
            cells[name][result["id"]] = result["status"]
    return {"source": f"{pathlib.Path(path).name} (kmeans-rbf verify --json)", "checks": checks,
            "adapters": list(cells), "labels": labels, "cells": cells}


# --- the page --------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1180px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; position: sticky; top: 0; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
.status { font-weight: 600; padding: 0.05em 0.45em; border-radius: 0.3em; white-space: nowrap; }
.proved { background: #1a9850; color: white; } .verified { background: #91cf60; }
.refuted { background: #d73027; color: white; } .open { background: #fee08b; }
.agree { color: #1a7f37; } .disagree { color: #cf222e; font-weight: 700; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
nav a { margin-right: 1em; } .muted { color: #666; } .matrix td { text-align: center; font-size: 0.85em; }
.matrix td:first-child { text-align: left; } .counterexample pre { font-size: 0.8em; margin: 0; }
table.detail { width: 100%; } table.detail th { width: 13em; }
.cell-passed { background: #d9f0d3; } .cell-failed { background: #f4a582; font-weight: 700; }
.cell-refused { background: #fee08b; } .cell-not-provided, .cell-not-installed { background: #f0f0f0; color: #888; }
"""


def _e(text):
    return html.escape(str(text), quote=True)


def _inline(text):
    """Escaped text whose `code spans` (Markdown backticks) are set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def _anchor(kind, name):
    return f"{kind}-{''.join(c if c.isalnum() or c in '-_' else '-' for c in str(name))}"


def _status(status):
    return f'<span class="status {_e(status)}">{_e(status)}</span>'


def _field_html(value):
    """A registry field's value, generically: a string as text (a multi-line one as a block),
    a list as a list of code spans, anything else as its repr."""
    if isinstance(value, str):
        text = value.strip()
        return f"<pre>{_e(text)}</pre>" if "\n" in text else _e(text)
    if isinstance(value, (bool, int, float)):
        return _e(value)
    if isinstance(value, list):
        if not value:
            return '<span class="muted">none</span>'
        return "<ul>" + "".join(f"<li><code>{_e(item)}</code></li>" for item in value) + "</ul>"
    return f"<code>{_e(repr(value))}</code>"


_KNOWN = ("id", "title", "statement", "status", "proofs", "tests")


def _extra_fields(claims):
    """Fields beyond the required ones, in first-seen order, split into scalars and lists."""
    scalars, lists = [], []
    for claim in claims:
        for field, value in claim.items():
            if field in _KNOWN or field in scalars or field in lists:
                continue
            (lists if isinstance(value, list) else scalars).append(field)
    return [f for f in scalars if f != "no_proof_reason"], lists


def _shown(entry):
    return "holds" if entry["holds"] else "counterexample"


def _short(name):
    """``notebook 3`` for ``03_gradients_and_lloyd``."""
    return f"notebook {int(name[:2])}" if name[:2].isdigit() else name or "interactive"


def _verdict_cell(entries, names):
    if not entries:
        return '<span class="muted">-</span>'
    parts = []
    for entry in entries:
        agrees = _agrees(entry)
        target = _anchor("notebook", entry["notebook"])
        parts.append(f'<a href="#{target}" title="{_e(names.get(entry["notebook"], ""))}">{_e(_short(entry["notebook"]))}</a>: '
                     f'{_shown(entry)} <span class="{"agree" if agrees else "disagree"}">({"agrees" if agrees else "DISAGREES"})</span>')
    return "<br>".join(parts)


def _agrees(entry):
    return agrees(entry["holds"], entry["status"])


def _peer_table(matrix):
    head = "".join(f"<th>{_e(name)}<br><span class='muted'>{_e(matrix['labels'].get(name, ''))}</span></th>"
                   for name in matrix["adapters"])
    rows = []
    for check in matrix["checks"]:
        cells = "".join(
            f'<td class="cell-{_e(matrix["cells"][name].get(check, "not provided").replace(" ", "-"))}">'
            f'{_e({"passed": "ok", "failed": "FAIL", "refused": "refused", "not provided": "-", "not installed": "n/i"}.get(matrix["cells"][name].get(check, "not provided"), matrix["cells"][name].get(check)))}</td>'
            for name in matrix["adapters"])
        rows.append(f"<tr><td><code>{_e(check)}</code></td>{cells}</tr>")
    return f'<table class="matrix"><tr><th>check</th>{head}</tr>{"".join(rows)}</table>'


def _benchmark_html(path):
    """The benchmark results, whatever their layout: a list of records as a table, a mapping
    as a table of its entries (records inside as nested tables), anything else as JSON."""
    data = json.loads(path.read_text())

    def render(value):
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            columns = []
            for item in value:
                columns += [key for key in item if key not in columns]
            head = "".join(f"<th>{_e(c)}</th>" for c in columns)
            body = "".join("<tr>" + "".join(f"<td>{render(item.get(c, ''))}</td>" for c in columns) + "</tr>" for item in value)
            return f"<table><tr>{head}</tr>{body}</table>"
        if isinstance(value, dict):
            body = "".join(f"<tr><th>{_e(k)}</th><td>{render(v)}</td></tr>" for k, v in value.items())
            return f"<table>{body}</table>"
        if isinstance(value, float):
            return _e(f"{value:.4g}")
        if isinstance(value, (list, tuple)):
            return _e(", ".join(str(v) for v in value))
        return _e(value)

    return render(data)


def _collect(figures_from, directory, root):
    """Fill ``directory`` with the notebooks' figures, manifest, logs and timings."""
    directory.mkdir(parents=True, exist_ok=True)
    if figures_from is not None:
        source = pathlib.Path(figures_from)
        for path in source.iterdir():
            if path.is_file():
                shutil.copy2(path, directory / path.name)
        return
    run_notebooks(directory, root)


def build(outdir, root=None, figures_from=None, peers=None):
    """Write ``outdir/index.html`` and ``outdir/figures/``; returns the path of the page.

    ``figures_from``: a directory where the notebooks were executed (figures, manifest, logs,
    ``timings.json``); without it they are executed here. ``peers``: the JSON of
    ``kmeans-rbf verify --json`` to take the peer matrix from, instead of the record.
    """
    root = pathlib.Path(root) if root else registry._default_root()
    outdir = pathlib.Path(outdir)
    figures_dir = outdir / FIGURES
    _collect(figures_from, figures_dir, root)
    claims = registry.load(root / "theory" / "claims.toml")
    by_id = {claim["id"]: claim for claim in claims}
    described = {notebook.name: notebook for notebook in notebooks(root)}
    names = {name: notebook.title for name, notebook in described.items()}
    entries = read_manifest(figures_dir)
    verdicts = [e for e in entries if e["type"] == "verdict"]
    figures = [e for e in entries if e["type"] == "figure" and (figures_dir / e["file"]).is_file()]
    timings = json.loads((figures_dir / TIMINGS).read_text()) if (figures_dir / TIMINGS).is_file() else {}
    scalars, lists = _extra_fields(claims)
    variants = {claim["id"]: registry.caught_variants(root, claim) for claim in claims}

    counts = {status: sum(c["status"] == status for c in claims) for status in registry.STATUSES}
    disagreements = [v for v in verdicts if not _agrees(v)]
    failed_notebooks = [name for name, t in timings.items() if t.get("error")]
    judged = {v["claim"] for v in verdicts}
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>kmeans-rbf: the verdicts</title>"
             f"<style>{_STYLE}</style></head><body>"]
    parts.append("<h1 id='top'>kmeans-rbf: every verdict</h1>")
    parts.append("<p class='muted'>A companion to arXiv 2603.04625 (K-Means as an RBF network) and Lücke &amp; Forster "
                 f"(arXiv 1704.04812). Generated {_e(datetime.date.today().isoformat())} by <code>kmeans-rbf report</code> "
                 "from <code>theory/claims.toml</code>, the executed notebooks of <code>notebooks/</code> and the record "
                 "of the peer libraries.</p>")
    parts.append("<nav><a href='#claims'>Claims</a><a href='#notebooks'>Notebooks</a><a href='#counterexamples'>"
                 "Counterexamples</a><a href='#peers'>Peer matrix</a><a href='#benchmarks'>Benchmarks</a>"
                 "<a href='#details'>Claim details</a></nav>")

    # Summary
    total_time = sum(t.get("seconds", 0.0) for t in timings.values())
    summary = [f"{len(claims)} claims: " + ", ".join(f"{counts[s]} {s}" for s in registry.STATUSES if counts[s]) + "."]
    summary.append(f"{len(described)} notebooks" + (f", executed in {total_time:.1f} s" if timings else "")
                   + f"; they give {len(verdicts)} verdicts on {len(judged)} claims, "
                   + ("every one in agreement with the registry." if not disagreements else
                      f"<span class='disagree'>{len(disagreements)} in disagreement with the registry</span>."))
    if failed_notebooks:
        summary.append("<span class='disagree'>Notebooks that failed: " + ", ".join(_e(n) for n in failed_notebooks) + "</span>.")
    parts.append("<section id='summary'><p>" + " ".join(summary) + "</p></section>")

    # Claims table
    head = ["id", "title", "status", *(registry._label(f) for f in scalars), *(registry._label(f) for f in lists),
            "proofs", "tests", "broken variants", "what the notebooks show"]
    parts.append("<h2 id='claims'>Claims</h2><table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>")
    for claim in claims:
        cells = [f"<a href='#{_anchor('claim', claim['id'])}'><code>{_e(claim['id'])}</code></a>", _e(claim.get("title", "")),
                 _status(claim.get("status", "?"))]
        cells += [_e(claim[f]) if f in claim else "" for f in scalars]
        cells += [str(len(claim[f])) if isinstance(claim.get(f), list) else "" for f in lists]
        cells += [str(len(claim.get("proofs", []))), str(len(claim.get("tests", []))),
                  str(len(variants[claim["id"]]))]
        cells.append(_verdict_cell([v for v in verdicts if v["claim"] == claim["id"]], names))
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")

    # Notebooks
    parts.append("<h2 id='notebooks'>Notebooks</h2>")
    if not described:
        parts.append("<p>No notebooks found (run the report from a checkout of the project).</p>")
    for name, notebook in described.items():
        parts.append(f"<h3 id='{_anchor('notebook', name)}'>{_e(notebook.title)}</h3>")
        parts.append(f"<p>{_inline(notebook.summary)}</p>")
        timing = timings.get(name)
        line = f"<code>notebooks/{_e(notebook.path.name)}</code>"
        if timing:
            line += f"; executed in {timing['seconds']:.1f} s ({timing['cpu_seconds']:.1f} s CPU)"
            if timing.get("error"):
                line += f"; <span class='disagree'>failed: {_e(timing['error'])}</span>"
        if (figures_dir / f"{name}.log").is_file():
            line += f"; <a href='{FIGURES}/{_e(name)}.log'>printed output</a>"
        parts.append(f"<p class='muted'>{line}</p>")
        mine = [f for f in figures if f["notebook"] == name]
        for figure in (f for f in mine if f["key"]):
            parts.append(f"<figure><img src='{FIGURES}/{_e(figure['file'])}' alt='{_e(figure['caption'])}'>"
                         f"<figcaption>{_e(figure['caption'])}</figcaption></figure>")
        others = [f for f in mine if not f["key"]]
        if others:
            parts.append("<p>Other figures: " + ", ".join(
                f"<a href='{FIGURES}/{_e(f['file'])}'>{_e(f['caption'])}</a>" for f in others) + ".</p>")
        rows = [v for v in verdicts if v["notebook"] == name]
        if rows:
            parts.append("<table><tr><th>claim</th><th>registry</th><th>here</th><th>what was computed</th></tr>")
            for v in rows:
                agree = _agrees(v)
                parts.append(f"<tr><td><a href='#{_anchor('claim', v['claim'])}'><code>{_e(v['claim'])}</code></a></td>"
                             f"<td>{_status(v['status'])}</td><td class='{'agree' if agree else 'disagree'}'>"
                             f"{_shown(v)}{'' if agree else ' (DISAGREES)'}</td><td>{_e(v['evidence'])}</td></tr>")
            parts.append("</table>")
        elif not mine:
            parts.append("<p class='muted'>Not executed: no figures or verdicts.</p>")

    # Counterexamples
    parts.append("<h2 id='counterexamples'>Counterexamples</h2><p>The refuted claims: the registry's statement, with its "
                 "counterexample, and what the notebooks recomputed.</p><table class='counterexample'><tr><th>claim</th>"
                 "<th>the registry's statement</th><th>what the notebooks computed</th></tr>")
    for claim in claims:
        if claim.get("status") == "refuted":
            shown = [v for v in verdicts if v["claim"] == claim["id"]]
            evidence = "<br>".join(f"{_e(_short(v['notebook']))}: {_e(v['evidence'])}" for v in shown) or \
                "<span class='muted'>not in a notebook</span>"
            parts.append(f"<tr><td><a href='#{_anchor('claim', claim['id'])}'><code>{_e(claim['id'])}</code></a><br>"
                         f"{_e(claim.get('title', ''))}</td><td><pre>{_e(claim.get('statement', '').strip())}</pre></td>"
                         f"<td>{evidence}</td></tr>")
    parts.append("</table>")

    # Peer matrix
    parts.append("<h2 id='peers'>Peer matrix</h2>")
    try:
        if peers is not None:
            matrix = peer_matrix_from_reports(peers)
        elif (figures_dir / PEER_MATRIX_FILE).is_file():
            matrix = json.loads((figures_dir / PEER_MATRIX_FILE).read_text())
        else:
            matrix = peer_matrix(root)
    except (OSError, ValueError, SyntaxError, KeyError, IndexError, TypeError) as error:
        parts.append(f"<p>The peer matrix could not be read: {_e(type(error).__name__)}: {_e(error)}.</p>")
    else:
        parts.append(f"<p>From {_e(matrix['source'])}: <b>FAIL</b> a failing check, <i>refused</i> a refused one, "
                     "<i>-</i> not provided, ok passed. What each failure is: <code>docs/findings.md</code>.</p>")
        parts.append(_peer_table(matrix))
        figure = next((f for f in figures if f["file"].startswith("08_peer_matrix")), None)
        if figure:
            parts.append(f"<p>As a figure: <a href='{FIGURES}/{_e(figure['file'])}'>{_e(figure['caption'])}</a>.</p>")

    # Benchmarks
    parts.append("<h2 id='benchmarks'>Benchmarks</h2>")
    results = root / "benchmarks" / "results.json"
    if results.is_file():
        try:
            parts.append(f"<p>From <code>benchmarks/results.json</code>:</p>" + _benchmark_html(results))
        except ValueError as error:
            parts.append(f"<p><code>benchmarks/results.json</code> could not be read: {_e(error)}.</p>")
    else:
        parts.append("<p>No benchmark results: <code>benchmarks/results.json</code> does not exist.</p>")

    # Claim details
    parts.append("<h2 id='details'>Claim details</h2>")
    for claim in claims:
        parts.append(f"<h3 id='{_anchor('claim', claim['id'])}'><code>{_e(claim['id'])}</code> {_status(claim.get('status', '?'))} "
                     f"{_e(claim.get('title', ''))}</h3>")
        parts.append(f"<pre>{_e(claim.get('statement', '').strip())}</pre><table class='detail'>")
        for field in ("proofs", "tests"):
            parts.append(f"<tr><th>{registry._label(field)}</th><td>{_field_html(claim.get(field, []))}</td></tr>")
        for field, value in claim.items():
            if field not in _KNOWN:
                parts.append(f"<tr><th>{_e(registry._label(field))}</th><td>{_field_html(value)}</td></tr>")
        if variants[claim["id"]]:
            parts.append("<tr><th>Broken variants its bite tests catch</th><td><ul>" + "".join(
                f"<li><code>{_e(n)}</code>: {_e(d)}</li>" for n, d in variants[claim["id"]]) + "</ul></td></tr>")
        shown = [v for v in verdicts if v["claim"] == claim["id"]]
        if shown:
            parts.append("<tr><th>Notebooks</th><td>" + "<br>".join(
                f"<a href='#{_anchor('notebook', v['notebook'])}'>{_e(_short(v['notebook']))}</a>: "
                f"{_shown(v)} ({_e(v['evidence'])})" for v in shown) + "</td></tr>")
        parts.append("</table><p><a href='#claims'>back to the table</a></p>")
    parts.append("</body></html>")
    page = outdir / "index.html"
    page.write_text("\n".join(parts))
    return page


def main(arguments):
    """The ``report`` subcommand: build the page, print where it is; 1 if a notebook failed."""
    page = build(arguments.outdir, figures_from=arguments.figures, peers=arguments.peers)
    timings_path = page.parent / FIGURES / TIMINGS
    failed = [name for name, t in json.loads(timings_path.read_text()).items() if t.get("error")] if timings_path.is_file() else []
    print(f"wrote {page}")
    for name in failed:
        print(f"notebook {name} failed: see {page.parent / FIGURES / (name + '.log')}")
    return 1 if failed else 0
