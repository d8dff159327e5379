"""Claims gamma-convergence and no-equicoercivity: L_T and F_T tend to J as T -> 0, uniformly.

Claims (theory/convergence.md; proofs in proofs/proof_convergence.py):

* ``gamma-convergence``: sup_C |L_T - J| <= c_K T and sup_C |J - F_T| <= H_max T, so L_T and
  F_T converge to J uniformly, hence Gamma-converge; along centres C_T -> C the values
  converge to J(C) (the liminf and recovery inequalities);
* ``no-equicoercivity``: a centre can leave to infinity while J, L_T and F_T stay bounded,
  so Gamma-convergence gives no compactness on all of R^{K x D}.

The constants c_K and H_max are those of ``kmeans_rbf.bounds``. Tolerances: each value an
implementation returns may be off by its float64 rounding, ``support.objectives_rounding``
(``kmeans_rbf.tolerances.error_bounds``); a difference of two values gets the sum of their
bounds, and the liminf test adds the change of J between C_T and C (its comment).
"""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf import reference
from kmeans_rbf.bounds import entropy_maximum, sharp_constant
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import centres, cluster_counts, datasets, problems, temperatures
from support import assert_bites, objectives, objectives_rounding

_DECREASING = (1.0, 1e-1, 1e-2, 1e-3)


@st.composite
def centre_sets(draw, *, n_sets=6):
    """(X, [C_1, ..., C_n]): one dataset and several configurations of K centres, the last coincident."""
    X = draw(datasets())
    K = draw(cluster_counts())
    sets = [draw(centres(X, n_clusters=K)) for _ in range(n_sets)]
    sets.append(np.repeat(draw(centres(X, n_clusters=1)), K, axis=0))
    return X, sets


# --- gamma-convergence ---------------------------------------------------------------------


@pytest.mark.claim("gamma-convergence")
@given(problem=centre_sets(), kind=st.sampled_from(SOFT_KINDS))
def test_uniform_convergence_at_decreasing_temperatures(implementation, problem, kind):
    X, sets = problem
    K = len(sets[0])
    for T in _DECREASING:
        excess, gap, slack = [], [], []
        for C in sets:
            J, L, F = objectives(implementation, X, C, T, kind)
            eJ, eL, eF = objectives_rounding(X, C, T, kind)
            excess.append(L - J), gap.append(J - F), slack.append(eJ + max(eL, eF))
        note(f"T={T}: sup(L - J)={max(excess)!r}, sup(J - F)={max(gap)!r}")
        assert max(abs(e) for e in excess) <= sharp_constant(kind, K) * T + max(slack)
        assert max(abs(g) for g in gap) <= entropy_maximum(kind, K) * T + max(slack)
        # the coincident configuration attains J - F = T H_max: the rate is not better
        assert gap[-1] >= entropy_maximum(kind, K) * T - slack[-1]


@pytest.mark.claim("gamma-convergence")
@given(data=st.data(), kind=st.sampled_from(SOFT_KINDS))
def test_values_along_converging_centres_converge_to_j(implementation, data, kind):
    # Along C_T = C + T V -> C: |L_T(C_T) - J(C)| <= c T + omega, |F_T(C_T) - J(C)| <= H T + omega.
    # omega bounds |J(C_T) - J(C)| by the local Lipschitz estimate of J (proofs:
    # test_k_means_objective_is_continuous_z3): max_ik |c'_k - c_k| (2 |x_i - c_k| + |c'_k - c_k|).
    X, C, _ = data.draw(problems(n_clusters=cluster_counts()))
    V = data.draw(centres(X, n_clusters=len(C))) - C
    J = float(implementation.objective(X, C))
    for T in _DECREASING:
        C_T = C + T * V
        _, L, F = objectives(implementation, X, C_T, T, kind)
        eJ, eL, eF = objectives_rounding(X, C_T, T, kind)
        step = np.linalg.norm(C_T - C, axis=1)
        reach = np.linalg.norm(X[:, None, :] - C[None, :, :], axis=2)
        omega = float(np.max(step[None, :] * (2 * reach + step[None, :])))
        note(f"T={T}: L={L!r} F={F!r} J(C)={J!r} omega={omega!r}")
        assert abs(L - J) <= sharp_constant(kind, len(C)) * T + omega + eJ + eL
        assert abs(F - J) <= entropy_maximum(kind, len(C)) * T + omega + eJ + eF


@pytest.mark.claim("gamma-convergence")
@pytest.mark.parametrize(
    "test, broken",
    [
        (test_uniform_convergence_at_decreasing_temperatures, variants.TEMPERATURE_INVERTED),
        (test_values_along_converging_centres_converge_to_j, variants.TEMPERATURE_INVERTED),
        (test_uniform_convergence_at_decreasing_temperatures, variants.TEMPERATURE_SQUARED),
    ],
    ids=["1/T-uniform", "1/T-liminf", "T^2-uniform"],
)
def test_gamma_convergence_bites(test, broken):
    assert_bites(test, broken)


# --- no-equicoercivity ---------------------------------------------------------------------


@pytest.mark.claim("no-equicoercivity")
@given(data=st.data(), kind=st.sampled_from(SOFT_KINDS))
def test_a_centre_leaves_to_infinity_at_bounded_cost(implementation, data, kind):
    X = data.draw(datasets())
    c1 = data.draw(centres(X, n_clusters=1))
    K, T = data.draw(cluster_counts(min_value=2)), data.draw(temperatures())
    J1 = float(reference.objective(X, c1))  # one centre: J_1(c_1), exact up to eJ
    spread = float(np.ptp(X)) + 1.0
    for n in (10.0, 100.0, 1000.0):
        # K - 1 centres at distances n, 2n, ... data diameters along the first axis
        far = c1 + spread * n * np.arange(1, K)[:, None] * np.eye(X.shape[1])[:1]
        C_n = np.vstack([c1, far])
        J, L, F = objectives(implementation, X, C_n, T, kind)
        eJ, eL, eF = objectives_rounding(X, C_n, T, kind)
        note(f"n={n}: |C_n|={np.linalg.norm(C_n)!r} J={J!r} L={L!r} F={F!r} J_1={J1!r}")
        assert J <= J1 + eJ
        assert L <= J1 + sharp_constant(kind, K) * T + eJ + eL
        assert F <= J1 + eF


@pytest.mark.claim("no-equicoercivity")
def test_bounded_cost_bites():
    assert_bites(test_a_centre_leaves_to_infinity_at_bounded_cost, variants.SOFTMAX_OVER_POINTS)
