"""The ``kmeans-rbf`` command.

* ``kmeans-rbf verify [TARGET] [--json PATH] [--strict] [--max-examples N] [--profile P]
  [--timeout S]``: the conformance oracle. TARGET is ``module:attribute`` (imported with the
  current directory and PYTHONPATH on sys.path), ``path/to/file.py:attribute`` or the name
  of a built-in adapter; with no TARGET every built-in adapter whose library is installed
  is verified and a matrix is printed. Exit status 0 iff no check failed (with
  ``--strict``: and none refused) and at least one check ran (``--checks`` selects checks by
  id, with globs); 1 otherwise; 2 on a usage
  error (a bad option, a target that cannot be loaded), with a one-line message. The JSON
  report is written in every case, a target that cannot be loaded included.
* ``kmeans-rbf demo``: on a small dataset with a tied point, how the softmax and
  entmax-1.5 RBF objectives and soft steps approach K-Means as the temperature falls.
* ``kmeans-rbf report OUTDIR [--figures DIR] [--peers PATH]``: execute the notebooks of
  ``notebooks/`` and write ``OUTDIR/index.html``, one page of every claim, verdict, figure,
  counterexample, the peer matrix and the benchmarks (``kmeans_rbf.report``). ``--figures``
  takes the figures of an earlier execution instead; ``--peers`` the JSON of ``verify --json``
  for the peer matrix instead of the record. Exit status 1 if a notebook failed.
"""

import argparse
import json
import sys

import numpy as np

from . import reference
from .kinds import SOFT_KINDS

# Two groups, plus x = 2, exactly between the centres 1 and 3.
DEMO_X = np.array([[0.0], [0.8], [2.0], [3.2], [4.0]])
DEMO_C = np.array([[1.0], [3.0]])
DEMO_TEMPERATURES = (10.0, 1.0, 0.1, 0.01, 1e-6)


def demo(out=sys.stdout):
    """Print J, L_T, F_T and one soft step per temperature for softmax and entmax15."""
    X, C = DEMO_X, DEMO_C
    J = reference.objective(X, C)
    lloyd = reference.lloyd_step(X, C)[:, 0]
    print("K-Means as an RBF network: X = {0, 0.8, 2, 3.2, 4}, C = (1, 3); x = 2 is a tie.", file=out)
    print(f"hard:  J = {J:.6f}   Lloyd step -> ({lloyd[0]:.6f}, {lloyd[1]:.6f})", file=out)
    header = f"{'kind':<9}{'T':>8}{'L_T':>12}{'F_T':>12}{'hard rows':>11}   soft step"
    print(header, file=out)
    print("-" * (len(header) + 24), file=out)
    for kind in SOFT_KINDS:
        for T in DEMO_TEMPERATURES:
            r = reference.responsibilities(X, C, T, kind)
            hard_rows = int(np.sum(np.max(r, axis=1) == 1.0))
            step = reference.soft_step(X, C, T, kind)[:, 0]
            print(
                f"{kind:<9}{T:>8g}{reference.objective(X, C, T, kind):>12.6f}"
                f"{reference.free_energy(X, C, T, kind):>12.6f}{hard_rows:>7}/{len(X)}"
                f"   ({step[0]:.6f}, {step[1]:.6f})",
                file=out,
            )
    limit = reference.soft_step(X, C, DEMO_TEMPERATURES[-1], "entmax15")[:, 0]
    print(
        "\nAs T -> 0, F_T <= J <= L_T close in on J (claim sandwich), and entmax15 rows "
        "become exactly one-hot\nonce T <= gap/2 (claim entmax-one-hot-threshold). The tied point keeps r = (1/2, 1/2) "
        f"at every T, so the soft step tends to\n({limit[0]:g}, {limit[1]:g}), not to Lloyd's "
        f"({lloyd[0]:g}, {lloyd[1]:g}): ties break the trajectory claim (claim ties-break-trajectories).",
        file=out,
    )


_SYMBOLS = {"passed": "ok", "failed": "FAIL", "refused": "refused", "not provided": "-"}


def _print_report(report, out):
    from .oracle.runner import jsonable

    print(f"\n{report.implementation} (dtype {report.dtype})", file=out)
    print(f"{'check':<38}{'capability':<18}{'status':<14}{'inputs':>8}{'time':>8}", file=out)
    for result in report.checks:
        inputs = f"{result.checked}" + (f"+{result.refused}r" if result.refused else "")
        print(f"{result.id:<38}{result.capability:<18}{result.status:<14}{inputs:>8}{result.seconds:>7.1f}s", file=out)
    for result in report.checks:
        if result.status in ("failed", "refused"):
            label = "FAILED" if result.status == "failed" else "REFUSED" + (" (strict: a failure)" if report.strict else "")
            print(f"\n{label} {result.id}: {result.message}", file=out)
            if result.counterexample is not None:
                what = "counterexample (shrunk)" if result.status == "failed" else "smallest refused input"
                print(f"{what}: {json.dumps(jsonable(result.counterexample))}", file=out)
    if not report.ran:
        print("\nno check applied: the target provides none of the protocol's capabilities "
              "(see kmeans_rbf.oracle.checks)", file=out)


def _print_matrix(targets, reports, out):
    names = list(targets)
    width = max(9, *(len(n) + 2 for n in names))
    print("\n" + " " * 38 + "".join(f"{n:<{width}}" for n in names), file=out)
    for row in zip(*(r.checks for r in reports)):
        cells = "".join(f"{_SYMBOLS[result.status]:<{width}}" for result in row)
        print(f"{row[0].id:<38}{cells}", file=out)


def _selected_checks(patterns):
    """The checks whose id matches one of the comma-separated glob ``patterns`` (None: all)."""
    if patterns is None:
        return None
    import fnmatch

    from .oracle import CHECKS, SCALE_CHECKS

    wanted = [pattern.strip() for pattern in patterns.split(",") if pattern.strip()]
    checks = [c for c in CHECKS + SCALE_CHECKS if any(fnmatch.fnmatchcase(c.id, w) for w in wanted)]
    if not checks:
        raise UsageError(f"--checks {patterns!r} matches no check")
    return checks


class UsageError(Exception):
    """A mistake in the command line or the target: exit status 2, one line, no traceback."""


def _write_json(path, payload):
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2)


def verify_command(arguments, out=sys.stdout, err=sys.stderr):
    """Verify one target or every installed built-in; the exit status (0 iff all ok)."""
    from .oracle import adapters
    from .oracle.runner import Report, verify
    from .oracle.sandbox import LoadError

    def progress(index, total, check, result):
        if result is None:
            print(f"[{index + 1}/{total}] {check.id} ...", end="", flush=True, file=err)
        else:
            print(f" {result.status} ({result.seconds:.1f} s)", flush=True, file=err)

    selected = _selected_checks(arguments.checks)
    if arguments.target:
        targets = [arguments.target]
    else:
        targets = [name for name in adapters.BUILT_IN if adapters.installed(name)]
    reports = []
    for target in targets:
        print(f"verifying {target}", file=err)
        try:
            report = verify(target, max_examples=arguments.max_examples, profile=arguments.profile,
                            timeout=arguments.timeout, progress=progress, strict=arguments.strict,
                            checks=selected)
        except LoadError as error:
            report = Report(target, "", strict=arguments.strict, error=str(error))
            reports.append(report)
            if arguments.json:
                _write_json(arguments.json, report.as_json() if len(targets) == 1 else [r.as_json() for r in reports])
            if len(targets) == 1:
                raise UsageError(str(error)) from None
            print(f"\n{target}: {error}", file=out)
            continue
        reports.append(report)
        _print_report(report, out)
    if len(reports) > 1:
        _print_matrix([r.implementation if r.error else t for r, t in zip(reports, targets)],
                      [r for r in reports if not r.error], out)
    if arguments.json:
        _write_json(arguments.json, reports[0].as_json() if len(reports) == 1 else [r.as_json() for r in reports])
    return 0 if all(r.ok for r in reports) else 1


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


def main(argv=None):
    parser = _Parser(
        prog="kmeans-rbf",
        description="Verification companion to 'K-Means as a Radial Basis Function Network'.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    verify_parser = commands.add_parser(
        "verify", help="check a k-means / soft k-means / entmax implementation against the reference"
    )
    verify_parser.add_argument("target", nargs="?", help="module:attribute, path/to/file.py:attribute, or a built-in adapter name; none: all installed built-ins")
    verify_parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    verify_parser.add_argument("--max-examples", type=int, help="examples per check (overrides --profile)")
    verify_parser.add_argument("--profile", choices=["ci", "thorough"], default="ci", help="search depth (default: ci)")
    verify_parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per call (default: 10)")
    verify_parser.add_argument("--strict", action="store_true", help="a refused input fails its check (default: reported, not a failure)")
    verify_parser.add_argument("--checks", metavar="PATTERNS", help="only the checks whose id matches one of these comma-separated globs, e.g. 'kmeans.*,scale.kmeans'")
    commands.add_parser("demo", help="hard, softmax and entmax-1.5 side by side as T falls")
    report_parser = commands.add_parser("report", help="execute the notebooks and write one HTML page of every verdict")
    report_parser.add_argument("outdir", help="directory for index.html and its figures (created if missing)")
    report_parser.add_argument("--figures", metavar="DIR", help="take the figures, verdicts and logs of an earlier execution of the notebooks from DIR")
    report_parser.add_argument("--peers", metavar="PATH", help="the JSON of `kmeans-rbf verify --json` for the peer matrix (default: the record in tests/test_peers.py)")
    try:
        arguments = parser.parse_args(argv)
        if arguments.command == "verify":
            if arguments.max_examples is not None and arguments.max_examples < 1:
                raise UsageError(f"--max-examples must be at least 1; got {arguments.max_examples}")
            if arguments.timeout <= 0:
                raise UsageError(f"--timeout must be positive; got {arguments.timeout:g}")
            return verify_command(arguments)
        if arguments.command == "report":
            from . import report

            return report.main(arguments)
    except UsageError as error:
        print(f"kmeans-rbf: error: {error}", file=sys.stderr)
        return 2
    demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
