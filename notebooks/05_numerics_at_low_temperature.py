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
# # 5. Numerics at low temperature
#
# Claims: `entmax-exact-below-margin`, `empty-clusters`
#
# The limit T → 0 is where the paper's statements live, and where the obvious code breaks.
# This notebook computes softmax and entmax-1.5 responsibilities in float16, bfloat16,
# float32 and float64 at temperatures from 100 down to 1e-38, six ways: the textbook
# `exp(−d/T) / Σ exp(−d/T)`, `torch.softmax(−d/T)` (which subtracts the largest logit), this
# project's `kmeans_rbf.torch`, and the `entmax` package's `entmax15` on the raw logits `−d/T`
# and on the regret logits `−(d − min d)/T`; each against the float64 reference evaluated on
# the same rounded inputs (`kmeans_rbf.backends.rounded`). It shows what breaks where, why,
# and why the regret formulation of `theory/conventions.md` (Notation: the maps are invariant
# to a shift of a row, so the logits are `−ρ/T` with row maximum exactly 0) does not.

# %%
import warnings

import entmax
import numpy as np
import torch
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap

from kmeans_rbf import reference
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.backends import rounded
from kmeans_rbf.notebooks import save_figure, verdict
from kmeans_rbf.tolerances import error_bounds

rng = np.random.default_rng(5)
X = np.concatenate([mean + 0.6 * rng.normal(size=(30, 2)) for mean in [[0.0, 0.0], [4.0, 0.0], [2.0, 3.0]]])
C = np.array([[0.5, 0.2], [3.5, 0.3], [2.2, 2.5], [2.0, 1.0]])
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
NAMES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32", torch.float64: "float64"}
temperatures = 10.0 ** np.arange(2, -39, -2)


def distances(Xt, Ct):
    return ((Xt[:, None, :] - Ct[None, :, :]) ** 2).sum(dim=-1)


def textbook_softmax(Xt, Ct, T):
    e = torch.exp(-distances(Xt, Ct) / T)
    return e / e.sum(dim=-1, keepdim=True)


METHODS = {  # name -> (kind it computes, function of (X, C, T) tensors)
    "exp(-d/T) / sum": ("softmax", textbook_softmax),
    "torch.softmax(-d/T)": ("softmax", lambda Xt, Ct, T: torch.softmax(-distances(Xt, Ct) / T, dim=-1)),
    "kmeans_rbf softmax": ("softmax", lambda Xt, Ct, T: krbf_torch.responsibilities(Xt, Ct, float(T), "softmax")),
    "entmax.entmax15(-d/T)": ("entmax15", lambda Xt, Ct, T: entmax.entmax15(-distances(Xt, Ct) / T, dim=-1)),
    "entmax.entmax15(-regret/T)": ("entmax15", lambda Xt, Ct, T: entmax.entmax15(
        -(distances(Xt, Ct) - distances(Xt, Ct).min(dim=-1, keepdim=True).values) / T, dim=-1)),
    "kmeans_rbf entmax15": ("entmax15", lambda Xt, Ct, T: krbf_torch.responsibilities(Xt, Ct, float(T), "entmax15")),
}

# %% [markdown]
# ## Every method, dtype and temperature
#
# Each cell is one call on 90 points and 4 centres: the largest error of a responsibility
# against the float64 reference, or what went wrong: NaN in the output, an exception
# (crash), or a refusal (`ValueError` from this project's validation: a temperature below
# the smallest normal number of the working dtype).

# %%
outcome = {}  # (method, dtype) -> list over temperatures of a float error or "NaN", "crash", "refused"
nan_rows = {}  # (method, dtype) -> fraction of rows with a NaN, per temperature
for dtype in DTYPES:
    Xr, Cr = rounded(X, dtype), rounded(C, dtype)
    Xt, Ct = torch.tensor(X, dtype=dtype), torch.tensor(C, dtype=dtype)
    expected = {kind: [reference.responsibilities(Xr, Cr, T, kind) for T in temperatures] for kind in ["softmax", "entmax15"]}
    for method, (kind, function) in METHODS.items():
        cells, fractions = [], []
        for index, T in enumerate(temperatures):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the textbook formula divides 0 by 0 on purpose
                    r = function(Xt, Ct, T).double().numpy()
            except ValueError:
                cells.append("refused"), fractions.append(np.nan)
                continue
            except RuntimeError:
                cells.append("crash"), fractions.append(np.nan)
                continue
            bad = ~np.isfinite(r).all(axis=1)
            fractions.append(bad.mean())
            cells.append("NaN" if bad.any() else float(np.abs(r - expected[kind][index]).max()))
        outcome[method, dtype], nan_rows[method, dtype] = cells, np.array(fractions)

print(f"{'method':<28}{'dtype':<10} breaks at T <=")
for (method, dtype), cells in outcome.items():
    broken = [T for T, cell in zip(temperatures, cells) if isinstance(cell, str)]
    print(f"{method:<28}{NAMES[dtype]:<10} {broken[0]:.0e} ({cells[temperatures.tolist().index(broken[0])]})"
          if broken else f"{method:<28}{NAMES[dtype]:<10} never")

# %% [markdown]
# What the figure shows, asserted:
#
# * this project's softmax and entmax-1.5 never produce NaN, never crash, and stay within the
#   error bound of `kmeans_rbf.tolerances` for the dtype at every temperature they accept (half
#   precisions are computed in float32 and rounded once); below float32's smallest normal
#   number they refuse the temperature rather than return garbage;
# * the `entmax` package on the regret logits never fails either.

# %%
ours_hold = True
for dtype in DTYPES:
    Xr, Cr = rounded(X, dtype), rounded(C, dtype)
    for method in ["kmeans_rbf softmax", "kmeans_rbf entmax15"]:
        kind = METHODS[method][0]
        for T, cell in zip(temperatures, outcome[method, dtype]):
            if cell == "refused":
                ours_hold &= dtype != torch.float64 and T < torch.finfo(torch.float32).tiny
            else:
                ours_hold &= not isinstance(cell, str) and cell <= error_bounds(Xr, Cr, T, kind, dtype)["responsibilities"]
assert ours_hold
assert not any(isinstance(cell, str) for dtype in DTYPES for cell in outcome["entmax.entmax15(-regret/T)", dtype])
worst_package = {NAMES[dtype]: max(outcome["entmax.entmax15(-regret/T)", dtype]) for dtype in DTYPES}
print("kmeans_rbf: no NaN, no crash, within the tolerance table everywhere it accepts T; "
      f"entmax package on regret logits, largest error per dtype: {worst_package}")

# %%
codes = {"NaN": 1, "crash": 2, "refused": 3, 0.0: 4}  # 4: exactly right
rows = [(method, dtype) for method in METHODS for dtype in DTYPES]
values = np.array([[np.log10(max(cell, 1e-17)) if not isinstance(cell, str) else np.nan for cell in outcome[row]] for row in rows])
special = np.array([[codes.get(cell, 0) for cell in outcome[row]] for row in rows])

figure, axis = plt.subplots(figsize=(15, 10.5))
image = axis.imshow(np.where(special == 0, values, np.nan), cmap="viridis", vmin=-17, vmax=0, aspect="auto")
overlay = np.where(special > 0, special, np.nan)
axis.imshow(overlay, cmap=ListedColormap(["#d62728", "#000000", "#bdbdbd", "#f7fcf5"]), vmin=0.5, vmax=4.5, aspect="auto")
for i in range(len(rows)):
    for j in range(len(temperatures)):
        label = {1: "NaN", 2: "crash", 3: "ref.", 4: "0"}.get(special[i, j], "")
        if label:
            axis.text(j, i, label, ha="center", va="center", fontsize=7.5,
                      color="white" if special[i, j] in (1, 2) else "black")
axis.set_xticks(range(len(temperatures)), [f"1e{int(np.log10(T))}" for T in temperatures], rotation=60)
axis.set_yticks(range(len(rows)), [f"{method}  [{NAMES[dtype]}]" for method, dtype in rows])
for boundary in range(len(DTYPES), len(rows), len(DTYPES)):
    axis.axhline(boundary - 0.5, color="white", linewidth=3)
axis.set_xlabel("temperature T (squared data units)")
bar = figure.colorbar(image, ax=axis, fraction=0.03, pad=0.02)
bar.set_label("$\\log_{10}$ largest error against the float64 reference (white cells, 0: exact)")
axis.set_title("Responsibilities at low temperature: the textbook formula and raw logits break (NaN, crash);\n"
               "the regret formulation never does (ref. = temperature refused, below float32's smallest normal number)")
figure.tight_layout()
save_figure(figure, "05_what_breaks_where",
            "Largest error of softmax and entmax-1.5 responsibilities against the float64 reference, six methods x four "
            "dtypes x temperatures 1e2 to 1e-38; NaN, crashes and refusals marked", key=True)

# %% [markdown]
# ## Why, and where exactly
#
# * The textbook formula underflows: a row is NaN (0/0) once every `exp(−d_ik/T)` rounds to
#   0, i.e. once `min_k d_ik/T` exceeds `(n + 1) log 2` with `2^−n` the smallest subnormal
#   number of the dtype (17.3 in float16, 92.9 in bfloat16, 104.0 in float32, 745.1 in
#   float64).
# * `torch.softmax` subtracts the largest logit, so it survives underflow, but the logit
#   `−d/T` itself overflows to −∞ once `d/T` exceeds the dtype's largest number (65504 in
#   float16, 3.4e38 in bfloat16 and float32): a row whose logits are all −∞ is NaN, and the
#   `entmax` package's sort-based threshold crashes on it (`index -1 is out of bounds`;
#   E2 in `docs/findings.md`: a row without a finite logit is invalid input to it).
# * The regret logits `−(d_ik − min_l d_il)/T` have row maximum exactly 0: the largest weight
#   is `exp(0) = 1`, so no row can underflow to 0/0 or be all −∞; an entry that overflows to
#   −∞ gets weight exactly 0, which is the right answer (claim `empty-clusters`: with float64
#   the limit is reached exactly once such terms underflow).
#
# The predicted fractions of NaN rows below are computed from the distances in the dtype, and
# agree with the measured ones up to the rows whose `min d/T` is within 1% of the threshold.

# %%
fine = 10.0 ** np.arange(2, -38.05, -0.1)  # a finer grid of temperatures than the table's
explained = True
measured, predicted, thresholds = {}, {}, {}
for dtype in DTYPES:
    Xt, Ct = torch.tensor(X, dtype=dtype), torch.tensor(C, dtype=dtype)
    d_min = distances(Xt, Ct).min(dim=-1).values.double().numpy()
    n = -np.log2(torch.finfo(dtype).tiny * torch.finfo(dtype).eps)  # the smallest subnormal number is 2^-n
    thresholds[dtype] = ((n + 1) * np.log(2), float(torch.finfo(dtype).max))
    for method, threshold in zip(["exp(-d/T) / sum", "torch.softmax(-d/T)"], thresholds[dtype]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            measured[method, dtype] = np.array(
                [(~torch.isfinite(METHODS[method][1](Xt, Ct, T)).all(dim=-1)).double().mean().item() for T in fine])
        ratio = d_min[None, :] / fine[:, None] / threshold
        predicted[method, dtype] = np.mean(ratio > 1, axis=1)
        near = np.sum(np.abs(ratio - 1) < 0.01, axis=1) / len(X)
        explained &= bool(np.all(np.abs(measured[method, dtype] - predicted[method, dtype]) <= near))
    # The entmax package crashes exactly at the temperatures where some row of raw logits is all -inf.
    crashes = np.array([cell == "crash" for cell in outcome["entmax.entmax15(-d/T)", dtype]])
    explained &= bool(np.array_equal(crashes, nan_rows["torch.softmax(-d/T)", dtype] > 0))
assert explained
assert [round(thresholds[dtype][0], 1) for dtype in DTYPES] == [17.3, 92.9, 104.0, 745.1]
assert thresholds[torch.float16][1] == 65504 and all(f"{thresholds[dtype][1]:.1e}" == "3.4e+38" for dtype in DTYPES[1:3])
print(f"on {len(fine)} temperatures: measured NaN fractions = the predicted underflow / overflow of the logits "
      "(up to rows within 1% of the threshold); the entmax package crashes exactly where a row of raw logits is all -inf")

figure, axes = plt.subplots(1, 2, figsize=(15, 5.2), sharey=True)
colours = {torch.float16: "#d62728", torch.bfloat16: "#ff7f0e", torch.float32: "#2ca02c", torch.float64: "#1f77b4"}
for axis, method in zip(axes, ["exp(-d/T) / sum", "torch.softmax(-d/T)"]):
    for dtype in DTYPES:
        axis.semilogx(fine, measured[method, dtype], "o", color=colours[dtype], markersize=3.5,
                      label=f"{NAMES[dtype]}: measured")
        axis.semilogx(fine, predicted[method, dtype], "-", color=colours[dtype], alpha=0.7, label=f"{NAMES[dtype]}: predicted")
    axis.set_xlabel("temperature T (squared data units)")
    axis.grid(True, alpha=0.3)
axes[0].set_ylabel("fraction of rows that are NaN")
axes[0].set_title("exp(−d/T) / Σ: NaN once every exp(−d/T) underflows\n(min d/T above 17.3 / 92.9 / 104.0 / 745.1)")
axes[1].set_title("torch.softmax(−d/T): NaN once every logit overflows to −∞\n(min d/T above 65504 in float16, 3.4e38 in (b)float32)")
axes[0].set_xlim(1e-6, 1e2)
first = fine[np.argmax(measured["torch.softmax(-d/T)", torch.float32] > 0)]
axes[1].annotate(f"float32, bfloat16: the first NaN rows\nat T = {first:.0e} (d/T > 3.4e38)", (first, 0.02), xytext=(1e-33, 0.3),
                 arrowprops={"arrowstyle": "->"}, fontsize=9)
axes[1].legend(loc="center right", fontsize=8.5, ncol=2)
figure.tight_layout()
save_figure(figure, "05_why_it_breaks", "Fraction of NaN rows against T for the textbook formula and torch.softmax on raw "
            "logits, per dtype: measured, and predicted from the dtype's underflow and overflow thresholds")

# %% [markdown]
# ## Exact below the margin, in every dtype (claim `entmax-exact-below-margin`)
#
# The regret formulation keeps the exactness of entmax-1.5 intact: below half the smallest
# margin m (computed from the implementation's own distances, as the claim says of floating
# point), this project's entmax-1.5 responsibilities are exactly the hard ones in all four
# dtypes. At an extreme temperature, softmax's soft step in float64 sends an
# empty centre exactly onto the mean of its points of least regret (claim `empty-clusters`).

# %%
exact_in_every_dtype = True
for dtype in DTYPES:
    Xt, Ct = torch.tensor(X, dtype=dtype), torch.tensor(C, dtype=dtype)
    # m from the implementation's own distances: it computes the half precisions in float32.
    working = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    m = float(krbf_torch.margins(Xt.to(working), Ct.to(working)).min())
    for T in [m / 2, m / 1e3, 1e-30]:
        r = krbf_torch.responsibilities(Xt, Ct, T, "entmax15")
        exact_in_every_dtype &= bool(np.array_equal(r.double().numpy(), reference.responsibilities(rounded(X, dtype), rounded(C, dtype))))
assert exact_in_every_dtype

X1, C1 = np.array([[0.0], [1.0], [10.0], [11.0]]), np.array([[0.0], [1.0], [30.0]])  # c_2 = 30 is empty
limit = reference.soft_step(X1, C1, 1e-300, "softmax")
assert np.array_equal(limit[2], [11.0]) and np.array_equal(limit[:2], reference.lloyd_step(X1, C1)[:2])
print(f"entmax-1.5 hard in float16, bfloat16, float32 and float64 at T = m/2, m/1000, 1e-30; "
      f"softmax soft step at T = 1e-300 sends the empty centre 30 to {limit[2, 0]:g} (the point of least regret)")

# %% [markdown]
# ## Verdicts

# %%
verdict("entmax-exact-below-margin", exact_in_every_dtype and ours_hold,
        "entmax-1.5 responsibilities exactly hard below half the margin in float16, bfloat16, float32 and float64, "
        "down to T = 1e-30; no NaN or crash at any T from 1e2 to 1e-38")
verdict("empty-clusters", bool(np.array_equal(limit[2], [11.0])),
        "softmax soft step at T = 1e-300 (float64): the empty centre lands exactly on 11, its point of least regret")
