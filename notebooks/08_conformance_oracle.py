# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. The conformance oracle in practice
#
# Claims: `voronoi-order`, `empty-cluster-policy`
#
# Every claim above is a property of the mathematics; whether a given library computes it
# is a different question, which the conformance oracle (`kmeans-rbf verify`) answers. This
# notebook writes an adapter for a small soft k-means with two classic bugs, runs two of the
# oracle's checks on it in this process (fast: `kmeans_rbf.oracle.sandbox.InProcess` instead
# of the sandboxed worker of the command line), reads the shrunk counterexamples, fixes the
# adapter and runs the checks again. Then the matrix of the built-in peer libraries, read at
# run time from the record that `tests/test_peers.py` keeps (`kmeans_rbf.report.peer_matrix`).
#
# Conventions: `theory/conventions.md`; the adapter protocol is in the README (Checking your
# own implementation) and in `kmeans_rbf.oracle.checks`.

# %%
import json

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap

from kmeans_rbf import plots
from kmeans_rbf import reference as krbf
from kmeans_rbf.notebooks import output_directory, save_figure, verdict
from kmeans_rbf.oracle import CHECKS
from kmeans_rbf.oracle.runner import run_check
from kmeans_rbf.oracle.sandbox import InProcess
from kmeans_rbf.report import PEER_MATRIX_FILE, peer_matrix

# %% [markdown]
# ## An adapter with two bugs
#
# An adapter is any object with some of the protocol's methods. This one computes softmax
# responsibilities by the textbook formula `exp(−d/T) / Σ exp(−d/T)` and moves the centre of
# an empty cell to the origin, as some libraries do (`docs/findings.md`).

# %%
class TextbookSoftKMeans:
    name = "textbook soft k-means"
    kinds = {"responsibilities": ("softmax",)}  # it offers softmax responsibilities only

    def responsibilities(self, X, C, temperature, kind):
        d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
        with np.errstate(all="ignore"):  # 0/0 at low temperature: the bug we are about to see
            e = np.exp(-d / temperature)
            return e / e.sum(axis=1, keepdims=True)

    def lloyd_step(self, X, C):
        labels = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        return np.array([X[labels == k].mean(axis=0) if np.any(labels == k) else np.zeros(C.shape[1])
                         for k in range(len(C))])


checks = {check.id: check for check in CHECKS}
chosen = ["responsibilities.extreme-temperature", "lloyd_step.empty-cluster"]
broken = {check_id: run_check(checks[check_id], InProcess(TextbookSoftKMeans()), max_examples=30) for check_id in chosen}
for check_id, result in broken.items():
    print(f"{check_id}: {result.status} after {result.checked} inputs ({result.seconds:.2f} s)\n  {result.message.splitlines()[0]}")

# %% [markdown]
# ## Reading a shrunk counterexample
#
# Hypothesis shrinks each failure to a small input (the oracle also draws targeted
# configurations, which may already be small). Below, each counterexample is replayed on the
# adapter and on the reference: a single point at squared distance 0.25 from the only centre
# at `T = 1e-12`, where `exp(−0.25/1e-12)` underflows to 0 and the row is 0/0; and cells left
# empty, whose centres the adapter moves to the origin, outside the data.

# %%
for check_id, result in broken.items():
    print(f"{check_id}:\n  counterexample: {result.counterexample}\n")

X_ce, C_ce, T_ce = broken["responsibilities.extreme-temperature"].counterexample["problem"]
ours = TextbookSoftKMeans().responsibilities(np.asarray(X_ce), np.asarray(C_ce), T_ce, "softmax")
expected = krbf.responsibilities(X_ce, C_ce, T_ce, "softmax")
assert broken["responsibilities.extreme-temperature"].status == "failed" and np.isnan(ours).any() and np.isfinite(expected).all()
X_empty, C_empty, _ = broken["lloyd_step.empty-cluster"].counterexample["problem"]
moved = TextbookSoftKMeans().lloyd_step(np.asarray(X_empty), np.asarray(C_empty))
empty = sorted(set(range(len(C_empty))) - set(krbf.assign(X_empty, C_empty).tolist()))
assert broken["lloyd_step.empty-cluster"].status == "failed" and empty and np.all(moved[empty] == 0.0)
print(f"replayed: the adapter returns {ours.tolist()} where the reference returns {expected.tolist()}; "
      f"it sends the empty centre(s) {empty} to the origin, the reference keeps {krbf.lloyd_step(X_empty, C_empty)[empty].tolist()}")

# %% [markdown]
# ## Fixed
#
# Shift the logits by the row maximum (the regret formulation of `theory/conventions.md`),
# keep an empty cell's centre where it is, and the same checks pass.

# %%
class FixedSoftKMeans(TextbookSoftKMeans):
    name = "fixed soft k-means"

    def responsibilities(self, X, C, temperature, kind):
        d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
        with np.errstate(over="ignore"):
            e = np.exp(-(d - d.min(axis=1, keepdims=True)) / temperature)
        return e / e.sum(axis=1, keepdims=True)

    def lloyd_step(self, X, C):
        labels = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        return np.array([X[labels == k].mean(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])


fixed = {check_id: run_check(checks[check_id], InProcess(FixedSoftKMeans()), max_examples=30) for check_id in chosen}
for check_id, result in fixed.items():
    print(f"{check_id}: {result.status} on {result.checked} inputs")
assert all(result.status == "passed" for result in fixed.values())

# %% [markdown]
# ## The peer libraries
#
# The matrix of `kmeans-rbf verify` over the built-in adapters, as recorded in
# `tests/test_peers.py` (re-run by the slow tests; `docs/findings.md` says what each failure
# is). It is read at run time, so it is always the current record. It is also written next to
# the figures, for the report.

# %%
matrix = peer_matrix()
(output_directory() / PEER_MATRIX_FILE).write_text(json.dumps(matrix))
statuses = ["passed", "failed", "refused", "not provided", "not installed"]
codes = np.array([[statuses.index(matrix["cells"][name][check]) for name in matrix["adapters"]] for check in matrix["checks"]])
assert all(matrix["cells"]["reference"][check] in ("passed", "not provided") for check in matrix["checks"])
for name in matrix["adapters"]:
    listed = {status: [check for check in matrix["checks"] if matrix["cells"][name][check] == status] for status in ["failed", "refused"]}
    print(f"{name:<28}{matrix['labels'][name]:<28} failed: {', '.join(listed['failed']) or 'none'}"
          + (f"; refused: {', '.join(listed['refused'])}" if listed["refused"] else ""))

colours = [plots.STATUS_COLOURS[s] for s in ["passed", "failed", "refused", "not provided"]] + ["#ffffff"]
figure, axis = plt.subplots(figsize=(12, 11))
axis.imshow(codes, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(statuses) - 0.5, aspect="auto")
symbols = {"passed": "ok", "failed": "FAIL", "refused": "ref.", "not provided": "-", "not installed": "n/i"}
for i, check in enumerate(matrix["checks"]):
    for j, name in enumerate(matrix["adapters"]):
        status = matrix["cells"][name][check]
        axis.text(j, i, symbols[status], ha="center", va="center", fontsize=8.5,
                  color="white" if status == "failed" else "black", fontweight="bold" if status == "failed" else None)
axis.set_xticks(range(len(matrix["adapters"])), [f"{name}\n{matrix['labels'][name]}" for name in matrix["adapters"]],
                rotation=35, ha="right", fontsize=9)
axis.set_yticks(range(len(matrix["checks"])), matrix["checks"], fontsize=9)
axis.set_xlabel("implementation (built-in adapter, library and version of the record)")
axis.set_ylabel("oracle check (small tier, then scale tier)")
shown_statuses = {cell for row in matrix["cells"].values() for cell in row.values()}
for status, colour in zip(statuses, colours):
    if status in shown_statuses:
        axis.scatter([], [], marker="s", s=90, color=colour, edgecolors="grey", label=status)
axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="recorded verdict")
axis.set_title("The peer libraries under the conformance oracle, as recorded in tests/test_peers.py")
figure.tight_layout()
save_figure(figure, "08_peer_matrix", "The verify matrix of the built-in adapters (checks by implementations), read from "
            "the record in tests/test_peers.py", key=True)

# %% [markdown]
# ## Verdicts
#
# Two properties of the mathematics that the oracle checks in every library: decoding is the
# nearest centre (claim `voronoi-order`: the reference passes `assign.nearest` and the
# responsibilities checks), and Lloyd's step keeps an empty centre where it is (claim
# `empty-cluster-policy`, the reference's documented policy; the oracle also accepts
# relocating it into the data, and catches the origin).

# %%
reference_row = matrix["cells"]["reference"]
verdict("voronoi-order", reference_row["assign.nearest"] == "passed" and reference_row["responsibilities.reference"] == "passed",
        "the reference passes assign.nearest and responsibilities.reference in the recorded matrix")
keeps = bool(np.array_equal(krbf.lloyd_step(X_empty, C_empty)[empty], np.asarray(C_empty)[empty]))
verdict("empty-cluster-policy", keeps and fixed["lloyd_step.empty-cluster"].status == "passed",
        "the reference keeps the empty centre of the oracle's counterexample; an adapter that keeps it passes "
        "lloyd_step.empty-cluster, one that moves it to the origin fails")
