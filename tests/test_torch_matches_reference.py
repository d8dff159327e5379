"""torch equals the NumPy reference on generated problems, in every dtype and on every device.

Both are evaluated on the same inputs (rounded to the dtype under test first). The allowed
difference per function is ``kmeans_rbf.tolerances.error_bounds``: the dtype's tolerance
times the conditioning kappa of that very problem times the scale of the result. A
problem so ill-conditioned that the bound says nothing (a near-tie at a temperature far
below the gap) is skipped with ``assume``, not compared loosely.
"""

import numpy as np
import pytest
from hypothesis import assume, given, note

from conftest import DEVICES, TORCH_DTYPES
from kmeans_rbf import reference
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.assertions import assert_within
from kmeans_rbf.backends import NumpyCalls, rounded
from kmeans_rbf.kinds import KINDS
from kmeans_rbf.strategies import problems, temperatures
from kmeans_rbf.tolerances import MEANINGFUL, error_bounds, tolerance


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
@given(problem=problems(temperature=temperatures(min_value=1e-4, max_value=1e4)))
def test_torch_matches_reference(problem, kind, dtype, device):
    torch_calls = NumpyCalls(krbf_torch, dtype, device)
    X, C, T = problem
    X, C = rounded(X, dtype), rounded(C, dtype)
    T = None if kind == "hard" else T
    bounds = error_bounds(X, C, T, kind, dtype)
    note(f"kappa = {bounds['kappa']:.3e}")
    assume(tolerance(dtype, bounds["kappa"] ** 2) <= MEANINGFUL)
    d = reference.squared_distances(X, C)
    # Distances closer than their rounding may order differently in another precision:
    # a legitimate tie for the nearest centre, not a defect. Exact ties stay in.
    gaps = reference._margins(d)
    near_tie = (gaps > 0) & (gaps <= 8 * bounds["squared_distances"])
    if kind == "hard":
        assume(not near_tie.any())

    args = () if kind == "hard" else (T, kind)
    assert_within(torch_calls.squared_distances(X, C), d, bounds["squared_distances"], "squared_distances")
    labels = torch_calls.assign(X, C)
    assert labels.dtype == np.int64, labels.dtype
    assert np.array_equal(labels[~near_tie], reference.assign(X, C)[~near_tie])
    if len(C) > 1:  # one centre: both are inf, no runner-up
        # A margin is a difference of two distances, each within its bound.
        assert_within(torch_calls.margins(X, C), gaps, 2 * bounds["squared_distances"], "margins")
    functions = ["responsibilities", "objective", "free_energy", "gradient", "free_energy_gradient"]
    for function in functions:
        full_args = (T, kind)
        expected = getattr(reference, function)(X, C, *full_args)
        actual = getattr(torch_calls, function)(X, C, *full_args)
        assert_within(actual, expected, bounds[function], function)
    step = "lloyd_step" if kind == "hard" else "soft_step"
    expected, actual = getattr(reference, step)(X, C, *args), getattr(torch_calls, step)(X, C, *args)
    assert np.all(np.isfinite(actual)), f"{step}: torch returned non-finite centres"
    # Centres with too little mass for the bound to mean anything are not compared
    # (error_bounds says why); every other centre is.
    spread = max(np.abs(X).max(), np.abs(C).max(), np.finfo(np.float64).tiny)
    comparable = bounds[step][:, 0] <= MEANINGFUL * spread
    assert_within(actual[comparable], expected[comparable], bounds[step][comparable], step)
