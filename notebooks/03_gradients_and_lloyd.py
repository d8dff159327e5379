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
# # 3. Gradients and Lloyd's algorithm
#
# Claims: `step-size`, `gradient-trajectories`, `trajectories-entmax`, `trajectories-softmax`, `ties-break-trajectories`, `tied-fixed-point-unstable`, `soft-step-descent`, `objective-descent`
#
# The paper says gradient updates of the RBF objective recover Lloyd's update, and that the
# trajectories coincide in the limit T → 0. This notebook runs Lloyd's algorithm, the soft
# step (the EM step, which is a gradient step on the free energy F_T with per-centre step
# N/(2 n_k)) and gradient descent on F_T and on L_T, and compares the trajectories: bit for
# bit equal for entmax-1.5 below half the smallest margin, within `O(e^(−m/T))` for softmax.
# Then the hypothesis that makes this work, no ties, is dropped: on X = {0, 1, 2} the soft
# step splits the tied point, lands on (1/3, 5/3) instead of Lloyd's (1/2, 2), and that tied
# fixed point is unstable, so rounding decides where the trajectory goes.
#
# Conventions: `theory/conventions.md` (Steps: ties to the lowest index, an empty cell keeps
# its centre; objectives are means, so the gradient step on F_T has step N/(2 n_k)).

# %%
import numpy as np
import matplotlib.pyplot as plt

from kmeans_rbf import plots
from kmeans_rbf import reference as krbf
from kmeans_rbf.notebooks import save_figure, verdict

rng = np.random.default_rng(3)
blob_means = np.array([[0.0, 0.0], [5.0, 0.0], [2.5, 4.0]])
X = np.concatenate([mean + 1.2 * rng.normal(size=(15, 2)) for mean in blob_means])
C0 = X[[0, 1, 2]]  # three points of the first blob: Lloyd has to move the centres far
N, K = X.shape[0], C0.shape[0]
STEPS = 12


def trajectory(step, C, steps=STEPS):
    """C_0, C_1 = step(C_0), ..., C_steps, as an array (steps + 1, K, D)."""
    states = [C]
    for _ in range(steps):
        states.append(step(states[-1]))
    return np.array(states)


def gradient_step(C, T, kind, on):
    """c_k - N/(2 n_k) grad_{c_k}, on F_T (the free energy) or L_T (the RBF objective).

    A centre without mass (n_k = 0, an entmax-1.5 dead centre) has zero gradient and stays.
    """
    n = krbf.responsibilities(X, C, T, kind).sum(axis=0)
    gradient = krbf.free_energy_gradient(X, C, T, kind) if on == "F_T" else krbf.gradient(X, C, T, kind)
    rate = np.divide(N / 2, n, out=np.zeros_like(n), where=n > 0)
    return C - rate[:, None] * gradient


lloyd = trajectory(lambda C: krbf.lloyd_step(X, C), C0)
margins = [krbf.margins(X, C).min() for C in lloyd[:-1]]
m = float(min(margins))
print(f"N = {N}, K = {K}; Lloyd moves by {np.abs(np.diff(lloyd, axis=0)).max(axis=(1, 2)).round(3)} and then stays")
print(f"smallest margin along Lloyd's trajectory m = {m:.6f} (at step {int(np.argmin(margins))})")

# %% [markdown]
# ## The soft step is a gradient step on F_T (claim `step-size`)
#
# For both maps and any T, `c_k − N/(2 n_k) ∇_{c_k} F_T` is the soft step
# `Σ_i r_ik x_i / n_k`: the trajectories of gradient descent on F_T and of the soft step
# agree to rounding.

# %%
probe_temperatures = [m / 4, m / 2, m, 4 * m]
largest = 0.0
for kind in ["softmax", "entmax15"]:
    for T in probe_temperatures:
        soft = trajectory(lambda C: krbf.soft_step(X, C, T, kind), C0)
        descent = trajectory(lambda C: gradient_step(C, T, kind, "F_T"), C0)
        largest = max(largest, float(np.abs(soft - descent).max()))
step_size_holds = largest <= 1e-12
assert step_size_holds
print(f"gradient descent on F_T with step N/(2 n_k) vs the soft step: largest difference {largest:.1e} "
      f"over {STEPS} steps, both maps, T in {np.round(probe_temperatures, 4).tolist()}")

# %% [markdown]
# ## Trajectories against Lloyd's
#
# entmax-1.5 soft steps at `T = m/2` retrace Lloyd's trajectory exactly, bit for bit (claim
# `trajectories-entmax`); a little above m/2 a row goes soft and they do not. Softmax soft
# steps stay within `A e^(−m/T)` of it, `A = diam(X) max_k (N/n_k + K − 2)`, whatever the
# number of steps (claim `trajectories-softmax`); gradient descent on `L_T`, which carries
# the term through the responsibilities, does the same with an extra factor `m/T`
# (claim `gradient-trajectories`).

# %%
entmax_at_half = trajectory(lambda C: krbf.soft_step(X, C, m / 2, "entmax15"), C0)
entmax_above = trajectory(lambda C: krbf.soft_step(X, C, 1.02 * m / 2, "entmax15"), C0)
entmax_gradient_L = trajectory(lambda C: gradient_step(C, m / 2, "entmax15", "L_T"), C0)
entmax_bit_for_bit = bool(np.array_equal(entmax_at_half, lloyd))
assert entmax_bit_for_bit
assert not np.array_equal(entmax_above, lloyd)
assert np.abs(entmax_gradient_L - lloyd).max() <= 1e-12
print(f"entmax-1.5 at T = m/2: equal to Lloyd's trajectory bit for bit: {entmax_bit_for_bit}; "
      f"at T = 1.02 m/2 it is off by {np.abs(entmax_above - lloyd).max():.2e}; "
      f"gradient descent on L_T at m/2 is within {np.abs(entmax_gradient_L - lloyd).max():.0e}")

sizes = np.bincount(krbf.assign(X, lloyd[-1]), minlength=K)
diameter = float(np.sqrt(krbf.squared_distances(X, X).max()))
A = diameter * float(np.max(N / sizes + K - 2))
sweep = np.geomspace(m / 12, 3 * m, 25)
distance = {"F_T": [], "L_T": []}
for T in sweep:
    for on in distance:
        path = trajectory(lambda C: gradient_step(C, T, "softmax", on), C0)
        distance[on].append(np.abs(path - lloyd).max())
distance = {on: np.array(values) for on, values in distance.items()}
below = sweep <= m / 2
softmax_within_bound = bool(np.all(distance["F_T"][below] <= A * np.exp(-m / sweep[below])))
assert softmax_within_bound
cold = sweep <= m / 3
rate = -np.polyfit(1 / sweep[cold], np.log(distance["F_T"][cold]), 1)[0]
assert abs(rate - m) <= 0.05 * m
ratio = distance["L_T"][cold] / distance["F_T"][cold]
assert np.all(np.diff(ratio) < 0)  # the extra factor grows as T falls (sweep is increasing)
slope_of_ratio = np.polyfit(m / sweep[cold], ratio, 1)
print(f"softmax: A = {A:.1f}; the distance to Lloyd's trajectory decays at the fitted rate {rate:.4f} (m = {m:.4f}); "
      f"gradient descent on L_T is farther by a factor {slope_of_ratio[0]:.3f} m/T {slope_of_ratio[1]:+.3f}")

# %%
figure, (plane, decay) = plt.subplots(1, 2, figsize=(15, 6.2), gridspec_kw={"width_ratios": [1, 1.15]})
T_shown = 4 * m
softmax_warm = trajectory(lambda C: krbf.soft_step(X, C, T_shown, "softmax"), C0)
plane.scatter(X[:, 0], X[:, 1], s=14, c="#888888", label="data")
for k in range(K):
    plane.plot(lloyd[:, k, 0], lloyd[:, k, 1], "-", color="black", linewidth=2.5, label="Lloyd" if k == 0 else None)
    plane.plot(entmax_at_half[:, k, 0], entmax_at_half[:, k, 1], "o", color=plots.KIND_COLOURS["entmax15"],
               markersize=9, markerfacecolor="none", markeredgewidth=1.5,
               label="entmax-1.5 soft steps, T = m/2 (on Lloyd's)" if k == 0 else None)
    plane.plot(softmax_warm[:, k, 0], softmax_warm[:, k, 1], "s--", color=plots.KIND_COLOURS["softmax"], markersize=4,
               label=f"softmax soft steps, T = 4m = {T_shown:.2f}" if k == 0 else None)
    plane.annotate("start", lloyd[0, k], xytext=(-30, -14), textcoords="offset points", fontsize=9)
plane.set_xlabel("$x_1$ (data units)"), plane.set_ylabel("$x_2$ (data units)")
plane.set_title("Trajectories of the three centres: entmax-1.5 at T = m/2 retraces Lloyd's")
plane.legend(loc="upper left", fontsize=9, framealpha=0.95)
plane.set_aspect("equal")

decay.semilogy(sweep / m, distance["F_T"], "o-", color=plots.KIND_COLOURS["softmax"],
               label="softmax: soft steps = gradient descent on $F_T$")
decay.semilogy(sweep / m, distance["L_T"], "^-", color="#17becf", label="softmax: gradient descent on $L_T$")
decay.semilogy(sweep / m, A * np.exp(-m / sweep), "k--", label=f"bound $A e^{{-m/T}}$, A = {A:.0f}")
decay.semilogy(sweep / m, distance["F_T"][0] * np.exp(-m / sweep + m / sweep[0]), ":", color="black",
               label="$\\propto e^{-m/T}$ through the coldest point")
decay.axvline(0.5, color=plots.KIND_COLOURS["entmax15"], linestyle=":", linewidth=2,
              label="entmax-1.5: distance exactly 0 for T ≤ m/2")
decay.set_xscale("log")
decay.set_xlabel("temperature T / m (m = smallest margin along Lloyd's trajectory)")
decay.set_ylabel(f"largest distance to Lloyd's trajectory over {STEPS} steps (data units)")
decay.set_title("Distance to Lloyd's trajectory: $O(e^{-m/T})$ for softmax, 0 for entmax-1.5")
decay.legend(loc="lower right", fontsize=9)
decay.grid(True, alpha=0.3)
figure.tight_layout()
save_figure(figure, "03_trajectories_against_lloyd",
            "Soft-step and gradient-descent trajectories against Lloyd's: entmax-1.5 identical at T = m/2, softmax "
            "within A exp(-m/T)", key=True)

# %% [markdown]
# ## A tie breaks it (claims `ties-break-trajectories`, `tied-fixed-point-unstable`)
#
# X = {0, 1, 2}, C = (0, 2): the point x = 1 is equidistant from both centres. Lloyd's step
# gives it to the lowest index, `(1/2, 2)`; the soft step splits it, `(1/3, 5/3)` for
# entmax-1.5 at every T ≤ 2, and for softmax `c_0 = 1/3 + (4/3) ε/(1 + ε)`, `ε = e^(−4/T)`,
# which tends to 1/3, never to 1/2.

# %%
X_tie, C_tie = np.array([[0.0], [1.0], [2.0]]), np.array([[0.0], [2.0]])
lloyd_tie = krbf.lloyd_step(X_tie, C_tie).ravel()
assert np.array_equal(lloyd_tie, [0.5, 2.0])
tie_temperatures = np.geomspace(1e-3, 2.0, 40)
entmax_tie = np.array([krbf.soft_step(X_tie, C_tie, T, "entmax15").ravel() for T in tie_temperatures])
softmax_tie = np.array([krbf.soft_step(X_tie, C_tie, T, "softmax").ravel() for T in tie_temperatures])
eps = np.exp(-4 / tie_temperatures)
softmax_formula = np.c_[1 / 3 + 4 / 3 * eps / (1 + eps), 5 / 3 - 4 / 3 * eps / (1 + eps)]
assert np.abs(entmax_tie - [1 / 3, 5 / 3]).max() <= 4e-16
assert np.abs(softmax_tie - softmax_formula).max() <= 1e-15
tie_never_approaches = bool(np.all(np.abs(np.r_[entmax_tie[:, 1], softmax_tie[:, 1]] - 2) >= 1 / 3 - 1e-15))
assert tie_never_approaches
print(f"Lloyd: {lloyd_tie}; entmax-1.5 soft step at every T in [1e-3, 2]: (1/3, 5/3) to {np.abs(entmax_tie - [1/3, 5/3]).max():.0e}; "
      f"softmax matches 1/3 + (4/3) eps/(1 + eps) to 1e-15")

# %% [markdown]
# The tied point (1/3, 5/3) is a fixed point of the soft step, but an unstable one for
# `T < 8√2/27 ≈ 0.419` (entmax-1.5) or `8/27 ≈ 0.296` (softmax): with
# `w = (d_1 − d_0)/(2T)` at x = 1, a step multiplies w by `λ(T) = 8√2/(27T)` (entmax-1.5).
# In floating point the first step leaves a rounding error in w, the instability amplifies
# it, and once `|w| ≥ 1` the tied row is one-hot and the state is a Lloyd fixed point:
# `(1/2, 2)` if w > 0, its mirror `(0, 3/2)` if w < 0. Which one is decided by the sign of
# a rounding error.

# %%
def tie_run(T, kind, steps=40):
    states = trajectory(lambda C: krbf.soft_step(X_tie, C, T, kind), C_tie, steps)
    d = np.array([krbf.squared_distances(X_tie[1:2], S)[0] for S in states])
    return states[:, :, 0], (d[:, 1] - d[:, 0]) / (2 * T)


runs = {(T, kind): tie_run(T, kind) for T, kind in [(1e-3, "entmax15"), (0.1, "entmax15"), (0.5, "entmax15"),
                                                      (1e-3, "softmax"), (0.1, "softmax")]}
growth = {}
for (T, kind), (states, w) in runs.items():
    # Ratios of consecutive w where both are well above rounding and below the nonlinear regime.
    linear = (np.abs(w[:-1]) > 1e-13) & (np.abs(w[1:]) < 1e-3)
    if linear.sum() >= 2:
        growth[(T, kind)] = float(np.median(w[1:][linear] / w[:-1][linear]))
lam = {kind: (8 * np.sqrt(2) if kind == "entmax15" else 8) / 27 for kind in ["entmax15", "softmax"]}
for (T, kind), value in growth.items():
    print(f"{kind:<9} T = {T:<6g} measured growth of w per step {value:9.3f}, predicted lambda = {lam[kind] / T:9.3f}")
states, w = runs[(1e-3, "entmax15")]
lloyd_from = int(np.flatnonzero(np.all(states == [0.5, 2.0], axis=1))[0])
unstable_as_recorded = (
    abs(growth[(1e-3, "entmax15")] / (lam["entmax15"] / 1e-3) - 1) < 1e-4
    and abs(growth[(0.1, "entmax15")] / (lam["entmax15"] / 0.1) - 1) < 0.02
    and abs(growth[(0.1, "softmax")] / (lam["softmax"] / 0.1) - 1) < 0.02
    and lloyd_from == 7 and np.all(states[lloyd_from:] == [0.5, 2.0])  # "from the 7th step the state is Lloyd's"
    and np.array_equal(runs[(0.1, "entmax15")][0][-1], [0.5, 2.0])
    and np.all(runs[(1e-3, "softmax")][1] == 0.0)  # exactly symmetric: never leaves (1/3, 5/3)
    and np.abs(runs[(0.1, "softmax")][0][-1] - [0.0, 1.5]).max() < 1e-3  # drifts to the mirror
    and np.abs(runs[(0.5, "entmax15")][1]).max() < 1e-15  # stable above 8 sqrt(2)/27
)
assert unstable_as_recorded
print(f"entmax-1.5, T = 1e-3: the state is Lloyd's (1/2, 2) exactly from step {lloyd_from} on; "
      f"T = 0.1 ends on {runs[(0.1, 'entmax15')][0][-1]}; softmax T = 0.1 ends on {runs[(0.1, 'softmax')][0][-1].round(5)}")

# %%
figure, (steps_axis, growth_axis) = plt.subplots(1, 2, figsize=(16, 5.5), gridspec_kw={"width_ratios": [1, 1.1]})
steps_axis.semilogx(tie_temperatures, softmax_tie[:, 0], color=plots.KIND_COLOURS["softmax"], linewidth=2, label="softmax soft step")
steps_axis.semilogx(tie_temperatures, entmax_tie[:, 0], color=plots.KIND_COLOURS["entmax15"], linewidth=2, linestyle="--",
                    label="entmax-1.5 soft step (1/3 for every T ≤ 2)")
steps_axis.axhline(0.5, color="black", linewidth=2, label="Lloyd's step, tie to $c_0$ (1/2)")
steps_axis.set_xlabel("temperature T")
steps_axis.set_ylabel("new position of $c_0$ after one step")
steps_axis.set_title("X = {0, 1, 2}, C = (0, 2), one step:\nthe soft step tends to 1/3, Lloyd's gives 1/2")
steps_axis.legend(loc="upper left", fontsize=9)
steps_axis.set_ylim(0.3, 0.55)
styles = {(1e-3, "entmax15"): "-", (0.1, "entmax15"): "-", (0.5, "entmax15"): "-", (1e-3, "softmax"): "--", (0.1, "softmax"): "--"}
colours = {(1e-3, "entmax15"): "#d62728", (0.1, "entmax15"): "#ff9896", (0.5, "entmax15"): "#8c564b",
           (1e-3, "softmax"): "#1f77b4", (0.1, "softmax"): "#aec7e8"}
for key, (states, w) in runs.items():
    T, kind = key
    shown = np.where(np.abs(w) > 0, np.abs(w), np.nan)
    label = f"{plots.KIND_LABELS[kind]}, T = {T:g}"
    if key == (1e-3, "softmax"):
        label += " (w = 0 exactly: off the axis)"
    if key == (0.5, "entmax15"):
        label += f" (λ = {lam['entmax15'] / T:.2f} < 1: stable)"
    growth_axis.semilogy(np.arange(len(w)), shown, styles[key], color=colours[key], linewidth=2, marker=".", label=label)
growth_axis.axhline(1.0, color="grey", linestyle=":", label="|w| = 1: the tie is decided")
growth_axis.set_ylim(1e-17, 1e4)
growth_axis.set_xlabel("soft step t")
growth_axis.set_ylabel("$|w| = |d_1 - d_0| / (2T)$ at x = 1 (dimensionless)")
growth_axis.set_title("The tied fixed point (1/3, 5/3) is unstable:\nrounding errors grow by λ = 8√2/(27T) per step (entmax-1.5)")
growth_axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
growth_axis.grid(True, alpha=0.3)
figure.tight_layout()
save_figure(figure, "03_the_tie", "The tie X = {0, 1, 2}, C = (0, 2): one step against T, and the growth of the "
            "rounding error at the unstable tied fixed point", key=True)

# %% [markdown]
# ## Descent: F_T yes, L_T no (claims `soft-step-descent`, `objective-descent`)
#
# The soft step descends the free energy F_T, never the RBF objective `L_T = F_T + T H(r)`
# in general: on X = {−1, 1}, C = (−3/2, 3/2), T = 3, entmax-1.5, the soft step is Lloyd's
# step (−1, 1) and raises L_T from 1/4 to `(18 − 4√14)/9`.

# %%
X_d, C_d, T_d = np.array([[-1.0], [1.0]]), np.array([[-1.5], [1.5]]), 3.0
after = krbf.soft_step(X_d, C_d, T_d, "entmax15")
L_before, L_after = krbf.objective(X_d, C_d, T_d, "entmax15"), krbf.objective(X_d, after, T_d, "entmax15")
F_before, F_after = krbf.free_energy(X_d, C_d, T_d, "entmax15"), krbf.free_energy(X_d, after, T_d, "entmax15")
assert np.array_equal(after.ravel(), [-1.0, 1.0])
assert abs(L_before - 0.25) < 1e-15 and abs(L_after - (18 - 4 * np.sqrt(14)) / 9) < 1e-15
objective_increases = L_after > L_before
assert objective_increases and F_after < F_before
free_energy_descends = True
for kind in ["softmax", "entmax15"]:
    for T in probe_temperatures:
        path = trajectory(lambda C: krbf.soft_step(X, C, T, kind), C0)
        values = [krbf.free_energy(X, C, T, kind) for C in path]
        free_energy_descends &= bool(np.all(np.diff(values) <= 1e-12))
assert free_energy_descends
print(f"L_T: {L_before:.5f} -> {L_after:.5f} (up); F_T: {F_before:.5f} -> {F_after:.5f} (down); "
      f"and F_T never rose along the {2 * len(probe_temperatures)} soft-step trajectories above")

# %% [markdown]
# ## Verdicts

# %%
verdict("step-size", step_size_holds,
        f"gradient descent on F_T with step N/(2 n_k) = soft steps to {largest:.0e}, {STEPS} steps, both maps, 4 temperatures")
verdict("trajectories-entmax", entmax_bit_for_bit,
        f"entmax-1.5 soft steps at T = m/2 = {m / 2:.4f} equal Lloyd's {STEPS}-step trajectory bit for bit")
verdict("trajectories-softmax", softmax_within_bound and abs(rate - m) <= 0.05 * m,
        f"softmax distance to Lloyd's trajectory <= A e^(-m/T) for T <= m/2, decaying at the fitted rate {rate:.4f} (m = {m:.4f})")
verdict("gradient-trajectories", step_size_holds and bool(np.all(np.diff(ratio) < 0)),
        f"on F_T: the soft-step trajectory; on L_T: farther by {slope_of_ratio[0]:.3f} m/T {slope_of_ratio[1]:+.3f}; "
        "entmax-1.5 on L_T at m/2: Lloyd's to 1e-12")
verdict("ties-break-trajectories", tie_never_approaches,
        "X = {0, 1, 2}, C = (0, 2): soft steps (1/3, 5/3) (entmax-1.5) or 1/3 + (4/3) eps/(1 + eps) (softmax) "
        "at every T in [1e-3, 2]; Lloyd (1/2, 2)")
verdict("tied-fixed-point-unstable", unstable_as_recorded,
        f"growth per step {growth[(1e-3, 'entmax15')]:.2f} at T = 1e-3 (lambda = {lam['entmax15'] / 1e-3:.2f}); "
        f"Lloyd's (1/2, 2) from step {lloyd_from}; softmax T = 0.1 drifts to the mirror (0, 3/2)")
verdict("soft-step-descent", free_energy_descends and F_after < F_before,
        f"F_T never increased along {2 * len(probe_temperatures)} soft-step trajectories, and fell on the L_T counterexample")
verdict("objective-descent", not objective_increases,
        f"X = {{-1, 1}}, C = (-3/2, 3/2), T = 3, entmax-1.5: L_T rises from 1/4 to (18 - 4 sqrt 14)/9 = {L_after:.5f}")
