"""The ``kmeans-rbf`` command.

* ``kmeans-rbf verify [TARGET]``: the conformance oracle. TARGET is ``module:attribute``
  (imported with the current directory and PYTHONPATH on sys.path) or the name of a
  built-in adapter; with no TARGET every built-in adapter whose library is installed is
  verified and a matrix is printed. Exit status 0 iff no check failed.
* ``kmeans-rbf demo``: on a small dataset with a tied point, how the softmax and
  entmax-1.5 RBF objectives and soft steps approach K-Means as the temperature falls.
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


_SYMBOLS = {"passed": "ok", "failed": "FAIL", "not provided": "-", "skipped": "skip"}


def _print_report(report, out):
    print(f"\n{report.implementation} (dtype {report.dtype})", file=out)
    print(f"{'check':<38}{'capability':<18}{'status':<14}{'time':>7}", file=out)
    for result in report.checks:
        print(f"{result.id:<38}{result.capability:<18}{result.status:<14}{result.seconds:>6.1f}s", file=out)
    for result in report.checks:
        if result.status == "failed":
            print(f"\nFAILED {result.id}: {result.message}", file=out)
            if result.counterexample is not None:
                print(f"counterexample (shrunk): {_counterexample_text(result.counterexample)}", file=out)


def _counterexample_text(example):
    from .oracle.runner import _jsonable

    return json.dumps(_jsonable(example))


def _print_matrix(targets, reports, out):
    names = list(targets)
    width = max(8, *(len(n) + 2 for n in names))
    print("\n" + " " * 38 + "".join(f"{n:<{width}}" for n in names), file=out)
    for row in zip(*(r.checks for r in reports)):
        cells = "".join(f"{_SYMBOLS[result.status]:<{width}}" for result in row)
        print(f"{row[0].id:<38}{cells}", file=out)


def verify_command(arguments, out=sys.stdout, err=sys.stderr):
    from .oracle import adapters
    from .oracle.runner import verify

    def progress(index, total, check, result):
        if result is None:
            print(f"[{index + 1}/{total}] {check.id} ...", end="", flush=True, file=err)
        else:
            print(f" {result.status} ({result.seconds:.1f} s)", flush=True, file=err)

    if arguments.target:
        targets = [arguments.target]
    else:
        targets = [name for name in adapters.BUILT_IN if adapters.installed(name)]
    reports = []
    for target in targets:
        print(f"verifying {target}", file=err)
        report = verify(target, max_examples=arguments.max_examples, profile=arguments.profile,
                        timeout=arguments.timeout, progress=progress)
        reports.append(report)
        _print_report(report, out)
    if len(reports) > 1:
        _print_matrix(targets, reports, out)
    if arguments.json:
        payload = reports[0].as_json() if len(reports) == 1 else [r.as_json() for r in reports]
        with open(arguments.json, "w") as handle:
            json.dump(payload, handle, indent=2)
    return 0 if all(r.ok for r in reports) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="kmeans-rbf",
        description="Verification companion to 'K-Means as a Radial Basis Function Network'.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify_parser = commands.add_parser(
        "verify", help="check a k-means / soft k-means / entmax implementation against the reference"
    )
    verify_parser.add_argument("target", nargs="?", help="module:attribute, or a built-in adapter name; none: all installed built-ins")
    verify_parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    verify_parser.add_argument("--max-examples", type=int, help="examples per check (overrides --profile)")
    verify_parser.add_argument("--profile", choices=["ci", "thorough"], default="ci", help="search depth (default: ci)")
    verify_parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per call (default: 10)")
    commands.add_parser("demo", help="hard, softmax and entmax-1.5 side by side as T falls")
    arguments = parser.parse_args(argv)
    if arguments.command == "verify":
        return verify_command(arguments)
    demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
