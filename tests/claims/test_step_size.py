"""Claim step-size: c_k - N/(2 n_k) grad_{c_k} F_T is the soft step.

Compares, for each implementation, its soft_step with a gradient step built from its own
free_energy_gradient and responsibilities. Both sides round differently: the bound is
the float64 soft-step bound of kmeans_rbf.tolerances (which grows like N / n_k) twice.
"""

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import variants
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import cluster_counts, problems
from kmeans_rbf.tolerances import error_bounds
from support import assert_bites


@pytest.mark.claim("step-size")
@given(problem=problems(n_clusters=cluster_counts()), kind=st.sampled_from(SOFT_KINDS))
def test_gradient_step_is_the_soft_step(implementation, problem, kind):
    X, C, T = problem
    n = np.asarray(implementation.responsibilities(X, C, T, kind)).sum(axis=0)
    # A centre without mass keeps its place in the soft step; the identity needs n_k > 0.
    assume(np.all(n > 1e-6))
    gradient_step = C - (len(X) / (2 * n))[:, None] * np.asarray(implementation.free_energy_gradient(X, C, T, kind))
    soft = np.asarray(implementation.soft_step(X, C, T, kind))
    bound = 2 * error_bounds(X, C, T, kind, np.float64)["soft_step"]
    note(f"soft step {soft.ravel()}, gradient step {gradient_step.ravel()}")
    assert np.all(np.abs(soft - gradient_step) <= bound)


@pytest.mark.claim("step-size")
def test_step_size_property_bites():
    assert_bites(test_gradient_step_is_the_soft_step, variants.SOFT_STEP_MIRRORED)
