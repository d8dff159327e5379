"""Gradients: autograd (torch) agrees with finite differences, in float64.

The closed forms of the reference agree with torch autograd in
test_torch_matches_reference.py; here autograd itself is checked against central finite
differences with torch.autograd.gradcheck (step 1e-6, atol 1e-5, rtol 1e-3: its
defaults, sized for float64 where the difference quotient has a truncation error of
~1e-12 |f'''| and a rounding error of ~1e-10 |f|). The objectives are differentiable
wherever no point is tied between its two nearest centres (hard), and everywhere for
softmax and entmax15 (entmax15 is C^1: p_k = [z_k/2 - tau]_+^2 has a continuous
derivative at the support boundary), so only the hard kind needs a margin.
"""

import numpy as np
import pytest
import torch
from hypothesis import assume, given

from kmeans_rbf import reference
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.kinds import KINDS
from kmeans_rbf.strategies import problems

FUNCTIONS = ["objective", "free_energy"]
# Central differences with step 1e-6 cross a tie only if a gap is below ~4e-6 |x - c|.
HARD_MARGIN = 1e-3


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("kind", KINDS)
@given(problem=problems())
def test_gradcheck(problem, kind, function):
    X, C, T = problem
    if kind == "hard":
        assume(float(reference.margins(X, C).min()) > HARD_MARGIN)
        T = None
    X = torch.tensor(X, requires_grad=True)
    C = torch.tensor(C, requires_grad=True)
    assert torch.autograd.gradcheck(lambda X, C: getattr(krbf_torch, function)(X, C, T, kind), (X, C))


@pytest.mark.parametrize("kind", ["softmax", "entmax15"])
def test_second_derivatives(kind):
    # Hessian-vector products (for Newton steps, or a gradient penalty) need the backward
    # of entmax15's closed-form backward to be differentiable as well.
    rng = np.random.default_rng(7)
    X = torch.tensor(rng.normal(size=(12, 2)), requires_grad=True)
    C = torch.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda X, C: krbf_torch.objective(X, C, 0.7, kind), (X, C))


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_function_keeps_the_graph(kind):
    # krbf_torch.gradient of centres that require grad is itself differentiable (create_graph):
    # the derivative of sum(grad) must match a finite difference of sum(grad).
    rng = np.random.default_rng(3)
    X = torch.tensor(rng.normal(size=(10, 2)))
    C = torch.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    T = None if kind == "hard" else 0.9
    assert torch.autograd.gradcheck(lambda C: krbf_torch.gradient(X, C, T, kind).sum(), (C,))
