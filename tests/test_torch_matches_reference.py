"""torch equals the NumPy reference on generated problems, in every dtype and on every device.

Both are evaluated on the same inputs (rounded to the dtype under test first). The allowed
difference per function is ``kmeans_rbf.tolerances.error_bounds``: the dtype's tolerance
times the conditioning kappa of that very problem times the scale of the result. A
problem so ill-conditioned that the bound says nothing (a near-tie at a temperature far
below the gap) is skipped with ``assume``, not compared loosely.
"""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, note

from conftest import DEVICES, TORCH_DTYPES
from kmeans_rbf import reference
from kmeans_rbf import torch as krbf
from kmeans_rbf.strategies import problems, temperatures
from kmeans_rbf.tolerances import error_bounds, tolerance

KINDS = ["hard", "softmax", "entmax15"]
# A comparison whose bound exceeds 5% of the scale of the result checks nothing useful.
MEANINGFUL = 0.05


def rounded(a, dtype):
    """The float64 values of ``a`` after rounding to ``dtype`` (the inputs both sides see)."""
    return torch.tensor(a, dtype=dtype).double().numpy()


def run(function, X, C, *args, dtype, device):
    result = getattr(krbf, function)(
        torch.tensor(X, dtype=dtype, device=device), torch.tensor(C, dtype=dtype, device=device), *args
    )
    assert result.dtype == (torch.int64 if function == "assign" else dtype), function
    assert result.device.type == device, function
    return result.detach().cpu().double().numpy()


def assert_within(function, actual, expected, bound):
    """``|actual - expected| <= bound`` everywhere (bound a number or broadcastable array)."""
    excess = np.abs(actual - expected) - bound
    note(f"{function}: max |torch - reference| - allowed = {np.max(excess, initial=-np.inf):.3e}")
    assert np.all(np.isfinite(actual)), f"{function}: torch returned non-finite values"
    assert np.all(excess <= 0), (
        f"{function}: |torch - reference| exceeds the allowed bound by up to {np.max(excess):.3e}"
        f"\ntorch:\n{actual}\nreference:\n{expected}"
    )


def nearest_gaps(d):
    """Gap between the two smallest distances of every point (inf when K = 1)."""
    if d.shape[1] == 1:
        return np.full(len(d), np.inf)
    two = np.sort(d, axis=1)[:, :2]
    return two[:, 1] - two[:, 0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
@given(problem=problems(temperature=temperatures(min_value=1e-4, max_value=1e4)))
def test_torch_matches_reference(problem, kind, dtype, device):
    X, C, T = problem
    X, C = rounded(X, dtype), rounded(C, dtype)
    T = None if kind == "hard" else T
    bounds = error_bounds(X, C, T, kind, dtype)
    note(f"kappa = {bounds['kappa']:.3e}")
    assume(tolerance(dtype, bounds["kappa"] ** 2) <= MEANINGFUL)
    d = reference.squared_distances(X, C)
    # Distances closer than their rounding may order differently in another precision:
    # a legitimate tie for the nearest centre, not a defect. Exact ties stay in.
    gaps = nearest_gaps(d)
    near_tie = (gaps > 0) & (gaps <= 8 * bounds["squared_distances"])
    if kind == "hard":
        assume(not near_tie.any())

    args = () if kind == "hard" else (T, kind)
    assert_within("squared_distances", run("squared_distances", X, C, dtype=dtype, device=device), d, bounds["squared_distances"])
    labels = run("assign", X, C, dtype=dtype, device=device)
    assert np.array_equal(labels[~near_tie], reference.assign(X, C)[~near_tie])
    functions = ["responsibilities", "objective", "free_energy", "gradient", "free_energy_gradient"]
    for function in functions:
        full_args = (T, kind)
        expected = getattr(reference, function)(X, C, *full_args)
        actual = run(function, X, C, *full_args, dtype=dtype, device=device)
        assert_within(function, actual, expected, bounds[function])
    step = "lloyd_step" if kind == "hard" else "soft_step"
    expected, actual = getattr(reference, step)(X, C, *args), run(step, X, C, *args, dtype=dtype, device=device)
    assert np.all(np.isfinite(actual)), f"{step}: torch returned non-finite centres"
    # Centres with too little mass for the bound to mean anything are not compared
    # (error_bounds says why); every other centre is.
    spread = max(np.abs(X).max(), np.abs(C).max(), np.finfo(np.float64).tiny)
    comparable = bounds[step][:, 0] <= MEANINGFUL * spread
    assert_within(step, actual[comparable], expected[comparable], bounds[step][comparable])
