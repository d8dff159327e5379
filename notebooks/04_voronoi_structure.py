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
# # 4. Voronoi structure: where entmax-1.5 is exact and where softmax leaks
#
# Claims: `voronoi-order`, `entmax-order-converse`, `entmax-one-hot-threshold`, `entmax-support`, `entmax-exact-below-margin`, `dead-centres`, `dead-centre-revival`, `fixed-points-hull`
#
# The paper says entmax-1.5 "preserves the Voronoi structure". Over the plane this notebook
# draws what that comes to: the decoded partition is Voronoi's at every T; an entmax-1.5 row
# is exactly one-hot outside the band where the two smallest distances differ by less than
# 2T; the support of each centre is exactly `{x : Σ_l [d_k − d_l]₊² < 4T²}`, inside the
# 2T-thickened cell and sometimes strictly; softmax leaks weight everywhere, about
# `e^(−margin/T)`. Then the centres that entmax-1.5 gives no weight at all: dead centres,
# which do not move, but can revive, and which can be fixed points outside the data's hull.
#
# Conventions: `theory/conventions.md` (Maps, Responsibilities; the margin is `d_(2) − d_(1)`).

# %%
import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap

from kmeans_rbf import bounds, plots
from kmeans_rbf import reference as krbf
from kmeans_rbf.notebooks import save_figure, verdict

C = np.array([[0.0, 0.0], [3.0, 0.4], [1.2, 2.8], [4.2, 3.2]])
K = len(C)
T = 0.6
extent = (-2.0, 6.2, -2.0, 5.2)
pixels, shape, extent = plots.grid(extent, 260)
d = krbf.squared_distances(pixels, C)
margin = krbf.margins(pixels, C)
r = {kind: krbf.responsibilities(pixels, C, T, kind) for kind in ["softmax", "entmax15"]}
support = r["entmax15"] > 0
support_size = support.sum(axis=1)
print(f"K = {K} centres, T = {T}, {len(pixels)} pixels; entmax-1.5 support sizes found: "
      f"{dict(zip(*np.unique(support_size, return_counts=True)))}")

# %% [markdown]
# ## The support of entmax-1.5 over the plane
#
# A row is exactly one-hot iff its margin is at least 2T (claim `entmax-one-hot-threshold`);
# centre k carries weight iff `S_k = Σ_l [d_k − d_l]₊² < 4T²` (claim `entmax-support`,
# `bounds.entmax_support_sums`), so the support lies inside the thickened cell
# `{d_k < min_l d_l + 2T}`, with equality for the runner-up of a point whose nearest centre is
# unique, and strictly smaller near the vertices, where two centres tie.

# %%
S = bounds.entmax_support_sums(d)
thickened = d < d.min(axis=1, keepdims=True) + 2 * T
one_hot_iff_band = bool(np.array_equal(support_size == 1, margin >= 2 * T))
support_exact = bool(np.array_equal(support, S < 4 * T**2))
inside_thickened = bool(np.all(thickened[support]))
strict = thickened & ~support
assert one_hot_iff_band and support_exact and inside_thickened
assert strict.any()
print(f"one-hot exactly where margin >= 2T: {one_hot_iff_band}; support = {{S < 4T^2}} on every pixel and centre: "
      f"{support_exact}; inside the 2T-thickened cells: {inside_thickened}; "
      f"{int(strict.any(axis=1).sum())} pixels have a centre in the thickened cell but outside the support")
# Decoding by the largest weight gives the Voronoi cell (claim voronoi-order).
nearest = krbf.assign(pixels, C)
within_rounding = margin / T < 1e-12
decoded = {kind: int(np.sum((r[kind].argmax(axis=1) != nearest) & ~within_rounding)) for kind in r}
assert decoded == {"softmax": 0, "entmax15": 0}, decoded
# The converse fails off the support (claim entmax-order-converse): d = (0, 2.25, 4), T = 1 gives
# p = (1, 0, 0), so p_3 >= p_2 although z_3 < z_2.
p_converse = krbf.entmax15(-np.array([0.0, 2.25, 4.0]) / 1.0)
converse_fails = bool(np.array_equal(p_converse, [1.0, 0.0, 0.0]))
assert converse_fails
print(f"entmax15(-(0, 2.25, 4)) = {p_converse.tolist()}: equal weights for unequal logits, off the support")

# %% [markdown]
# ## Where softmax leaks
#
# The weight a softmax row puts off its nearest centre is never 0: with g the row's margin,
# `e^(−g/T)/K ≤ 1 − r_nearest ≤ (K − 1) e^(−g/T)` (the per-point form of claim
# `entmax-exact-below-margin`). It is computed as the sum of the other weights, which keeps
# its relative accuracy down to the float64 range.

# %%
leak = np.sort(r["softmax"], axis=1)[:, :-1].sum(axis=1)
representable = np.exp(-margin / T) > 1e-300
Y = np.exp(-margin / T)
leak_bounds_hold = bool(np.all((Y / K <= leak * (1 + 1e-12)) & (leak <= (K - 1) * Y * (1 + 1e-12)))) 
assert leak_bounds_hold and np.all(leak[representable] > 0)
print(f"softmax leak between e^(-g/T)/K and (K-1) e^(-g/T) on every pixel; smallest leak {leak.min():.1e}, "
      f"largest {leak.max():.2f}")

# %%
figure, axes = plt.subplots(1, 3, figsize=(18, 5.8))
sizes_map = ListedColormap(["#f7f7f7", "#fdd49e", "#ef6548", "#990000"][: int(support_size.max())])
image = axes[0].imshow(support_size.reshape(shape), extent=extent, origin="lower", cmap=sizes_map,
                       vmin=0.5, vmax=support_size.max() + 0.5, interpolation="nearest")
bar = figure.colorbar(image, ax=axes[0], ticks=range(1, int(support_size.max()) + 1), fraction=0.046, pad=0.04)
bar.set_label("number of centres with weight (entmax-1.5 support size)")
axes[0].contour(margin.reshape(shape), levels=[2 * T], extent=extent, colors="#08519c", linestyles="dashed", linewidths=1.5)
axes[0].plot([], [], color="#08519c", linestyle="dashed", label="margin = 2T")
axes[0].set_title(f"entmax-1.5 support sizes at T = {T}:\none-hot outside the 2T band")

# Zoomed on the vertex of the cells of c_0, c_1 and c_2, where the inclusion is strict.
k = 0
vertex = np.linalg.solve(2 * np.array([C[1] - C[0], C[2] - C[0]]), [C[1] @ C[1] - C[0] @ C[0], C[2] @ C[2] - C[0] @ C[0]])
zoom_pixels, zoom_shape, zoom_extent = plots.grid((vertex[0] - 1.0, vertex[0] + 1.0, vertex[1] - 1.0, vertex[1] + 1.0), 240)
zoom_d = krbf.squared_distances(zoom_pixels, C)
zoom_support = krbf.responsibilities(zoom_pixels, C, T, "entmax15")[:, k] > 0
zoom_thickened = zoom_d[:, k] < zoom_d.min(axis=1) + 2 * T
assert np.all(zoom_thickened[zoom_support]) and np.any(zoom_thickened & ~zoom_support)
axes[1].imshow(np.where(zoom_support, 2, np.where(zoom_thickened, 1, 0)).reshape(zoom_shape), extent=zoom_extent,
               origin="lower", cmap=ListedColormap(["#f7f7f7", "#6baed6", plots.CENTRE_COLOURS[k]]), vmin=-0.5, vmax=2.5,
               interpolation="nearest")
axes[1].fill_between([], [], color=plots.CENTRE_COLOURS[k], label=f"support of $c_{k}$: $S_{k} < 4T^2$")
axes[1].fill_between([], [], color="#6baed6", label="thickened cell $d_0 < \\min_l d_l + 2T$,\nnot in the support")
axes[1].set_title(f"Zoom on a vertex: the support of $c_{k}$ is strictly\ninside its 2T-thickened cell where two centres tie")

leak_image = axes[2].imshow(np.log10(np.maximum(leak, 1e-300)).reshape(shape), extent=extent, origin="lower",
                            cmap="viridis", vmin=-12, vmax=0, interpolation="nearest")
bar = figure.colorbar(leak_image, ax=axes[2], fraction=0.046, pad=0.04)
bar.set_label("$\\log_{10}$ (softmax weight off the nearest centre)")
axes[2].contour(margin.reshape(shape), levels=[2 * T], extent=extent, colors="white", linestyles="dashed", linewidths=1.5)
axes[2].plot([], [], color="white", linestyle="dashed", label="margin = 2T (entmax-1.5 exact outside)")
axes[2].set_title("softmax weight off the nearest centre: never 0,\nbetween $e^{-g/T}/K$ and $(K-1) e^{-g/T}$, g the margin")

for axis, shown in zip(axes, [extent, zoom_extent, extent]):
    plots.draw_voronoi_edges(axis, C, shown)
    plots.draw_data(axis, np.empty((0, 2)), C)
    axis.set_xlim(shown[:2]), axis.set_ylim(shown[2:])
    axis.set_xlabel("$x_1$ (data units)"), axis.set_ylabel("$x_2$ (data units)")
    axis.legend(loc="upper right" if axis is axes[1] else "lower right", fontsize=9, framealpha=0.9)
figure.suptitle("Voronoi structure: entmax-1.5 is exactly hard outside the 2T band around the edges; softmax is hard nowhere",
                fontsize=13)
figure.tight_layout(rect=(0, 0, 1, 0.95))
save_figure(figure, "04_supports_and_leaks",
            "entmax-1.5 support sizes and the 2T band, the support of one centre against its thickened cell, and "
            "the softmax leak over the plane", key=True)

# %% [markdown]
# ## Below half the margin entmax-1.5 is K-Means (claim `entmax-exact-below-margin`)
#
# On data with smallest margin m, at every T ≤ m/2 the entmax-1.5 responsibilities are the
# hard ones, `L_T = F_T = J` and the gradients equal J's, bit for bit; softmax gets there only
# at the rate `e^(−m/T)`.

# %%
rng = np.random.default_rng(4)
X = np.concatenate([centre + 0.45 * rng.normal(size=(10, 2)) for centre in C])
m = float(krbf.margins(X, C).min())
hard = krbf.responsibilities(X, C)
J, grad_J = krbf.objective(X, C), krbf.gradient(X, C)
exact_below = True
for T_below in [m / 2, m / 4, m / 64]:
    exact_below &= bool(np.array_equal(krbf.responsibilities(X, C, T_below, "entmax15"), hard)
                        and krbf.objective(X, C, T_below, "entmax15") == J
                        and krbf.free_energy(X, C, T_below, "entmax15") == J
                        and np.array_equal(krbf.gradient(X, C, T_below, "entmax15"), grad_J))
assert exact_below
assert not np.array_equal(krbf.responsibilities(X, C, 0.6 * m, "entmax15"), hard)
print(f"N = {len(X)}, smallest margin m = {m:.4f}: at T = m/2, m/4, m/64 entmax-1.5 gives the hard responsibilities, "
      "L_T = F_T = J and grad L_T = grad J exactly; at T = 0.6 m it does not")
for T_below in [m / 2, m / 8, m / 32]:
    Y = np.exp(-m / T_below)
    worst = float(np.max(np.sort(krbf.responsibilities(X, C, T_below, "softmax"), axis=1)[:, :-1].sum(axis=1)))
    assert Y / 2 <= worst <= (K - 1) * Y
    print(f"softmax at T = m/{m / T_below:.0f}: largest leak {worst:.3e}, between e^(-m/T)/2 = {Y / 2:.3e} "
          f"and (K-1) e^(-m/T) = {(K - 1) * Y:.3e}")

# %% [markdown]
# ## Dead centres (claims `dead-centres`, `dead-centre-revival`)
#
# A centre outside every point's support has no mass: zero gradient, and the soft step
# keeps it where it is. Softmax has no dead centres: a far centre still gets a tiny weight
# and moves. A dead centre is frozen, not removed: on X = {0, 6}, C = (1, −2.5), T = 1, c_1
# is dead, c_0 moves to 3, and then c_1 is the nearest centre of x = 0 and takes it.

# %%
far = np.vstack([C, [[9.0, -6.0]]])
r_far = krbf.responsibilities(X, far, 0.5, "entmax15")
step = krbf.soft_step(X, far, 0.5, "entmax15")
dead = bool(r_far[:, -1].sum() == 0.0 and np.all(krbf.gradient(X, far, 0.5, "entmax15")[-1] == 0.0)
            and np.all(krbf.free_energy_gradient(X, far, 0.5, "entmax15")[-1] == 0.0) and np.array_equal(step[-1], far[-1]))
softmax_mass = krbf.responsibilities(X, far, 0.5, "softmax")[:, -1].sum()
softmax_moves = np.linalg.norm(krbf.soft_step(X, far, 0.5, "softmax")[-1] - far[-1])
assert dead and softmax_mass > 0 and softmax_moves > 1
print(f"entmax-1.5: the far centre has mass 0, zero gradients, and stays at {step[-1]}; "
      f"softmax: mass {softmax_mass:.1e} > 0, and one soft step moves it by {softmax_moves:.2f}")

X_revival, C_revival = np.array([[0.0], [6.0]]), np.array([[1.0], [-2.5]])
states = [C_revival]
for _ in range(3):
    states.append(krbf.soft_step(X_revival, states[-1], 1.0, "entmax15"))
masses = [krbf.responsibilities(X_revival, S, 1.0, "entmax15")[:, 1].sum() for S in states]
revives = bool(masses[0] == 0.0 and masses[1] > 0 and np.array_equal(states[2].ravel(), [6.0, 0.0]))
assert revives
print("X = {0, 6}, C = (1, -2.5), T = 1: states " + " -> ".join(str(S.ravel().tolist()) for S in states)
      + f"; mass of c_1: {[float(mass) for mass in masses[:3]]}")

# %% [markdown]
# A dead centre is a fixed point wherever it is, so the hull of the data does not contain
# every fixed point (claim `fixed-points-hull`): X = {0, 1}, C = (1/2, 10), T = 1.

# %%
X_hull, C_hull = np.array([[0.0], [1.0]]), np.array([[0.5], [10.0]])
both_fixed = bool(np.array_equal(krbf.lloyd_step(X_hull, C_hull), C_hull)
                  and np.array_equal(krbf.soft_step(X_hull, C_hull, 1.0, "entmax15"), C_hull))
assert both_fixed and C_hull[1, 0] > X_hull.max()
softmax_inside = krbf.soft_step(X_hull, C_hull, 1.0, "softmax")
assert np.all((softmax_inside >= 0) & (softmax_inside <= 1))
print(f"X = {{0, 1}}, C = (1/2, 10): a fixed point of Lloyd's step and of the entmax-1.5 soft step at T = 1, with c_1 = 10 "
      f"outside [0, 1]; the softmax soft step moves it into the hull: {softmax_inside.ravel().round(4).tolist()}")

# %% [markdown]
# ## Verdicts

# %%
verdict("voronoi-order", sum(decoded.values()) == 0,
        f"argmax_k r_k is the nearest centre on {len(pixels)} pixels, both maps, K = {K}, T = {T}")
verdict("entmax-one-hot-threshold", one_hot_iff_band,
        f"entmax-1.5 rows one-hot exactly on the pixels with margin >= 2T ({int(np.sum(margin >= 2 * T))} of {len(pixels)})")
verdict("entmax-support", support_exact and inside_thickened and bool(strict.any()),
        f"r_k > 0 iff S_k < 4T^2 on {len(pixels)} x {K} entries; inside the thickened cell, strictly on "
        f"{int(strict.any(axis=1).sum())} pixels")
verdict("entmax-exact-below-margin", exact_below and leak_bounds_hold,
        f"entmax-1.5 = hard, L_T = F_T = J, grad = grad J bit for bit at T = m/2, m/4, m/64 (m = {m:.4f}); "
        "softmax leak within [e^(-m/T)/2, (K-1) e^(-m/T)]")
verdict("dead-centres", dead, "a centre at (9, -6) has entmax-1.5 mass 0, zero gradients of L_T and F_T, and stays put")
verdict("entmax-order-converse", not converse_fails, "d = (0, 2.25, 4), T = 1: entmax-1.5 gives (1, 0, 0)")
verdict("fixed-points-hull", not both_fixed,
        "X = {0, 1}, C = (1/2, 10): Lloyd's step and the entmax-1.5 soft step at T = 1 return C, with c_1 = 10 outside [0, 1]")
verdict("dead-centre-revival", not revives,
        "X = {0, 6}, C = (1, -2.5), T = 1: c_1 dead, then takes x = 0; step 2 gives (6, 0)")
