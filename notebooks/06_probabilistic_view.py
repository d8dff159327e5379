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
# # 6. The probabilistic view: truncated EM, soft k-means as EM, deterministic annealing
#
# Claims: `truncated-em-hard-is-lloyd`, `truncated-free-energy-hard`, `truncated-free-energy-monotone`, `truncated-free-energy-below-likelihood`, `truncated-em-full-is-em`, `soft-kmeans-is-em`, `annealing-fixed-point`, `annealing-critical-temperature`, `annealing-global-minimum`
#
# Lücke & Forster read k-means as truncated variational EM of an isotropic Gaussian mixture
# with equal priors and one shared variance σ²: the E-step keeps each point's C′ nearest
# means. This notebook runs truncated EM for C′ = 1 (Lloyd) to K (full EM) and draws the
# truncated free energies, checks that soft k-means at temperature T is EM with the variance
# held at T/2, and follows deterministic annealing from the data mean: its first phase
# transition at `T_c = 2 λ_max` (found numerically from the soft step's Jacobian), and a
# dataset where the mean stops being the global minimum of F_T *above* T_c.
#
# Conventions: `theory/conventions.md` (Probabilistic view: `T = 2σ²`, free energies are means
# per point, the covariance is normalised by N).

# %%
import numpy as np
import scipy.optimize
import scipy.special
import torch
import matplotlib.pyplot as plt

from kmeans_rbf import plots, probabilistic
from kmeans_rbf import reference as krbf
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.notebooks import save_figure, verdict

rng = np.random.default_rng(6)
X = np.concatenate([mean + 0.7 * rng.normal(size=(25, 2)) for mean in [[0.0, 0.0], [4.0, 0.0], [2.0, 3.5], [5.0, 4.0]]])
N, D = X.shape
K = 4
means0 = X[rng.choice(N, K, replace=False)]
variance0 = 4.0
ITERATIONS = 30

# %% [markdown]
# ## Truncated EM for C′ = 1, ..., K
#
# Each run starts from the same means and variance. Truncated EM never decreases its free
# energy (claim `truncated-free-energy-monotone`); with C′ = 1 each step moves the means
# exactly as Lloyd's step does, at any variance (claim `truncated-em-hard-is-lloyd`); with
# C′ = K it is the EM step of the mixture (claim `truncated-em-full-is-em`, checked against an
# EM step written here from scipy's softmax).

# %%
runs = {n: probabilistic.fit(X, means0, variance0, n, ITERATIONS) for n in range(1, K + 1)}
monotone = all(bool(np.all(np.diff(F) >= -1e-12)) for _, _, F in runs.values())
assert monotone
for n, (means, variance, F) in runs.items():
    print(f"C' = {n}: free energy {F[0]:.4f} -> {F[-1]:.4f}, final variance {variance:.4f}")

hard_is_lloyd = all(
    np.array_equal(probabilistic.truncated_em_step(X, C, s, 1)[0], krbf.lloyd_step(X, C))
    for C in [means0, runs[2][0], X[:K] + 0.1] for s in [1e-3, 0.5, 4.0, 100.0])
assert hard_is_lloyd


def em_step(X, means, variance):
    """The EM step of the isotropic mixture with equal priors, written out independently."""
    d = np.sum((X[:, None, :] - means[None, :, :]) ** 2, axis=2)
    r = scipy.special.softmax(-d / (2 * variance), axis=1)
    new_means = (r.T @ X) / r.sum(axis=0)[:, None]
    new_variance = float(np.sum(r * np.sum((X[:, None, :] - new_means[None, :, :]) ** 2, axis=2))) / (N * D)
    return new_means, new_variance


full_is_em = True
for C, s in [(means0, variance0), (runs[K][0], runs[K][1]), (means0, 0.3)]:
    ours, reference_step = probabilistic.truncated_em_step(X, C, s, K), em_step(X, C, s)
    full_is_em &= bool(np.allclose(ours[0], reference_step[0], rtol=0, atol=1e-12) and abs(ours[1] - reference_step[1]) < 1e-12)
assert full_is_em
print("C' = 1 moves the means exactly as Lloyd's step (4 variances, 3 configurations); C' = K is the EM step to 1e-12")

# %% [markdown]
# At any parameters, `F_1 ≤ F_2 ≤ … ≤ F_K` = the mean log-likelihood (claim
# `truncated-free-energy-below-likelihood`); and for C′ = 1 at `σ² = J/D`,
# `F_1 = −log K − (D/2) log(2πeσ²)` (claim `truncated-free-energy-hard`).

# %%
nested = True
for means, variance, _ in runs.values():
    values = [probabilistic.truncated_free_energy(X, means, variance, n) for n in range(1, K + 1)]
    nested &= bool(np.all(np.diff(values) >= -1e-12)
                   and abs(values[-1] - probabilistic.log_likelihood(X, means, variance)) < 1e-12)
assert nested
hard_identity = True
for means in [means0, runs[1][0], runs[K][0]]:
    s_star = krbf.objective(X, means) / D
    closed_form = -np.log(K) - D / 2 * np.log(2 * np.pi * np.e * s_star)
    hard_identity &= abs(probabilistic.truncated_free_energy(X, means, s_star, 1) - closed_form) < 1e-12
assert hard_identity
print("F_1 <= ... <= F_K = log-likelihood at the end of every run; F_1(sigma^2 = J/D) = -log K - (D/2) log(2 pi e sigma^2)")

# %% [markdown]
# ## Soft k-means is EM at variance T/2 (claim `soft-kmeans-is-em`)
#
# The mixture's posterior at `σ² = T/2` is `softmax(−d/T)`, its M-step for the means is the
# soft step, and the mean log-likelihood is `−log K − (D/2) log(πT) − F_T/T`: iterating the soft
# step at fixed T ascends the log-likelihood exactly as it descends F_T.

# %%
T = 1.5
states = [means0]
for _ in range(ITERATIONS):
    states.append(krbf.soft_step(X, states[-1], T, "softmax"))
likelihood = np.array([probabilistic.log_likelihood(X, C, T / 2) for C in states])
from_free_energy = np.array([-np.log(K) - D / 2 * np.log(np.pi * T) - krbf.free_energy(X, C, T, "softmax") / T for C in states])
soft_is_em = bool(
    np.abs(likelihood - from_free_energy).max() < 1e-12
    and all(np.allclose(probabilistic.truncated_posterior(X, C, T / 2, K), krbf.responsibilities(X, C, T, "softmax"),
                        rtol=0, atol=1e-15) for C in states[:5])
    and all(np.allclose(probabilistic.truncated_em_step(X, C, T / 2, K)[0], krbf.soft_step(X, C, T, "softmax"),
                        rtol=0, atol=1e-12) for C in states[:5])
    and np.all(np.diff(likelihood) >= -1e-12))
assert soft_is_em
print(f"soft k-means at T = {T}: log-likelihood at variance T/2 = -log K - (D/2) log(pi T) - F_T/T to "
      f"{np.abs(likelihood - from_free_energy).max():.1e}, rising from {likelihood[0]:.4f} to {likelihood[-1]:.4f}")

# %%
figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.2))
for n, (_, _, F) in runs.items():
    left.plot(range(ITERATIONS + 1), F, marker=".", linewidth=2, label=f"C' = {n}" + (" (Lloyd)" if n == 1 else " (full EM)" if n == K else ""))
left.set_xlabel("EM iteration")
left.set_ylabel("truncated free energy $F_{C'}$ (nats per point)")
left.set_title("Truncated EM never decreases its free energy, for every C'")
left.legend(loc="lower right")
left.grid(True, alpha=0.3)
right.plot(range(ITERATIONS + 1), likelihood, color=plots.KIND_COLOURS["softmax"], linewidth=2.5,
           label="mean log-likelihood at $\\sigma^2 = T/2$")
right.plot(range(ITERATIONS + 1), from_free_energy, "o", color="black", markersize=4,
           label="$-\\log K - (D/2)\\log(\\pi T) - F_T / T$")
right.set_xlabel("soft k-means iteration (soft step at fixed T)")
right.set_ylabel("nats per point")
right.set_title(f"Soft k-means at T = {T} is EM with the variance held at T/2")
right.legend(loc="lower right")
right.grid(True, alpha=0.3)
figure.tight_layout()
save_figure(figure, "06_truncated_em", "Truncated free energies along truncated EM for C' = 1..4, and soft k-means as EM at "
            "variance T/2: its log-likelihood equals the transformed free energy at every iteration", key=True)

# %% [markdown]
# ## Deterministic annealing and T_c = 2 λ_max (claims `annealing-fixed-point`, `annealing-critical-temperature`)
#
# All centres at the data mean is a fixed point of the softmax soft step at every T. The
# soft step's Jacobian there has eigenvalues `2 λ_j / T` (λ_j those of the covariance of X,
# normalised by N), so the mean attracts above `T_c = 2 λ_max` and repels below it. The
# numerical T_c is where the spectral radius of the autograd Jacobian crosses 1. The
# annealing path starts at the mean; since equal centres never split (claim
# `anneal-coincident-centres`), each temperature starts from a fresh perturbation of size
# 1e-6 (data units), as deterministic annealing does.

# %%
X_da = np.concatenate([mean + 0.6 * rng.normal(size=(15, 2)) for mean in [[0.0, 0.0], [7.0, 1.0], [3.5, 3.0]]])
K_da = 3
T_c = probabilistic.critical_temperature(X_da)
M = np.tile(X_da.mean(axis=0), (K_da, 1))


def growth(X, C, T):
    """Spectral radius of the Jacobian of the softmax soft step at C (torch autograd, float64)."""
    data = torch.tensor(X)
    J = torch.autograd.functional.jacobian(lambda c: krbf_torch.soft_step(data, c, T, "softmax"), torch.tensor(C))
    return float(np.abs(np.linalg.eigvals(J.reshape(C.size, C.size).numpy())).max())


fixed_point = all(np.abs(krbf.soft_step(X_da, M, t, "softmax") - M).max() <= 1e-14 * np.abs(M).max()
                  for t in T_c * np.array([0.01, 0.5, 1.0, 2.0, 100.0]))
assert fixed_point
numeric_T_c = scipy.optimize.brentq(lambda t: growth(X_da, M, t) - 1.0, 0.5 * T_c, 2 * T_c, rtol=4 * np.finfo(float).eps)
critical_matches = abs(numeric_T_c - T_c) <= 1e-9 * T_c
assert critical_matches
print(f"T_c = 2 lambda_max = {T_c:.10f}; numerically (spectral radius of the Jacobian = 1): {numeric_T_c:.10f} "
      f"(relative difference {(numeric_T_c - T_c) / T_c:.1e})")

schedule = 2 * T_c * 0.97 ** np.arange(110)
R = np.sqrt(np.trace(np.cov(X_da.T, bias=True)))
C = M.copy()
ends = []
for t in schedule:
    C = C + 1e-6 * R * rng.normal(size=C.shape)
    C = krbf.anneal(X_da, C, [t], "softmax", steps_per_temperature=30)[-1]
    ends.append(C)
ends = np.array(ends)
spread = np.abs(ends - M).max(axis=(1, 2))
stays_above = bool(np.all(spread[schedule > T_c] <= 1e-3 * R))
first_split = float(schedule[np.argmax(spread > 0.05 * R)])
assert stays_above and 0.8 * T_c <= first_split < T_c
print(f"annealing path: within 1e-3 R of the mean at every T > T_c; the centres visibly split at T = {first_split / T_c:.3f} T_c "
      "(it lags: the growth 2 lambda_max / T is barely above 1 just below T_c)")

# %%
direction = np.linalg.eigh(np.cov(X_da.T, bias=True))[1][:, -1]
projection = np.sort((ends - X_da.mean(axis=0)) @ direction, axis=1)
ratios = np.geomspace(0.3, 3, 40)
radius = np.array([growth(X_da, M, r * T_c) for r in ratios])
assert np.allclose(radius, 1 / ratios, rtol=1e-9)

figure, (path_axis, growth_axis) = plt.subplots(1, 2, figsize=(14, 5.2))
for k in range(K_da):
    path_axis.semilogx(schedule / T_c, projection[:, k], ".-", color=plots.CENTRE_COLOURS[k], linewidth=1.5, markersize=4)
path_axis.axvline(1.0, color="black", linestyle="--", label="$T_c = 2\\lambda_{max}$")
path_axis.axvline(first_split / T_c, color="grey", linestyle=":", label=f"visible split, {first_split / T_c:.3f} $T_c$")
path_axis.invert_xaxis()
path_axis.set_xticks([2, 1, 0.5, 0.2, 0.1], ["2", "1", "0.5", "0.2", "0.1"])
path_axis.set_xlabel("temperature $T / T_c$ (decreasing to the right)")
path_axis.set_ylabel("centres along the top principal direction (data units)")
path_axis.set_title("Annealing from the mean: the centres split just below $T_c$, then again")
path_axis.legend(loc="upper left")
path_axis.grid(True, alpha=0.3)
growth_axis.loglog(ratios, radius, "o", color=plots.KIND_COLOURS["softmax"], markersize=5,
                   label="spectral radius of the soft step's Jacobian at the mean (autograd)")
growth_axis.loglog(ratios, 1 / ratios, color="black", linewidth=1, label="$2\\lambda_{max} / T$")
growth_axis.axhline(1.0, color="grey", linestyle=":")
growth_axis.axvline(numeric_T_c / T_c, color="black", linestyle="--", label=f"numerical $T_c$ = {numeric_T_c:.4f} = $2\\lambda_{{max}}$")
growth_axis.set_xlabel("temperature $T / T_c$")
growth_axis.set_ylabel("growth factor per soft step (dimensionless)")
growth_axis.set_title("The mean attracts above $T_c$ and repels below it")
growth_axis.legend(loc="upper right", fontsize=9)
growth_axis.set_xticks([0.3, 0.5, 1, 2, 3], ["0.3", "0.5", "1", "2", "3"])
growth_axis.set_yticks([0.35, 0.5, 1, 2, 3], ["0.35", "0.5", "1", "2", "3"])
growth_axis.minorticks_off()
growth_axis.grid(True, alpha=0.3)
figure.tight_layout()
save_figure(figure, "06_annealing_phase_transition", "An annealing path from the data mean (centres on the top principal "
            "direction against T/T_c), and the growth factor of the soft step at the mean crossing 1 at T_c = 2 lambda_max",
            key=True)

# %% [markdown]
# ## Above T_c the mean is not always the global minimum (claim `annealing-global-minimum`)
#
# Nine points at 0 and one at 1, K = 3, `T_c = 0.18`. Soft steps from (0, 0, 1) settle on a
# stationary point of F_T; above T_c it is still below `F_T(mean)` up to `T = 1.0618 T_c`: the
# global minimum leaves the mean at a first-order transition above T_c, which the local
# analysis cannot see (the mean is still a strict local minimum there).

# %%
X_9 = np.array([[0.0]] * 9 + [[1.0]])
T_c9 = probabilistic.critical_temperature(X_9)
M_9 = np.full((3, 1), X_9.mean())


def split_branch(t):
    return krbf.anneal(X_9, np.array([[0.0], [0.0], [1.0]]), [t], "softmax", steps_per_temperature=400)[-1]


def advantage(ratio):
    """F_T(mean) - F_T(split branch) at T = ratio * T_c: positive where the mean is not the global minimum."""
    t = ratio * T_c9
    return krbf.free_energy(X_9, M_9, t) - krbf.free_energy(X_9, split_branch(t), t)


crossing = scipy.optimize.brentq(advantage, 1.0, 1.2, xtol=1e-7)
mean_not_global = advantage(1.01) > 0
still_local_minimum = growth(X_9, M_9, 1.01 * T_c9) < 1
assert abs(T_c9 - 0.18) < 1e-15 and mean_not_global and still_local_minimum and abs(crossing - 1.0618) < 5e-4
print(f"T_c = {T_c9:.2f}; at 1.01 T_c the mean still attracts (growth {growth(X_9, M_9, 1.01 * T_c9):.4f}) but "
      f"F_T(mean) - F_T(split) = {advantage(1.01):.4f} > 0; "
      f"the split branch stays below the mean up to T = {crossing:.4f} T_c")

grid_ratios = np.linspace(0.9, 1.2, 31)
figure, axis = plt.subplots(figsize=(9, 5))
axis.plot(grid_ratios, [advantage(r) for r in grid_ratios], "o-", color=plots.KIND_COLOURS["softmax"], linewidth=2,
          label="$F_T$(mean) − $F_T$(split branch from (0, 0, 1))")
axis.axhline(0, color="grey", linewidth=1)
axis.axvline(1.0, color="black", linestyle="--", label="$T_c = 2\\lambda_{max}$ = 0.18")
axis.axvline(crossing, color=plots.KIND_COLOURS["entmax15"], linestyle=":", label=f"crossing at {crossing:.4f} $T_c$")
axis.set_xlabel("temperature $T / T_c$")
axis.set_ylabel("free-energy difference (squared data units)")
axis.set_title("Nine points at 0, one at 1, K = 3: above $T_c$ the mean is not the global minimum of $F_T$")
axis.legend(loc="upper right", fontsize=9)
axis.grid(True, alpha=0.3)
figure.tight_layout()
save_figure(figure, "06_mean_not_global_above_tc", "F_T(mean) - F_T(split branch) against T/T_c on nine points at 0 and "
            "one at 1 (K = 3): positive up to 1.0618 T_c")

# %% [markdown]
# ## Verdicts

# %%
verdict("truncated-em-hard-is-lloyd", hard_is_lloyd, "C' = 1 step = Lloyd's step exactly, variances 1e-3 to 100, 3 configurations")
verdict("truncated-free-energy-hard", hard_identity, "F_1 at sigma^2 = J/D = -log K - (D/2) log(2 pi e sigma^2) to 1e-12 at 3 configurations")
verdict("truncated-free-energy-monotone", monotone, f"{K} truncated EM runs of {ITERATIONS} iterations: the free energy never decreased")
verdict("truncated-free-energy-below-likelihood", nested, "F_1 <= F_2 <= F_3 <= F_4 = log-likelihood at the end of each run")
verdict("truncated-em-full-is-em", full_is_em, "C' = K step = an EM step written from scipy's softmax, to 1e-12")
verdict("soft-kmeans-is-em", soft_is_em, f"T = {T}: posterior, M-step and log-likelihood of the mixture at sigma^2 = T/2 match "
        "softmax responsibilities, soft step and -log K - (D/2) log(pi T) - F_T/T")
verdict("annealing-fixed-point", fixed_point, "soft step at the all-at-mean configuration returns it, T from 0.01 to 100 T_c")
verdict("annealing-critical-temperature", critical_matches and stays_above,
        f"numerical T_c {numeric_T_c:.10f} = 2 lambda_max {T_c:.10f}; growth 2 lambda_max / T at 40 temperatures; "
        "the annealing path leaves the mean only below T_c")
verdict("annealing-global-minimum", not mean_not_global,
        f"nine points at 0 and one at 1, K = 3: F_T(mean) > F_T(split) at 1.01 T_c, up to {crossing:.4f} T_c")
