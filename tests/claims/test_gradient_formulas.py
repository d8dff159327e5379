"""Claims gradient-free-energy and gradient-objective: the analytic gradients are the derivatives.

Claims (theory/gradients.md; proofs in proofs/proof_gradients.py): grad F_T has no term
through the responsibilities (envelope theorem), grad L_T has one, -(1/T) J d through the
Jacobian J of the map. Each implementation's gradient is compared with a ground truth
computed independently of every float64 implementation: central finite differences of
F_T or L_T in 60-digit arithmetic (``kmeans_rbf.multiprecision``) on the same (float64)
X, C and T.

Tolerances: the float64 bound of the function (``kmeans_rbf.tolerances.error_bounds``) plus
one rounding of the 60-digit value to float64; the error of the finite differences is far
below both (``_DIGITS``).
"""

import functools

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import variants
from kmeans_rbf import multiprecision
from kmeans_rbf.assertions import assert_within
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import cluster_counts, datasets, problems
from kmeans_rbf.tolerances import error_bounds, unit_roundoff
from support import assert_bites

# At 60 digits multiprecision's central differences have step h = 2^-67 ~ 7e-21 (exact
# steps: c +- h is exact for the generated centres) and error h^2 |f'''| / 6 + 10^-60 |f| / h.
# For the generated problems (coordinates in [-10, 10]^D, D <= 3, so |c - x| <= 20 sqrt 3 < 35
# and d <= 1200; T >= 1e-3) each derivative of exp(-d/T) in c brings a factor at most
# 2 |c - x| / T < 7e4, so |f'''| < 1200 (7e4)^3 ~ 4e17 and the truncation is below 1e-23; the
# rounding is below 1e-36. Both are far below the float64 bounds compared with
# (>= 1e-14 * scale).
_DIGITS = 60


@functools.lru_cache(maxsize=4096)
def _sixty_digit_gradient(name, X_bytes, X_shape, C_bytes, C_shape, T, kind):
    """multiprecision's gradient rounded to float64, computed once per problem (every
    implementation is compared with the same one)."""
    X = np.frombuffer(X_bytes, dtype=np.float64).reshape(X_shape)
    C = np.frombuffer(C_bytes, dtype=np.float64).reshape(C_shape)
    with mpmath.workdps(_DIGITS):
        return np.array(getattr(multiprecision, name)(X, C, T, kind), dtype=np.float64)


def assert_matches_sixty_digits(implementation, name, problem, kind):
    """``implementation.<name>`` against ``multiprecision.<name>`` at 60 digits, rounded once to float64.

    ``name`` is "gradient" or "free_energy_gradient". Allowed: the float64 bound of that
    function (``error_bounds[name]``), and half an ulp of the largest entry for the rounding
    of the 60-digit value.
    """
    X, C, T = problem
    expected = _sixty_digit_gradient(name, X.tobytes(), X.shape, C.tobytes(), C.shape, T, kind)
    bound = error_bounds(X, C, T, kind, np.float64)[name] + unit_roundoff(np.float64) * np.max(np.abs(expected))
    assert_within(getattr(implementation, name)(X, C, T, kind), expected, bound, name)


@st.composite
def gradient_problems(draw):
    """``problems()`` with K up to 16 (``cluster_counts``); above 5 centres, at most 6 points.

    The 60-digit differences cost about N K^2 D evaluations of an exponential: many centres
    with many points would multiply this module's time, and the maps' K-dependence (the
    entmax defect of K >= 13) shows in any row.
    """
    K = draw(cluster_counts(max_value=16))
    n_points = st.integers(1, 24) if K <= 5 else st.integers(1, 6)
    return draw(problems(data=datasets(n_points=n_points), n_clusters=K))


# --- gradient-free-energy ----------------------------------------------------------------


@pytest.mark.claim("gradient-free-energy")
@given(problem=gradient_problems(), kind=st.sampled_from(SOFT_KINDS))
def test_free_energy_gradient_matches_finite_differences(implementation, problem, kind):
    assert_matches_sixty_digits(implementation, "free_energy_gradient", problem, kind)


@pytest.mark.claim("gradient-free-energy")
def test_free_energy_gradient_property_bites():
    assert_bites(test_free_energy_gradient_matches_finite_differences, variants.THROUGH_R_IN_FREE_ENERGY_GRADIENT)


# --- gradient-objective --------------------------------------------------------------------


@pytest.mark.claim("gradient-objective")
@given(problem=gradient_problems(), kind=st.sampled_from(SOFT_KINDS))
def test_objective_gradient_matches_finite_differences(implementation, problem, kind):
    # error_bounds' gradient bound has kappa twice: once for the responsibilities, once for
    # the term J a through them (its size grows like d/T).
    assert_matches_sixty_digits(implementation, "gradient", problem, kind)


@pytest.mark.claim("gradient-objective")
def test_objective_gradient_property_bites():
    assert_bites(test_objective_gradient_matches_finite_differences, variants.FROZEN_RESPONSIBILITIES)
