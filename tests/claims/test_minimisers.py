"""Claim minimisers-compact: minimisers of L_T and F_T on a compact set converge to those of J.

Claim (theory/convergence.md; proofs in proofs/proof_convergence.py): on S = conv(X)^K,
every minimiser C_T of L_T (F_T) is a c T-minimiser of J, c = c_K (H_max); once c T is
below the gap Delta between the best and the second-best partition, C_T has the optimal
partition and |c_{T,k} - c*_k|^2 <= N c T / n_k (Huygens). For entmax-1.5, below the exact
temperature of an optimum C*, L_T(C*) = J* and C* itself minimises L_T.

On tiny 1-D datasets whose optimum is found by enumeration, each implementation's minimiser
is found by a grid search and L-BFGS-B on its own values and gradients. Constants:
``kmeans_rbf.bounds``. Tolerances: the float64 rounding of J, L_T and F_T,
``support.objectives_rounding`` (``kmeans_rbf.tolerances.error_bounds``).
"""

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

import variants
from kmeans_rbf import reference
from kmeans_rbf.bounds import entmax_exact_temperatures, entropy_maximum, sharp_constant
from kmeans_rbf.kinds import SOFT_KINDS
from support import assert_bites, objectives_rounding

# Tiny 1-D datasets with a unique k-means optimum (hand-checked: C* and the gap Delta between
# the best and second-best partitions; the test recomputes both by enumeration).
TINY = {
    "five-points-K2": (np.array([0.0, 0.4, 1.0, 3.0, 3.5]), 2),
    "six-points-K3": (np.array([0.0, 0.5, 2.0, 2.3, 4.5, 5.0]), 3),
}
_TEMPERATURES = (0.2, 0.05, 0.0125)


def k_means_optimum(x, K):
    """(J*, Delta, C* sorted, cell sizes) by enumerating all K^N labelled assignments."""
    cost = {}
    for labels in itertools.product(range(K), repeat=len(x)):
        labels = np.array(labels)
        cells = [np.flatnonzero(labels == k) for k in range(K) if np.any(labels == k)]
        W = sum(float(np.sum((x[c] - x[c].mean()) ** 2)) for c in cells) / len(x)
        key = frozenset(frozenset(c.tolist()) for c in cells)
        cost[key] = min(cost.get(key, np.inf), W)
    ranked = sorted(cost.items(), key=lambda item: item[1])
    (best, J_star), (_, second) = ranked[0], ranked[1]
    cells = sorted((np.array(sorted(c)) for c in best), key=lambda c: x[c].mean())
    return J_star, second - J_star, np.array([x[c].mean() for c in cells]), np.array([len(c) for c in cells])


def _grid_values(x, grid, T, kind, which):
    """L_T or F_T (the reference's) at every row of grid (G, K) for 1-D data x, vectorised."""
    d = (x[None, :, None] - grid[:, None, :]) ** 2  # (G, N, K)
    r = reference._responsibilities(d.reshape(-1, d.shape[2]), T, kind).reshape(d.shape)
    terms = np.sum(r * d, axis=2)
    if which == "free_energy":
        terms -= T * (reference._shannon_entropy(r) if kind == "softmax" else reference._tsallis15_entropy(r))
    return terms.mean(axis=1)


_MINIMISERS = {}


def _minimise(implementation, x, K, T, kind, which, C_star):
    """``_minimise_once``, remembered per (implementation, problem): two tests use each one."""
    key = (id(implementation), x.tobytes(), K, T, kind, which)
    if key not in _MINIMISERS:
        _MINIMISERS[key] = (implementation, _minimise_once(implementation, x, K, T, kind, which, C_star))
    return _MINIMISERS[key][1]


def _minimise_once(implementation, x, K, T, kind, which, C_star):
    """A global minimiser of L_T or F_T over the hull [min x, max x]^K.

    A grid over sorted configurations (the objectives are symmetric in the centres) finds
    the basin; L-BFGS-B on the implementation's own value and gradient refines it, started
    from the best grid point and from C*; the better of the two is returned.
    """
    X = x[:, None]
    axis = np.linspace(x.min(), x.max(), 121 if K == 2 else 41)
    grid = np.array([c for c in itertools.combinations_with_replacement(axis, K)])
    start = grid[np.argmin(_grid_values(x, grid, T, kind, which))]
    value = implementation.objective if which == "objective" else implementation.free_energy
    slope = implementation.gradient if which == "objective" else implementation.free_energy_gradient
    best = None
    for initial in (start, C_star):
        result = minimize(
            lambda c: float(value(X, c[:, None], T, kind)),
            np.asarray(initial, dtype=np.float64),
            jac=lambda c: np.asarray(slope(X, c[:, None], T, kind)).ravel(),
            method="L-BFGS-B",
            bounds=[(x.min(), x.max())] * K,
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500},
        )
        if best is None or result.fun < best.fun:
            best = result
    return np.sort(best.x)


@pytest.mark.claim("minimisers-compact")
def test_tiny_datasets_are_as_documented():
    # Hand-checked: {0, .4, 1 | 3, 3.5} and {0, .5 | 2, 2.3 | 4.5, 5}.
    J, delta, C, sizes = k_means_optimum(*TINY["five-points-K2"])
    assert np.allclose(C, [1.4 / 3, 3.25]) and list(sizes) == [3, 2] and np.isclose(J, 1.895 / 15)
    assert np.isclose(delta, 0.5896666666666667)
    J, delta, C, sizes = k_means_optimum(*TINY["six-points-K3"])
    assert np.allclose(C, [0.25, 2.15, 4.75]) and list(sizes) == [2, 2, 2] and np.isclose(J, 0.295 / 6)


@pytest.mark.claim("minimisers-compact")
@pytest.mark.parametrize("name", TINY)
def test_minimisers_converge_to_the_k_means_optimum(implementation, name):
    x, K = TINY[name]
    X = x[:, None]
    J_star, delta, C_star, sizes = k_means_optimum(x, K)
    for kind, which in itertools.product(SOFT_KINDS, ("objective", "free_energy")):
        c = sharp_constant(kind, K) if which == "objective" else entropy_maximum(kind, K)
        for T in _TEMPERATURES:
            C_T = _minimise(implementation, x, K, T, kind, which, C_star)
            J_T = float(implementation.objective(X, C_T[:, None]))
            eJ, eL, eF = objectives_rounding(X, C_T[:, None], T, kind)
            where = f"{name} {kind} {which} T={T}: C_T={C_T}, C*={C_star}"
            # every minimiser of L_T (F_T) is a c T-minimiser of J (z3 chain)
            assert J_T - J_star <= c * T + eJ + max(eL, eF), where
            if c * T + eJ + max(eL, eF) < delta:
                # the partition is the optimal one and |c_k - c*_k|^2 <= N c T / n_k
                # (Huygens); slack: the rounding of J, divided by n_k / N, under the root
                radius = np.sqrt(len(x) * (c * T + eJ + max(eL, eF)) / sizes)
                assert np.all(np.abs(C_T - C_star) <= radius), where
    # entmax-1.5: below the exact temperature of C*, L_T(C*) = J*, so C* itself is a global
    # minimiser of L_T (L_T >= J >= J* everywhere).
    threshold = float(np.min(entmax_exact_temperatures(X, C_star[:, None])))
    for T in (threshold, threshold / 10):
        L_star = float(implementation.objective(X, C_star[:, None], T, "entmax15"))
        eJ, eL, _ = objectives_rounding(X, C_star[:, None], T, "entmax15")
        assert abs(L_star - J_star) <= eJ + eL, f"{name}: L_T(C*) != J* at T={T}"


def _partition(labels):
    return {frozenset(np.flatnonzero(labels == k).tolist()) for k in np.unique(labels)}


@pytest.mark.claim("minimisers-compact")
@pytest.mark.parametrize("name", TINY)
def test_minimisers_below_the_gap_have_the_optimal_partition(implementation, name):
    # The key step of the claim (proofs/proof_convergence.py::test_partition_is_optimal_below_the_gap):
    # once c T (plus the rounding of J, L_T, F_T) is below the gap Delta, the Voronoi
    # partition of every minimiser C_T is the optimal one. Catches: a minimiser in another
    # basin (the temperature applied as 1/T: on the six points, C_T lands on the wrong
    # partition; on the five, its near-coincident centres happen to split at the optimal
    # midpoint, so the bite uses the six).
    x, K = TINY[name]
    X = x[:, None]
    J_star, delta, C_star, _ = k_means_optimum(x, K)
    optimal = _partition(np.asarray(reference.assign(X, C_star[:, None])))
    checked = 0
    for kind, which in itertools.product(SOFT_KINDS, ("objective", "free_energy")):
        c = sharp_constant(kind, K) if which == "objective" else entropy_maximum(kind, K)
        for T in _TEMPERATURES:
            C_T = _minimise(implementation, x, K, T, kind, which, C_star)
            eJ, eL, eF = objectives_rounding(X, C_T[:, None], T, kind)
            if c * T + eJ + max(eL, eF) < delta:
                found = _partition(np.asarray(implementation.assign(X, C_T[:, None])))
                assert found == optimal, f"{name} {kind} {which} T={T}: C_T={C_T}, cells {found} != {optimal}"
                checked += 1
    assert checked >= 8, f"{name}: c T < Delta at only {checked} of the temperatures"


@pytest.mark.claim("minimisers-compact")
def test_optimal_partition_bites():
    assert_bites(test_minimisers_below_the_gap_have_the_optimal_partition, variants.TEMPERATURE_INVERTED, name="six-points-K3")


@pytest.mark.claim("minimisers-compact")
def test_minimisers_bites():
    # One dataset is enough to catch the bug, and halves the cost.
    assert_bites(test_minimisers_converge_to_the_k_means_optimum, variants.TEMPERATURE_INVERTED, name="five-points-K2")
