"""Claim step-size: a gradient step on F_T with per-cluster step N/(2 n_k)
lands exactly on the soft step, c_k - N/(2 n_k) grad_{c_k} F_T = sum_i r_ik x_i / n_k.

Per coordinate, with n = sum_i r_i and S = sum_i r_i x_i, the envelope-theorem gradient
is (2/N) sum_i r_i (c - x_i) = (2/N)(c n - S) (linearity of the sum, checked for
N = 1..6), and the identity is algebra in c, n, S; it is proved for all reals with
n != 0 by sympy and by z3.
"""

import mpmath
import pytest
import sympy as sp
import z3

from kmeans_rbf.proving import assert_identity, assert_implies


def _gradient_and_step(N, c, r, x):
    gradient = sp.Rational(2, N) * sum(ri * (c - xi) for ri, xi in zip(r, x))
    n = sum(r)
    return gradient, c - N / (2 * n) * gradient


@pytest.mark.claim("step-size")
def test_gradient_is_linear_in_the_sums():
    c = sp.Symbol("c", real=True)
    for N in range(1, 7):
        r = sp.symbols(f"r0:{N}", positive=True)
        x = sp.symbols(f"x0:{N}", real=True)
        gradient, _ = _gradient_and_step(N, c, r, x)
        n, S = sum(r), sum(ri * xi for ri, xi in zip(r, x))
        assert_identity(gradient - sp.Rational(2, N) * (c * n - S), by=sp.expand)


@pytest.mark.claim("step-size")
def test_step_size_identity():
    # Step 1: the gradient in terms of the sums; step 2: the step; step 3: the residual.
    c, S, N = sp.symbols("c S N", real=True)
    n = sp.Symbol("n", positive=True)
    gradient = 2 / N * (c * n - S)
    step = c - N / (2 * n) * gradient
    assert_identity(step - S / n)
    # The same identity at random points, in 50-digit arithmetic, for concrete r and x.
    mpmath.mp.dps = 50
    rng = mpmath.rand
    for N_value in (1, 2, 5):
        r = [rng() + mpmath.mpf("1e-3") for _ in range(N_value)]
        x = [4 * rng() - 2 for _ in range(N_value)]
        c_value = 4 * rng() - 2
        n_value = sum(r)
        grad = mpmath.mpf(2) / N_value * sum(ri * (c_value - xi) for ri, xi in zip(r, x))
        lhs = c_value - N_value / (2 * n_value) * grad
        rhs = sum(ri * xi for ri, xi in zip(r, x)) / n_value
        assert abs(lhs - rhs) < mpmath.mpf("1e-45")


@pytest.mark.claim("step-size")
def test_step_size_identity_over_all_reals_z3():
    # For all reals c, S and N != 0, n != 0: c - N/(2n) * (2/N)(c n - S) = S/n. Both
    # hypotheses are needed: at N = 0 or n = 0 the divisions are undefined.
    c, S, N, n = z3.Reals("c S N n")
    gradient = 2 / N * (c * n - S)
    assert_implies([N != 0, n != 0], c - N / (2 * n) * gradient == S / n)
