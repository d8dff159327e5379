"""Claim step-size (MATH.md claim 4): c_k - N/(2 n_k) grad_{c_k} F_T is the soft step.

Compares, for each implementation, its soft_step with a gradient step built from its own
free_energy_gradient and responsibilities. Both sides round differently: the bound is
the float64 soft-step bound of kmeans_rbf.tolerances (which grows like N / n_k) twice.
"""

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from conftest import BACKENDS
from kmeans_rbf import reference
from kmeans_rbf.strategies import problems
from kmeans_rbf.tolerances import error_bounds
from support import assert_bites, variant


def step_size_property(impl):
    @given(problem=problems(), kind=st.sampled_from(["softmax", "entmax15"]))
    def check(problem, kind):
        X, C, T = problem
        n = np.asarray(impl.responsibilities(X, C, T, kind)).sum(axis=0)
        # A centre without mass keeps its place in the soft step; the identity needs n_k > 0.
        assume(np.all(n > 1e-6))
        gradient_step = C - (len(X) / (2 * n))[:, None] * np.asarray(impl.free_energy_gradient(X, C, T, kind))
        soft = np.asarray(impl.soft_step(X, C, T, kind))
        bound = 2 * error_bounds(X, C, T, kind, np.float64)["soft_step"]
        note(f"soft step {soft.ravel()}, gradient step {gradient_step.ravel()}")
        assert np.all(np.abs(soft - gradient_step) <= bound)

    return check


@pytest.mark.claim("step-size")
@pytest.mark.parametrize("implementation", BACKENDS, ids=repr)
def test_gradient_step_is_the_soft_step(implementation):
    step_size_property(implementation)()


def _step_without_the_factor_two(X, C, temperature=None, kind="softmax"):
    # The bug: a gradient step of N / n_k (the 2 of d||x - c||^2/dc forgotten) overshoots
    # to the mirror image of C through the soft mean.
    return 2 * reference.soft_step(X, C, temperature, kind) - np.asarray(C)


@pytest.mark.claim("step-size")
def test_step_size_property_bites():
    assert_bites(step_size_property(variant("step N/n_k", soft_step=_step_without_the_factor_two)))
