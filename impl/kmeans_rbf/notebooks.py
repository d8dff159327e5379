"""The companion notebooks of ``notebooks/``: what they share, and how they are executed.

Each notebook is a jupytext percent script ``notebooks/NN_name.py`` (open it in Jupyter
with jupytext, or convert it with ``jupytext --to notebook``). Its first cell is markdown:
a ``# `` title, a line ``Claims: `id`, `id`, ...`` naming the claims of
``theory/claims.toml`` it illustrates, and a paragraph saying what it shows. Its code cells
compute, plot and *assert*; two functions record what a reader should take away:

* :func:`save_figure` writes a figure as ``<output>/<name>.png`` and notes its caption;
* :func:`verdict` states what the notebook showed about a claim (the property held on
  everything computed, or a counterexample was found) next to the registry's status, and
  fails if the two disagree (a claim the notebook refutes but the registry calls proved,
  or the converse).

The output directory is ``$KMEANS_RBF_NOTEBOOK_OUTPUT``, or ``notebook-output/`` in the
current directory. Both functions append a line to ``<output>/manifest.jsonl``, which
``kmeans_rbf.report`` reads to build the report.

:func:`run_notebooks` executes every notebook the way a kernel would: jupytext reads the
script as a notebook, and the code cells run in order in one fresh namespace, with
matplotlib's non-interactive backend, each notebook's printed output kept in
``<output>/<notebook>.log``. The default test run executes them all
(``tests/test_notebooks.py``), and ``kmeans-rbf report`` does too.
"""

import contextlib
import io
import json
import linecache
import os
import pathlib
import re
import time
import traceback
from dataclasses import dataclass, field

from . import registry

__all__ = [
    "OUTPUT_VARIABLE",
    "NOTEBOOK_VARIABLE",
    "output_directory",
    "save_figure",
    "verdict",
    "agrees",
    "read_manifest",
    "Notebook",
    "notebooks",
    "Execution",
    "run_notebook",
    "run_notebooks",
    "MANIFEST",
    "TIMINGS",
]

OUTPUT_VARIABLE = "KMEANS_RBF_NOTEBOOK_OUTPUT"
NOTEBOOK_VARIABLE = "KMEANS_RBF_NOTEBOOK"  # set by run_notebook: whose figures and verdicts
MANIFEST = "manifest.jsonl"
TIMINGS = "timings.json"  # written by run_notebooks: {name: {seconds, cpu_seconds, error}}


def output_directory():
    """Where the notebooks write figures and the manifest (created if missing).

    ``$KMEANS_RBF_NOTEBOOK_OUTPUT`` if set, else ``notebook-output`` in the current directory.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ[OUTPUT_VARIABLE] = os.path.join(tempfile.mkdtemp(), "figures")
    >>> output_directory().is_dir()
    True
    >>> del os.environ[OUTPUT_VARIABLE]
    """
    directory = pathlib.Path(os.environ.get(OUTPUT_VARIABLE) or "notebook-output")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _record(entry):
    entry = {"notebook": os.environ.get(NOTEBOOK_VARIABLE, ""), **entry}
    with open(output_directory() / MANIFEST, "a") as handle:
        handle.write(json.dumps(entry) + "\n")


def save_figure(figure, name, caption, *, key=False):
    """Save ``figure`` as ``<output>/<name>.png`` and record its caption.

    ``key=True`` marks a figure the report shows; the others are linked from it. The
    figure stays open, so that Jupyter still displays it under the cell.

    Returns
    -------
    path : pathlib.Path of the PNG.

    Examples
    --------
    >>> import os, tempfile, matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> os.environ[OUTPUT_VARIABLE] = tempfile.mkdtemp()
    >>> figure, axes = plt.subplots()
    >>> path = save_figure(figure, "demo", "An empty figure")
    >>> path.name, path.stat().st_size > 0
    ('demo.png', True)
    >>> read_manifest(path.parent)[0]["caption"]
    'An empty figure'
    >>> plt.close(figure); del os.environ[OUTPUT_VARIABLE]
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"figure name {name!r}: use letters, digits, '_', '-' and '.'")
    path = output_directory() / f"{name}.png"
    figure.savefig(path, dpi=100, bbox_inches="tight")
    _record({"type": "figure", "file": path.name, "caption": caption, "key": bool(key)})
    return path


def agrees(holds, status):
    """Whether "the property held on everything computed" (``holds``) fits a registry status.

    A proved or verified claim must hold, a refuted one must not (a counterexample was
    shown); an open claim fits either.

    Examples
    --------
    >>> agrees(True, "proved"), agrees(False, "refuted"), agrees(True, "refuted"), agrees(False, "open")
    (True, True, False, True)
    """
    if status == "open":
        return True
    return holds == (status in registry.HOLDING)


def _claims(root=None):
    root = pathlib.Path(root) if root else registry._default_root()
    return {claim["id"]: claim for claim in registry.load(root / "theory" / "claims.toml")}


def verdict(claim, holds, evidence, *, root=None):
    """Record what the notebook showed about ``claim``, and assert it fits the registry.

    ``holds`` is computed by the notebook: True if the claim's property held on everything
    it computed, False if it exhibited a counterexample. ``evidence`` says what was
    computed, with the numbers. The verdict is recorded with the registry's status and
    printed; if :func:`agrees` says they disagree, an ``AssertionError`` is raised instead.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ[OUTPUT_VARIABLE] = tempfile.mkdtemp()
    >>> verdict("sandwich", True, "J - T H_max <= F_T <= J <= L_T on 3 configurations")
    sandwich (registry: formally proved): holds here -- J - T H_max <= F_T <= J <= L_T on 3 configurations
    >>> verdict("monotone-collapse", True, "monotone on one run")
    Traceback (most recent call last):
    ...
    AssertionError: monotone-collapse: here it holds (monotone on one run), the registry says refuted
    >>> del os.environ[OUTPUT_VARIABLE]
    """
    claims = _claims(root)
    if claim not in claims:
        raise KeyError(f"{claim!r} is not a claim id of theory/claims.toml")
    holds, status = bool(holds), claims[claim]["status"]
    shown = "holds" if holds else "has a counterexample"
    _record({"type": "verdict", "claim": claim, "holds": holds, "status": status, "evidence": evidence})
    if not agrees(holds, status):
        raise AssertionError(f"{claim}: here it {shown} ({evidence}), the registry says {status}")
    print(f"{claim} (registry: {status}): {shown} here -- {evidence}")


def read_manifest(directory):
    """The entries of ``<directory>/manifest.jsonl`` (figures and verdicts), in order.

    Each is a dict with ``type`` (``"figure"`` or ``"verdict"``), ``notebook`` and the fields
    of :func:`save_figure` or :func:`verdict`. An example is under :func:`run_notebook`.
    """
    path = pathlib.Path(directory) / MANIFEST
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- the notebooks themselves --------------------------------------------------------------


@dataclass
class Notebook:
    """One notebook: its path, what its first (markdown) cell says, and its code cells."""

    path: pathlib.Path
    title: str
    claims: list
    summary: str
    code: list = field(default_factory=list, repr=False)

    @property
    def name(self):
        return self.path.stem


_CLAIMS_LINE = re.compile(r"^Claims:\s*(.*)$", re.MULTILINE)


def _describe(path):
    import jupytext

    cells = jupytext.read(path).cells
    first = cells[0].source if cells and cells[0].cell_type == "markdown" else ""
    title = next((line[2:].strip() for line in first.splitlines() if line.startswith("# ")), path.stem)
    claims_line = _CLAIMS_LINE.search(first)
    claims = re.findall(r"`([a-z0-9-]+)`", claims_line.group(1)) if claims_line else []
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", first) if p.strip()]
    summary = next((" ".join(p.split()) for p in paragraphs if not p.startswith(("#", "Claims:"))), "")
    return Notebook(path, title, claims, summary, [cell.source for cell in cells if cell.cell_type == "code"])


def notebooks(root=None):
    """The notebooks ``notebooks/NN_*.py`` of the project at ``root``, in order.

    Examples
    --------
    >>> [notebook.name[:2] for notebook in notebooks()][:3]
    ['01', '02', '03']
    """
    root = pathlib.Path(root) if root else registry._default_root()
    return [_describe(path) for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))]


@dataclass
class Execution:
    """How one notebook ran: its error (None if it ran through), timings and records."""

    notebook: Notebook
    error: BaseException = None
    traceback: str = ""
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # CPU time of this process
    output: str = ""
    entries: list = field(default_factory=list)

    @property
    def figures(self):
        return [e for e in self.entries if e["type"] == "figure"]

    @property
    def verdicts(self):
        return [e for e in self.entries if e["type"] == "verdict"]


def run_notebook(notebook, output):
    """Execute one notebook's code cells in order, in a fresh namespace; an ``Execution``.

    Figures and verdicts go to ``output`` (the notebook sees it as its output directory),
    printed output to ``<output>/<name>.log``. Every figure is closed after each cell. An
    exception ends the notebook; it is returned in the ``Execution``, not raised, with a
    traceback that names the cell and shows its lines.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "01_demo.py").write_text(
    ...     "# %% [markdown]\\n# # A demo\\n#\\n# Claims: `sandwich`\\n#\\n# It checks one inequality.\\n\\n"
    ...     "# %%\\nfrom kmeans_rbf.notebooks import verdict\\nprint('computing')\\n\\n"
    ...     "# %%\\nverdict('sandwich', 0.25 <= 0.5, 'J <= L_T on one point')\\n")
    >>> notebook = _describe(folder / "01_demo.py")
    >>> notebook.title, notebook.claims, notebook.summary
    ('A demo', ['sandwich'], 'It checks one inequality.')
    >>> run = run_notebook(notebook, folder / "output")
    >>> run.error is None, run.output.splitlines()[0], [v["claim"] for v in run.verdicts]
    (True, 'computing', ['sandwich'])
    >>> _ = (folder / "02_broken.py").write_text("# %%\\nx = 1\\n\\n# %%\\nassert x == 2, 'x is not 2'\\n")
    >>> run = run_notebook(_describe(folder / "02_broken.py"), folder / "output")
    >>> run.error
    AssertionError('x is not 2')
    >>> "<02_broken.py, cell 2>" in run.traceback
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    before = len(read_manifest(output))
    saved = {name: os.environ.get(name) for name in (OUTPUT_VARIABLE, NOTEBOOK_VARIABLE)}
    os.environ[OUTPUT_VARIABLE], os.environ[NOTEBOOK_VARIABLE] = str(output), notebook.name
    namespace = {"__name__": "__main__", "__file__": str(notebook.path)}
    printed = io.StringIO()
    execution = Execution(notebook)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with contextlib.redirect_stdout(printed):
            for index, source in enumerate(notebook.code, start=1):
                filename = f"<{notebook.path.name}, cell {index}>"
                linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                try:
                    exec(compile(source, filename, "exec"), namespace)
                finally:
                    plt.close("all")
    except BaseException as error:  # noqa: BLE001 - returned to the caller, with its traceback
        if isinstance(error, KeyboardInterrupt):
            raise
        execution.error, execution.traceback = error, traceback.format_exc()
    finally:
        execution.seconds = time.perf_counter() - start
        execution.cpu_seconds = time.process_time() - cpu
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    execution.output = printed.getvalue()
    (output / f"{notebook.name}.log").write_text(execution.output + (("\n" + execution.traceback) if execution.error else ""))
    execution.entries = read_manifest(output)[before:]
    return execution


def run_notebooks(output, root=None):
    """Execute every notebook of the project into ``output``; ``{name: Execution}``, in order.

    Also writes ``<output>/timings.json``: each notebook's wall and CPU seconds and its error.
    """
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / MANIFEST).unlink(missing_ok=True)
    runs = {notebook.name: run_notebook(notebook, output) for notebook in notebooks(root)}
    (output / TIMINGS).write_text(json.dumps({
        name: {"seconds": run.seconds, "cpu_seconds": run.cpu_seconds,
               "error": None if run.error is None else f"{type(run.error).__name__}: {run.error}"}
        for name, run in runs.items()}, indent=1))
    return runs
