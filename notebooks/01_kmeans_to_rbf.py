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
# # 1. From K-Means to the RBF network
#
# Claims: `sandwich`, `voronoi-order`, `entmax-one-hot-threshold`
#
# K-Means gives every point to its nearest centre; the RBF network of arXiv 2603.04625
# weighs every centre by a map of the logits −d/T instead: softmax (a normalised Gaussian
# RBF) or entmax-1.5 (sparse). On a small 2-D example this notebook computes the three
# maps and their objectives J, L_T and F_T, and draws the responsibilities over the plane.
#
# Notation is that of `theory/conventions.md`: `d_ik = ‖x_i − c_k‖²`, logits `z = −d/T`,
# objectives are means over the points, and the paper's σ is the temperature T (a Gaussian
# RBF of width s is softmax at T = 2s²).

# %%
import numpy as np
import matplotlib.pyplot as plt

from kmeans_rbf import bounds, plots
from kmeans_rbf import reference as krbf
from kmeans_rbf.notebooks import save_figure, verdict

rng = np.random.default_rng(1)
blob_means = np.array([[0.0, 0.0], [4.0, 0.5], [1.5, 3.5]])
X = np.concatenate([mean + 0.8 * rng.normal(size=(12, 2)) for mean in blob_means])
C = np.array([[0.5, 0.5], [3.0, 0.0], [2.0, 2.5]])
T = 1.0
K = len(C)
KINDS = ["hard", "softmax", "entmax15"]

# %% [markdown]
# ## The three maps and their objectives
#
# `J` is the K-Means objective, `L_T = mean_i Σ_k r_ik d_ik` the RBF objective and `F_T` the
# free energy (`theory/conventions.md`, Objectives). For both soft maps the claim `sandwich`
# says `J − T H_max ≤ F_T ≤ J ≤ L_T ≤ J + T H_max`, with `H_max = log K` (softmax) or
# `(4/3)(1 − K^−1/2)` (entmax-1.5).

# %%
J = krbf.objective(X, C)
print(f"N = {len(X)} points, K = {K} centres, T = {T:g}; J = {J:.6f}")
print(f"{'kind':<10}{'L_T':>10}{'F_T':>11}{'L_T - J':>11}{'J - F_T':>11}{'T H_max':>10}")
sandwich_holds = True
for kind in KINDS[1:]:
    L, F = krbf.objective(X, C, T, kind), krbf.free_energy(X, C, T, kind)
    H = bounds.entropy_maximum(kind, K)
    print(f"{kind:<10}{L:>10.6f}{F:>11.6f}{L - J:>11.2e}{J - F:>11.2e}{T * H:>10.4f}")
    sandwich_holds &= J - T * H <= F <= J <= L <= J + T * H
assert sandwich_holds

# %% [markdown]
# Softmax gives every centre some weight, so its rows are never exactly one-hot; an
# entmax-1.5 row is exactly one-hot iff the point's two smallest distances differ by at
# least 2T (claim `entmax-one-hot-threshold`).

# %%
r = {kind: krbf.responsibilities(X, C, T, kind) for kind in KINDS}
margin = krbf.margins(X, C)
one_hot = r["entmax15"].max(axis=1) == 1.0
assert np.array_equal(one_hot, margin >= 2 * T)
softmax_leak = 1.0 - r["softmax"].max(axis=1)
assert np.all(softmax_leak > 0)
print(f"entmax-1.5: {one_hot.sum()} of {len(X)} rows exactly one-hot, exactly the {np.sum(margin >= 2 * T)} "
      f"points with margin >= 2T = {2 * T:g}")
print(f"softmax: no row is one-hot; the smallest weight off the nearest centre is {softmax_leak.min():.2e}")

# %% [markdown]
# ## Responsibilities over the plane
#
# Every pixel is coloured by mixing the centres' colours with its responsibilities: pure
# colours are one-hot rows, blends are soft ones. The black lines are the exact Voronoi edges.
# Weights too small to tint a pixel are drawn as level lines: for softmax, where the weight
# off the nearest centre is 1e-2 and 1e-6 (it is positive everywhere); for entmax-1.5, the
# band `margin < 2T` outside which every row is exactly one-hot.

# %%
extent = plots.extent_around(np.r_[X, C], padding=0.12)
pixels, shape, extent = plots.grid(extent, 220)
pixel_r = {kind: krbf.responsibilities(pixels, C, T, kind) for kind in KINDS}
pixel_margin = krbf.margins(pixels, C)
pixel_leak = 1.0 - pixel_r["softmax"].max(axis=1)

figure, axes = plt.subplots(1, 3, figsize=(15, 5.2), sharey=True)
for axis, kind in zip(axes, KINDS):
    axis.imshow(plots.responsibility_image(pixel_r[kind], shape), extent=extent, origin="lower", interpolation="nearest")
    plots.draw_voronoi_edges(axis, C, extent)
    if kind == "softmax":
        lines = axis.contour(pixel_leak.reshape(shape), levels=[1e-6, 1e-2], extent=extent, colors="white",
                             linewidths=1.2, linestyles=["dotted", "dashed"])
        axis.clabel(lines, fmt={1e-6: "1e-6", 1e-2: "1e-2"}, fontsize=9)
    if kind == "entmax15":
        axis.contour(pixel_margin.reshape(shape), levels=[2 * T], extent=extent, colors="white", linewidths=1.4,
                     linestyles="dashed")
        axis.plot([], [], color="white", linestyle="dashed", label="margin = 2T")
    plots.draw_data(axis, X, C)
    value = f"J = {J:.3f}" if kind == "hard" else f"$L_T$ = {krbf.objective(X, C, T, kind):.3f}"
    axis.set_title(f"{plots.KIND_LABELS[kind]}: {value}")
    axis.set_xlabel("$x_1$ (data units)")
    axis.set_xlim(extent[:2]), axis.set_ylim(extent[2:])
axes[0].set_ylabel("$x_2$ (data units)")
axes[0].legend(loc="lower left", fontsize=9, framealpha=0.9)
axes[1].text(0.02, 0.02, "white lines: weight off the nearest\ncentre = 1e-2 (dashed), 1e-6 (dotted)", transform=axes[1].transAxes,
             fontsize=9, color="black", backgroundcolor=(1, 1, 1, 0.8))
axes[2].text(0.02, 0.02, "dashed white: margin = 2T; outside\nthe band every row is exactly one-hot", transform=axes[2].transAxes,
             fontsize=9, color="black", backgroundcolor=(1, 1, 1, 0.8))
figure.suptitle(f"Responsibilities at T = {T:g}: hard cells; softmax blends everywhere (weights never reach 0); "
                "entmax-1.5 blends only inside the 2T band", fontsize=13)
figure.tight_layout()
save_figure(figure, "01_responsibilities_over_the_plane",
            "Responsibilities of three centres over the plane (colour mix), hard, softmax and entmax-1.5 at T = 1, "
            "with the Voronoi edges", key=True)

# %% [markdown]
# Decoding a soft row by its largest weight gives the Voronoi cell, at every temperature
# (claim `voronoi-order`): on every pixel, `argmax_k r_k` is the nearest centre, up to
# pixels whose two nearest distances differ by less than rounding.

# %%
nearest = krbf.assign(pixels, C)
rounding_band = pixel_margin / T < 1e-12
disagreements = {kind: int(np.sum((pixel_r[kind].argmax(axis=1) != nearest) & ~rounding_band)) for kind in KINDS[1:]}
assert disagreements == {"softmax": 0, "entmax15": 0}, disagreements
print(f"argmax of the responsibilities = nearest centre on all {len(pixels)} pixels "
      f"({int(rounding_band.sum())} within rounding of an edge), for softmax and entmax-1.5")

# %% [markdown]
# ## Across one edge
#
# Along a line crossing the edge between `c_0` and `c_1` (the two centres alone), the weight
# of `c_1` as a function of the signed gap `(d_0 − d_1)/T`: a step for K-Means, a logistic
# curve for softmax, and for entmax-1.5 a curve that reaches 0 and 1 exactly at ±2. The right
# panel is each point's excess `Σ_k r_k d_k − min_k d_k`, the term of `L_T − J`: it never
# exceeds the sharp constant `c_2 T` of claim `uniform-rate` (notebook 2).

# %%
pair = C[:2]
normal = (pair[1] - pair[0]) / np.linalg.norm(pair[1] - pair[0])
line = (pair[0] + pair[1]) / 2 + np.linspace(-1.2, 1.2, 2001)[:, None] * normal
d_line = krbf.squared_distances(line, pair)
gap = (d_line[:, 0] - d_line[:, 1]) / T
line_r = {kind: krbf.responsibilities(line, pair, T, kind) for kind in KINDS}
excess = {kind: np.sum(line_r[kind] * d_line, axis=1) - d_line.min(axis=1) for kind in KINDS[1:]}

entmax_weight = line_r["entmax15"][:, 1]
exact = (entmax_weight == 0.0) | (entmax_weight == 1.0)
assert np.array_equal(exact, np.abs(gap) >= 2.0)
assert np.all((line_r["softmax"][:, 1] > 0) & (line_r["softmax"][:, 1] < 1))
sharp = {kind: bounds.sharp_constant(kind, 2) * T for kind in KINDS[1:]}
for kind in KINDS[1:]:
    assert excess[kind].max() <= sharp[kind] * (1 + 1e-12)
    assert excess[kind].max() >= 0.999 * sharp[kind]  # and it comes within 0.1% of it

figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
for kind in KINDS:
    left.plot(gap, line_r[kind][:, 1], color=plots.KIND_COLOURS[kind], label=plots.KIND_LABELS[kind], linewidth=2)
for side in (-2, 2):
    left.axvline(side, color="grey", linestyle=":", linewidth=1)
left.text(2.05, 0.5, "gap = 2T: entmax-1.5\nis exactly one-hot beyond", fontsize=9, va="center")
left.set_xlabel("signed gap $(d_0 - d_1)/T$ (units of T)")
left.set_ylabel("weight of $c_1$, $r_1$")
left.set_title("Weight of $c_1$ across the edge: entmax-1.5 is exactly 0 or 1 beyond ±2T")
left.legend(loc="upper left")
for kind in KINDS[1:]:
    right.plot(gap, excess[kind], color=plots.KIND_COLOURS[kind], label=plots.KIND_LABELS[kind], linewidth=2)
    right.axhline(sharp[kind], color=plots.KIND_COLOURS[kind], linestyle="--", linewidth=1,
                  label=f"$c_2 T$ = {sharp[kind]:.4f}")
right.set_xlabel("signed gap $(d_0 - d_1)/T$ (units of T)")
right.set_ylabel("per-point excess (squared data units)")
right.set_title("Per-point excess $\\sum_k r_k d_k - \\min_k d_k$ stays below $c_2 T$")
right.set_ylim(0, 1.45 * max(sharp.values()))
right.legend(loc="upper center", fontsize=9, ncol=2)
figure.tight_layout()
save_figure(figure, "01_across_one_edge", "Weight of one centre and per-point excess of L_T over J across a Voronoi edge")

# %% [markdown]
# ## Verdicts

# %%
verdict("sandwich", sandwich_holds,
        f"J - T H_max <= F_T <= J <= L_T <= J + T H_max for softmax and entmax-1.5 on {len(X)} points, K = {K}, T = {T:g}")
verdict("voronoi-order", sum(disagreements.values()) == 0,
        f"argmax_k r_k is the nearest centre on {len(pixels)} pixels for both maps at T = {T:g}")
verdict("entmax-one-hot-threshold", bool(np.array_equal(one_hot, margin >= 2 * T)) and bool(np.array_equal(exact, np.abs(gap) >= 2)),
        f"entmax-1.5 rows one-hot exactly when the margin is >= 2T: {one_hot.sum()} of {len(X)} data rows, "
        f"and on {len(line)} points across an edge")
