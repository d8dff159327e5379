"""Valid extremes: tiny and huge temperatures and coordinates, half precision, N = 1, D = 1,
duplicate points and exact ties. Each must give finite results that match the reference
(and the limits the mathematics predicts), never NaN.
"""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, note

from kmeans_rbf import reference
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.backends import NumpyCalls
from kmeans_rbf.kinds import SOFT_KINDS
from kmeans_rbf.strategies import datasets, problems, temperatures
from kmeans_rbf.tolerances import error_bounds, tolerance

FUNCTIONS = ["responsibilities", "objective", "free_energy", "gradient", "free_energy_gradient", "soft_step"]
RTOL = tolerance(np.float64)

# Three separated points and centres with no ties: every margin is at least 1 - 0.25.
X3 = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
C3 = np.array([[0.1, 0.0], [0.9, 0.2], [0.0, 2.5]])


def _all(implementation, X, C, T, kind):
    return {f: np.asarray(getattr(implementation, f)(X, C, T, kind), dtype=np.float64) for f in FUNCTIONS}


@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_tiny_temperature_is_k_means(implementation, kind):
    # T = 1e-12 is far below every margin: entmax is exactly hard (gap >= 2T, claim entmax-one-hot-threshold) and
    # softmax's off-nearest weights are exp(-margin/T) = 0 in float64.
    results = _all(implementation, X3, C3, 1e-12, kind)
    assert np.array_equal(results["responsibilities"], np.eye(3))
    assert results["objective"] == pytest.approx(reference.objective(X3, C3), rel=RTOL)
    assert results["free_energy"] == pytest.approx(reference.objective(X3, C3), rel=RTOL)
    np.testing.assert_allclose(results["gradient"], reference.gradient(X3, C3), rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(results["soft_step"], reference.lloyd_step(X3, C3), rtol=RTOL)


@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_huge_temperature_is_uniform(implementation, kind):
    # T = 1e12: logits within 1e-11 of each other, so responsibilities are 1/K to ~1e-11
    # (entmax15: support is everything once all gaps are below 2T), every centre steps to
    # the data mean, and F_T = J - T H_max + O(d) (H_max = log K or (4/3)(1 - K^-1/2)).
    results = _all(implementation, X3, C3, 1e12, kind)
    np.testing.assert_allclose(results["responsibilities"], np.full((3, 3), 1 / 3), atol=1e-10)
    np.testing.assert_allclose(results["soft_step"], np.tile(X3.mean(axis=0), (3, 1)), atol=1e-10)
    h_max = np.log(3) if kind == "softmax" else (4 / 3) * (1 - 3**-0.5)
    assert results["free_energy"] == pytest.approx(-1e12 * h_max, rel=1e-10)
    for f in FUNCTIONS:
        assert np.all(np.isfinite(results[f])), f


# Powers of two near 1e-150 and 1e150: multiplying by them is exact in binary, so the
# scaled problem is the same problem and only the computation's rounding differs.
EXACT_SCALES = [2.0**-500, 2.0**500]


@pytest.mark.parametrize("scale", EXACT_SCALES, ids=["2^-500", "2^500"])
@pytest.mark.parametrize("kind", ["hard", *SOFT_KINDS])
@given(problem=problems())
def test_scaled_coordinates_are_equivariant(implementation, problem, kind, scale):
    # Scaling X and C by s and T by s^2 leaves r unchanged and scales d, L, F by s^2,
    # gradients and steps by s.
    X, C, T = problem
    d = reference.squared_distances(X, C)
    # Squared distances below 1e-6 would become subnormal at s^2 = 2^-1000 ~ 9e-302 and
    # lose bits that the unscaled problem keeps.
    assume(np.all((d == 0) | (d >= 1e-6)))
    T = None if kind == "hard" else T
    T_scaled = None if kind == "hard" else T * scale**2
    bounds = error_bounds(X, C, T, kind, np.float64)
    note(f"T = {T}, scaled T = {T_scaled}, kappa = {bounds['kappa']:.3e}")
    factors = {"responsibilities": 1.0, "objective": scale**2, "free_energy": scale**2,
               "gradient": scale, "free_energy_gradient": scale, "soft_step": scale}
    for function, factor in factors.items():
        if kind == "hard" and function == "soft_step":
            continue
        expected = getattr(reference, function)(X, C, T, kind)
        actual = np.asarray(getattr(implementation, function)(X * scale, C * scale, T_scaled, kind)) / factor
        assert np.all(np.isfinite(actual)), function
        excess = np.abs(actual - expected) - bounds[function]
        assert np.all(excess <= 0), f"{function}: {actual} != {expected} beyond the bound"


@pytest.mark.parametrize("scale", [1e-150, 1e150], ids=["1e-150", "1e150"])
@pytest.mark.parametrize("kind", ["hard", *SOFT_KINDS])
@given(problem=problems(data=datasets(scale=1.0)))
def test_torch_matches_reference_at_scaled_coordinates(problem, kind, scale):
    # The same (scaled) inputs on both sides, temperatures scaled alike: the float64
    # bounds of the scaled problem apply as they are.
    X, C, T = problem
    X, C, T = X * scale, C * scale, (None if kind == "hard" else T * scale**2)
    assume(np.all(np.isfinite(reference.squared_distances(X, C))))
    bounds = error_bounds(X, C, T, kind, np.float64)
    torch_calls = NumpyCalls(krbf_torch, torch.float64)
    for function in ["responsibilities", "objective", "free_energy", "gradient", "free_energy_gradient"]:
        expected = getattr(reference, function)(X, C, T, kind)
        actual = np.asarray(getattr(torch_calls, function)(X, C, T, kind))
        assert np.all(np.abs(actual - expected) <= bounds[function]), function


@pytest.mark.parametrize("scale", [1e-150, 1e150], ids=["1e-150", "1e150"])
@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_scaled_coordinates_at_fixed_temperature(implementation, kind, scale):
    # The temperature left at 1: at 1e150 every responsibility is hard (d/T ~ 1e300), at
    # 1e-150 every one is uniform (d/T ~ 1e-300). Finite, and equal to the reference.
    X, C = X3 * scale, C3 * scale
    for function in FUNCTIONS:
        actual = np.asarray(getattr(implementation, function)(X, C, 1.0, kind))
        expected = getattr(reference, function)(X, C, 1.0, kind)
        assert np.all(np.isfinite(actual)), function
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * np.max(np.abs(expected)), err_msg=function)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("kind", SOFT_KINDS)
@pytest.mark.parametrize("temperature", [1e-12, 1e-6, 1e-3])
def test_half_precision_at_low_temperature(dtype, kind, temperature):
    # Half precision holds exp(-d/T) only down to ~6e-8 (float16): computing in float32 and
    # rounding once gives finite results within one half-precision rounding of the reference.
    X = torch.tensor(X3, dtype=dtype)
    C = torch.tensor(C3, dtype=dtype)
    X64, C64 = X.double().numpy(), C.double().numpy()
    for function in FUNCTIONS:
        actual = getattr(krbf_torch, function)(X, C, temperature, kind)
        assert actual.dtype == dtype
        actual = actual.double().numpy()
        expected = getattr(reference, function)(X64, C64, temperature, kind)
        assert np.all(np.isfinite(actual)), function
        np.testing.assert_allclose(
            actual, expected, rtol=0, atol=tolerance(dtype) * max(1.0, np.max(np.abs(expected))), err_msg=function
        )


def test_float16_distances_that_overflow_are_an_error():
    # 300^2 = 90000 > 65504, the largest float16: refusing beats returning inf.
    X, C = torch.tensor([[0.0]], dtype=torch.float16), torch.tensor([[300.0]], dtype=torch.float16)
    with pytest.raises(OverflowError, match="overflow"):
        krbf_torch.squared_distances(X, C)
    # So is every other result that float16 cannot hold (J = 90000 here), while those
    # that fit are computed through float32 and returned.
    with pytest.raises(OverflowError, match="overflows torch.float16"):
        krbf_torch.objective(X, C)
    assert krbf_torch.assign(X, C).tolist() == [0]
    assert krbf_torch.soft_step(X, C, 1.0, "softmax").tolist() == [[0.0]]


@pytest.mark.parametrize("kind", ["hard", *SOFT_KINDS])
@given(X=datasets(geometry="grid"), T=temperatures())
def test_single_point_single_feature_duplicates_and_grid_ties(implementation, X, T, kind):
    # Grid data has exact ties; N = 1, D = 1 and duplicates come from the strategy's
    # smallest sizes. Centres on data points make ties certain.
    T = None if kind == "hard" else T
    C = X[: min(3, len(X))][::-1].copy()
    for function in ["assign", "responsibilities", "objective", "gradient"]:
        args = () if function == "assign" else (T, kind)
        actual = np.asarray(getattr(implementation, function)(X, C, *args))
        expected = getattr(reference, function)(X, C, *args)
        # Small integers: distances are exact in float64, so ties are broken identically.
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * (1 + np.max(np.abs(expected))), err_msg=function)
    step = reference.lloyd_step(X, C) if kind == "hard" else reference.soft_step(X, C, T, kind)
    actual = implementation.lloyd_step(X, C) if kind == "hard" else implementation.soft_step(X, C, T, kind)
    np.testing.assert_allclose(actual, step, rtol=RTOL, atol=RTOL * (1 + np.max(np.abs(X))))


def test_one_point_one_centre(implementation):
    X, C = np.array([[2.0]]), np.array([[5.0]])
    assert implementation.objective(X, C, 1.0, "softmax") == 9.0
    assert implementation.free_energy(X, C, 1.0, "entmax15") == 9.0  # H(one-hot) = 0
    np.testing.assert_array_equal(implementation.soft_step(X, C, 1.0, "softmax"), [[2.0]])
    np.testing.assert_array_equal(implementation.gradient(X, C, 1.0, "entmax15"), [[6.0]])
