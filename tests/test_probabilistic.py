"""The mixture model (kmeans_rbf.probabilistic and its torch mirror): toy cases, torch
against the reference, dtypes and devices, autograd, edge and bad input.

The claims of the probabilistic view are tested in tests/claims/test_truncated_em.py,
test_full_em.py and test_deterministic_annealing.py; this module checks the
implementations themselves. Hand-computed values are worked out in the comment beside them
and compared with the float64 entry of the tolerance table.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, note
from hypothesis import strategies as st

from conftest import DEVICES, TORCH_DTYPES
from kmeans_rbf import probabilistic, reference, torch_probabilistic
from kmeans_rbf.assertions import assert_within
from kmeans_rbf.backends import NumpyCalls, rounded
from kmeans_rbf.strategies import problems, temperatures
from kmeans_rbf.tolerances import MEANINGFUL, condition_of_responsibilities, tolerance

F64 = tolerance(np.float64)


def assert_exact(actual, expected, scale=1.0):
    np.testing.assert_allclose(actual, expected, rtol=F64, atol=F64 * scale)

# --- hand-computed cases ---------------------------------------------------------------

TIE_X = np.array([[0.0], [1.0], [2.0]])
TIE_C = np.array([[0.0], [2.0]])
FOUR = np.array([[0.0], [1.0], [9.0], [10.0]])


def test_log_joint(implementation):
    # variance 1/2: -log 1 - (1/2) log(pi) - d; d = 0 and 1.
    expected = [[-0.5 * math.log(math.pi)], [-0.5 * math.log(math.pi) - 1.0]]
    assert_exact(implementation.log_joint(np.array([[0.0], [1.0]]), np.array([[0.0]]), 0.5), expected)


def test_truncated_posterior(implementation):
    X, C = np.array([[0.0]]), np.array([[0.0], [1.0], [3.0]])  # d = (0, 1, 9), 2 s = 1
    e = math.exp
    assert_exact(implementation.truncated_posterior(X, C, 0.5, 1), [[1.0, 0.0, 0.0]])
    assert_exact(implementation.truncated_posterior(X, C, 0.5, 2), [[1 / (1 + e(-1)), e(-1) / (1 + e(-1)), 0.0]])
    Z = 1 + e(-1) + e(-9)
    assert_exact(implementation.truncated_posterior(X, C, 0.5, 3), [[1 / Z, e(-1) / Z, e(-9) / Z]])


def test_nearest_sets_break_ties_to_the_lowest_index(implementation):
    # x = 1 is at distance 1 from means 0 and 2, 16 from 5: K_i = {0} for n = 1, {0, 1} for n = 2.
    X, C = np.array([[1.0]]), np.array([[0.0], [2.0], [5.0]])
    assert_exact(implementation.truncated_posterior(X, C, 1.0, 1), [[1.0, 0.0, 0.0]])
    assert_exact(implementation.truncated_posterior(X, C, 1.0, 2), [[0.5, 0.5, 0.0]])
    # With the two tied means swapped, the lowest index is still the one kept.
    assert_exact(implementation.truncated_posterior(X, C[[1, 0, 2]], 1.0, 1), [[1.0, 0.0, 0.0]])


def test_free_energies(implementation):
    X, C = np.array([[0.0], [2.0]]), np.array([[0.0], [2.0]])
    # n = 1: -log 2 - (1/2) log(2 pi / 2) - 0 = -log 2 - (1/2) log pi.
    base = -math.log(2) - 0.5 * math.log(math.pi)
    assert_exact(implementation.truncated_free_energy(X, C, 0.5, 1), base)
    # n = 2: each point also sees the other mean at d = 4: + log(1 + e^-4).
    assert_exact(implementation.truncated_free_energy(X, C, 0.5, 2), base + math.log(1 + math.exp(-4)))
    assert_exact(implementation.log_likelihood(X, C, 0.5), base + math.log(1 + math.exp(-4)))
    # F(q) for uniform q on two coincident means: log p = -log 2 - (1/2) log(2 pi), H = log 2.
    X1, C1 = np.array([[0.0]]), np.array([[0.0], [0.0]])
    half = np.array([[0.5, 0.5]])
    assert_exact(implementation.variational_free_energy(X1, C1, 1.0, half), -0.5 * math.log(2 * math.pi))
    one = np.array([[1.0, 0.0]])
    assert_exact(implementation.variational_free_energy(X1, C1, 1.0, one), -math.log(2) - 0.5 * math.log(2 * math.pi))


def test_one_nearest_step_and_fit(implementation):
    # Cells {0}, {1, 9, 10}: means (0, 20/3); variance ((17/3)^2 + (7/3)^2 + (10/3)^2) / 4 = 73/6.
    means, variance = implementation.truncated_em_step(FOUR, np.array([[0.0], [1.0]]), 4.0, 1)
    assert_exact(means, [[0.0], [20 / 3]], 10.0)
    assert_exact(variance, 73 / 6, 10.0)
    # Then cells {0, 1}, {9, 10}: means (0.5, 9.5), variance 1/4, a fixed point.
    means, variance, F = implementation.fit(FOUR, np.array([[0.0], [1.0]]), 4.0, 1, 3)
    assert_exact(means, [[0.5], [9.5]], 10.0)
    assert_exact(variance, 0.25)
    # F_0 = -log 2 - (1/2) log(8 pi) - J_0/8 with J_0 = (0 + 0 + 64 + 81)/4;
    # F_1 = -log 2 - (1/2) log(2 pi 73/6) - J_1 / (73/3), J_1 = (0 + 1 + 49/9 + 100/9)/4 = 79/18;
    # F_2 = F_3 = -log 2 - (1/2) log(2 pi e / 4) (variance J/D = 1/4).
    F0 = -math.log(2) - 0.5 * math.log(8 * math.pi) - (145 / 4) / 8
    F1 = -math.log(2) - 0.5 * math.log(2 * math.pi * 73 / 6) - (79 / 18) / (73 / 3)
    F2 = -math.log(2) - 0.5 * math.log(2 * math.pi * math.e / 4)
    assert_exact(F, [F0, F1, F2, F2], 10.0)


def test_tie_case_steps(implementation):
    # The tie of claim ties-break-trajectories: X = {0, 1, 2}, means (0, 2). n = 1 is Lloyd (the tie to mean 0):
    # (0.5, 2), variance (1/4 + 1/4 + 0)/3 = 1/6.
    means, variance = implementation.truncated_em_step(TIE_X, TIE_C, 1.0, 1)
    assert_exact(means, [[0.5], [2.0]])
    assert_exact(variance, 1 / 6)
    # n = 2 at a tiny variance: the tie is split 1/2 : 1/2 (the soft step's limit (1/3, 5/3)).
    means, _ = implementation.truncated_em_step(TIE_X, TIE_C, 1e-4, 2)
    assert_exact(means, [[1 / 3], [5 / 3]])


def test_one_mean(implementation):
    # K = 1: the mean of the data; the variance (1/(N D)) sum ||x - mean||^2; the truncated
    # free energy for n = 1 is the log-likelihood of one Gaussian.
    X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])  # mean (2/3, 4/3)
    means, variance = implementation.truncated_em_step(X, np.array([[5.0, 5.0]]), 1.0, 1)
    assert_exact(means, [[2 / 3, 4 / 3]])
    # sum of squared deviations: (4/9 + 16/9) + (16/9 + 16/9) + (4/9 + 64/9) = 120/9, / (3 * 2)
    assert_exact(variance, 120 / 54)
    F = implementation.truncated_free_energy(X, means, variance, 1)
    assert_exact(F, -math.log(2 * math.pi * math.e * variance), 10.0)  # -(D/2) log(2 pi e s), D = 2


def test_critical_temperature(implementation):
    assert_exact(implementation.critical_temperature(np.array([[-1.0], [1.0]])), 2.0)
    # Covariance diag(2, 1/2) (normalised by N = 4): T_c = 4.
    X = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert_exact(implementation.critical_temperature(X), 4.0, 4.0)
    # Shifting the data does not move T_c.
    assert_exact(implementation.critical_temperature(X + 100.0), 4.0, 1e4)


def test_one_nearest_is_lloyd_and_all_nearest_is_the_soft_step_bit_for_bit(implementation):
    # Same floating-point operations: n = 1 weights are exactly one-hot, n = K weights are
    # the soft step's per-centre rescaled softmax weights.
    rng = np.random.default_rng(0)
    X, C = rng.standard_normal((30, 2)), rng.standard_normal((4, 2))
    lloyd = implementation.lloyd_step(X, C)
    soft = implementation.soft_step(X, C, 0.6)
    assert np.array_equal(implementation.truncated_em_step(X, C, 0.7, 1)[0], lloyd)
    assert np.array_equal(implementation.truncated_em_step(X, C, 0.3, 4)[0], soft)


def test_fit_records_the_free_energy_of_every_step(implementation):
    rng = np.random.default_rng(1)
    X, C = rng.standard_normal((25, 3)), rng.standard_normal((3, 3))
    for n_nearest in (1, 2, 3):
        means, variance, F = implementation.fit(X, C, 2.0, n_nearest, 4)
        expected_means, expected_variance, expected_F = C, 2.0, []
        expected_F.append(implementation.truncated_free_energy(X, C, 2.0, n_nearest))
        for _ in range(4):
            expected_means, expected_variance = implementation.truncated_em_step(X, expected_means, expected_variance, n_nearest)
            expected_F.append(implementation.truncated_free_energy(X, expected_means, expected_variance, n_nearest))
        assert_exact(means, expected_means, 10.0)
        assert_exact(variance, expected_variance, 10.0)
        assert_exact(F, expected_F, 100.0)
        assert np.all(np.diff(F) >= -F64 * 100.0)


def test_fit_raises_when_the_variance_collapses(implementation):
    # Two points, two means on them: the step keeps the means, the variance is 0.
    X = np.array([[0.0], [1.0]])
    with pytest.raises(ValueError, match=r"variance collapsed to 0 at step 1"):
        implementation.fit(X, X.copy(), 1.0, 1, 3)
    # The step itself returns the 0 (the M-step's value); no further call accepts it.
    _, variance = implementation.truncated_em_step(X, X.copy(), 1.0, 1)
    assert variance == 0.0
    # n_iter = 0 records the initial free energy only.
    _, _, F = implementation.fit(X, X.copy(), 1.0, 1, 0)
    assert F.shape == (1,)


def test_tiny_variance_keeps_the_step_exact(implementation):
    # At a variance where every posterior weight but the nearest underflows, the n = K step
    # still moves every mean to its (rescaled) weighted mean, like the soft step.
    X = np.array([[0.0], [1.0], [10.0]])
    C = np.array([[0.0], [1.0], [100.0]])  # mean 2 has no point near it
    means, variance = implementation.truncated_em_step(X, C, 1e-4, 3)
    assert np.all(np.isfinite(means)) and np.isfinite(variance)
    assert_exact(means[2], [10.0], 10.0)  # the point nearest to mean 2 dominates its weights
    # 81 / (2e-300) is finite: the value is the exact one, about -1.35e301 ...
    assert_exact(implementation.log_likelihood(X, C, 1e-300), -(81 / 2e-300) / 3, 1e301)
    # ... but 81 / 2e-307 overflows: log p = -inf for x = 10, below every float.
    assert implementation.log_likelihood(X, C, 1e-307) == -np.inf


# --- torch against the reference -------------------------------------------------------


def _bounds(X, C, variance, n_nearest, dtype):
    """Absolute bounds on |torch - reference| per function (kmeans_rbf.tolerances, module doc).

    The variance plays the temperature T = 2 sigma^2; the condition kappa is that of the
    truncated posterior (softmax restricted to K_i: entries outside have no weight).

    * log_joint: the distances over 2 sigma^2 and the normaliser's logarithms, each
      rounded, kappa = 1;
    * truncated_posterior: tolerance(kappa);
    * free energies: logits move by u (d_ik + min d) / (2 sigma^2); log-sum-exp moves by at
      most the largest of those (its gradient is q); plus the normaliser;
    * means: per mean, tolerance(kappa N / n_k) times the largest coordinate (the soft step's
      bound); a mean without mass has no bound (error_bounds explains why);
    * variance: tolerance(kappa) (K max d + 2 K reach spread + max d) / D, as in the claims
      tests (errors in q, in the means, and in the distances), plus the second-order term
      ``sum_k (n_k / N) |d mu_k|^2 / D`` of the distances to means that moved by d mu_k
      (it dominates where the points sit on their means and the first-order terms vanish);
    * critical temperature: the covariance of the rounded data, centred in the dtype with
      an error delta = tolerance * max|x| per coordinate: each entry moves by at most
      2 max|x - m| delta + delta^2, an eigenvalue by at most D entries, T_c by twice that.
    """
    d = reference.squared_distances(X, C)
    q = probabilistic.truncated_posterior(X, C, variance, n_nearest)
    T = 2 * variance
    kappa = condition_of_responsibilities(d, q, T, "softmax")
    N, D = X.shape
    K = len(C)
    tiny = np.finfo(np.float64).tiny
    normaliser = math.log(K) + 0.5 * D * abs(math.log(2 * math.pi * variance))
    spread = max(float(np.max(np.abs(X))), float(np.max(np.abs(C))), tiny)
    means, _ = probabilistic.truncated_em_step(X, C, variance, n_nearest)
    d_new = reference.squared_distances(X, means)
    reach = float(np.max(np.abs(means[None, :, :] - X[:, None, :])))
    mass = q.sum(axis=0)
    with np.errstate(divide="ignore"):  # a mean without mass: an infinite condition, on purpose
        step_condition = np.where(mass > 0, kappa * N / mass, np.inf)
    means_bound = np.array([tolerance(dtype, c) * spread for c in step_condition])
    # The second-order term |d mu_k|^2 of the distances, weighted by the mass n_k / N.
    second_order = float(np.sum(np.where(mass > 0, mass / N * D * np.where(mass > 0, means_bound, 0.0) ** 2, 0.0)))
    centred = X - X.mean(axis=0)
    centring = tolerance(dtype) * max(float(np.max(np.abs(X))), tiny)  # error of x - mean
    return {
        "kappa": kappa,
        "log_joint": tolerance(dtype) * (float(d.max()) / T + normaliser),
        "truncated_posterior": tolerance(dtype, kappa),
        "free_energy": tolerance(dtype) * (2 * float(d.max()) / T + normaliser + math.log(n_nearest)),
        "means": means_bound[:, None],
        "variance": tolerance(dtype, kappa) * (K * float(d_new.max()) + 2 * K * reach * spread + float(d_new.max())) / D
        + second_order / D,
        "critical_temperature": 2 * D * (2 * float(np.max(np.abs(centred))) * centring + centring**2),
    }


def _assert_within(function, actual, expected, bound):
    """``assert_within`` with torch's result required finite (a NaN must not pass as "off")."""
    assert np.all(np.isfinite(actual)), f"{function}: torch returned non-finite values"
    assert_within(actual, expected, bound, function)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
@given(problem=problems(), variance=temperatures(min_value=1e-2, max_value=1e2), n=st.integers(1, 5))
def test_torch_matches_reference(problem, variance, n, dtype, device):
    torch_calls = NumpyCalls(torch_probabilistic, dtype, device)
    X, C, _ = problem
    X, C = rounded(X, dtype), rounded(C, dtype)
    variance = float(rounded(np.array(variance), dtype))
    n = min(n, len(C))
    bounds = _bounds(X, C, variance, n, dtype)
    note(f"kappa = {bounds['kappa']:.3e}")
    assume(tolerance(dtype, bounds["kappa"]) <= MEANINGFUL)
    # Which means make up K_i is decided by comparing distances: two that are closer than
    # their rounding at the boundary of K_i (the n-th and (n+1)-th) may be ordered
    # differently in another precision, a legitimate difference; exact ties stay in.
    d = reference.squared_distances(X, C)
    if n < len(C):
        ordered = np.sort(d, axis=1)
        gap = ordered[:, n] - ordered[:, n - 1]
        assume(not np.any((gap > 0) & (gap <= 8 * tolerance(dtype) * d.max())))
    # Results must be representable in the dtype (torch raises OverflowError otherwise).
    expected_F = probabilistic.truncated_free_energy(X, C, variance, n)
    assume(abs(expected_F) < torch.finfo(dtype).max / 2)
    assume(float(np.max(np.abs(probabilistic.log_joint(X, C, variance)))) < torch.finfo(dtype).max / 2)

    _assert_within("log_joint", torch_calls.log_joint(X, C, variance),
                  probabilistic.log_joint(X, C, variance), bounds["log_joint"])
    q = torch_calls.truncated_posterior(X, C, variance, n)
    _assert_within("truncated_posterior", q, probabilistic.truncated_posterior(X, C, variance, n), bounds["truncated_posterior"])
    _assert_within("truncated_free_energy", torch_calls.truncated_free_energy(X, C, variance, n),
                  expected_F, bounds["free_energy"])
    _assert_within("log_likelihood", torch_calls.log_likelihood(X, C, variance),
                  probabilistic.log_likelihood(X, C, variance), bounds["free_energy"] + tolerance(dtype) * math.log(len(C)))
    means, new_variance = torch_calls.truncated_em_step(X, C, variance, n)
    expected_means, expected_variance = probabilistic.truncated_em_step(X, C, variance, n)
    comparable = bounds["means"][:, 0] <= MEANINGFUL * max(float(np.abs(X).max()), float(np.abs(C).max()), 1e-300)
    _assert_within("means", means[comparable], expected_means[comparable], bounds["means"][comparable])
    _assert_within("variance", new_variance, expected_variance, bounds["variance"])
    _assert_within("critical_temperature", torch_calls.critical_temperature(X),
                  probabilistic.critical_temperature(X), bounds["critical_temperature"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_torch_keeps_dtype_and_device(dtype, device):
    X = torch.tensor(FOUR, dtype=dtype, device=device)
    C = X[[0, 1]]
    q = torch_probabilistic.truncated_posterior(X, C, 1.0, 2)
    results = [
        torch_probabilistic.log_joint(X, C, 1.0),
        q,
        torch_probabilistic.variational_free_energy(X, C, 1.0, q),
        torch_probabilistic.truncated_free_energy(X, C, 1.0, 1),
        torch_probabilistic.log_likelihood(X, C, 1.0),
        *torch_probabilistic.truncated_em_step(X, C, 1.0, 2),
        *torch_probabilistic.fit(X, C, 1.0, 2, 2),
        torch_probabilistic.critical_temperature(X),
    ]
    for result in results:
        assert result.dtype == dtype and result.device.type == device


def test_torch_free_energy_gradient_is_the_envelope_formula():
    # dF/dmu_k = (1/N) sum_i q_ik (x_i - mu_k) / sigma^2 (envelope theorem: K_i is piecewise
    # constant and q optimal). Rounded with the posterior's condition kappa; terms of size
    # reach / sigma^2.
    rng = np.random.default_rng(2)
    X, C, variance = rng.standard_normal((20, 2)), rng.standard_normal((4, 2)), 0.8
    for n in (1, 2, 4):
        means = torch.tensor(C, requires_grad=True)
        torch_probabilistic.truncated_free_energy(torch.tensor(X), means, variance, n).backward()
        q = probabilistic.truncated_posterior(X, C, variance, n)
        expected = np.einsum("ik,ikd->kd", q, X[:, None, :] - C[None, :, :]) / (len(X) * variance)
        kappa = condition_of_responsibilities(reference.squared_distances(X, C), q, 2 * variance, "softmax")
        reach = float(np.max(np.abs(X[:, None, :] - C[None, :, :])))
        np.testing.assert_allclose(means.grad.numpy(), expected, rtol=0, atol=tolerance(np.float64, kappa) * reach / variance)


def test_torch_fit_is_differentiable_in_the_data_with_every_nearest_mean():
    # With n_nearest = K the M-step is the softmax soft step at T = 2 sigma^2, where sigma^2
    # (from the previous step) depends on X: its gradient must flow (a float temperature
    # would cut it, with a warning that the test configuration makes an error). Checked
    # against central differences of the reference in one coordinate, h = 1e-5: truncation
    # ~h^2 times the third derivative, rounding ~eps |m| / h, both below 1e-8 for these O(1)
    # means; the allowance 1e-6 is two orders above that.
    rng = np.random.default_rng(4)
    X, C, h = rng.standard_normal((12, 2)), rng.standard_normal((3, 2)), 1e-5
    Xt = torch.tensor(X, requires_grad=True)
    means, _, _ = torch_probabilistic.fit(Xt, torch.tensor(C), 0.6, 3, n_iter=2)
    (gradient,) = torch.autograd.grad(means.sum(), Xt)
    shifted = [X.copy(), X.copy()]
    shifted[0][0, 0] += h
    shifted[1][0, 0] -= h
    up, down = (probabilistic.fit(Y, C, 0.6, 3, n_iter=2)[0].sum() for Y in shifted)
    assert abs(float(gradient[0, 0]) - (up - down) / (2 * h)) <= 1e-6


# --- bad input -------------------------------------------------------------------------

X_OK = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
M_OK = np.array([[0.0, 0.0], [2.0, 0.0]])
Q_OK = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
VALID = {
    "log_joint": {"X": X_OK, "means": M_OK, "variance": 1.0},
    "truncated_posterior": {"X": X_OK, "means": M_OK, "variance": 1.0, "n_nearest": 1},
    "variational_free_energy": {"X": X_OK, "means": M_OK, "variance": 1.0, "q": Q_OK},
    "truncated_free_energy": {"X": X_OK, "means": M_OK, "variance": 1.0, "n_nearest": 2},
    "log_likelihood": {"X": X_OK, "means": M_OK, "variance": 1.0},
    "truncated_em_step": {"X": X_OK, "means": M_OK, "variance": 1.0, "n_nearest": 2},
    "fit": {"X": X_OK, "means0": M_OK, "variance0": 1.0, "n_nearest": 1, "n_iter": 2},
    "critical_temperature": {"X": X_OK},
}


def _with(a, value, index=(0, 0)):
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


# (id, replaced arguments, error, message); each applies to every function taking them.
CASES = [
    ("variance-zero", {"variance": 0.0}, ValueError, r"variance must be a finite number > 0; got 0\.0"),
    ("variance-negative", {"variance": -1.0}, ValueError, r"variance must be a finite number > 0; got -1\.0"),
    ("variance-nan", {"variance": math.nan}, ValueError, r"variance must be a finite number > 0; got nan"),
    ("variance-inf", {"variance": math.inf}, ValueError, r"variance must be a finite number > 0; got inf"),
    ("variance-text", {"variance": "1"}, TypeError, r"variance must be a real number; got str"),
    ("variance-bool", {"variance": True}, TypeError, r"variance must be a real number; got bool"),
    ("variance-none", {"variance": None}, ValueError, r"variance is required"),
    ("variance0-zero", {"variance0": 0.0}, ValueError, r"variance0 must be a finite number > 0"),
    ("n_nearest-zero", {"n_nearest": 0}, ValueError, r"n_nearest must be >= 1; got 0"),
    ("n_nearest-above-K", {"n_nearest": 3}, ValueError, r"n_nearest must be between 1 and K = 2 \(the number of means\); got 3"),
    ("n_nearest-float", {"n_nearest": 1.0}, TypeError, r"n_nearest must be an integer; got float"),
    ("n_nearest-bool", {"n_nearest": True}, TypeError, r"n_nearest must be an integer; got bool"),
    ("n_iter-negative", {"n_iter": -1}, ValueError, r"n_iter must be >= 0; got -1"),
    ("X-nan", {"X": _with(X_OK, math.nan)}, ValueError, r"X contains NaN"),
    ("X-inf", {"X": _with(X_OK, math.inf)}, ValueError, r"X contains inf"),
    ("X-1-d", {"X": X_OK[0]}, ValueError, r"X must be 2-D"),
    ("X-no-rows", {"X": np.zeros((0, 2))}, ValueError, r"X is empty"),
    ("means-nan", {"means": _with(M_OK, math.nan)}, ValueError, r"means contains NaN"),
    ("means-1-d", {"means": M_OK[0]}, ValueError, r"means must be 2-D"),
    ("means-no-rows", {"means": np.zeros((0, 2))}, ValueError, r"means is empty"),
    ("means-features", {"means": np.zeros((2, 3))}, ValueError, r"X and means must have the same number of features; X has 2, means has 3"),
    ("means0-features", {"means0": np.zeros((2, 3))}, ValueError, r"X and means0 must have the same number of features"),
    ("means0-inf", {"means0": _with(M_OK, -math.inf)}, ValueError, r"means0 contains inf"),
    ("q-shape", {"q": Q_OK[:2]}, ValueError, r"q must have shape \(N, K\) = \(3, 2\); got \(2, 2\)"),
    ("q-negative", {"q": np.array([[1.5, -0.5], [0.5, 0.5], [0.0, 1.0]])}, ValueError, r"q has negative entries"),
    ("q-not-normalised", {"q": np.array([[1.0, 0.1], [0.5, 0.5], [0.0, 1.0]])}, ValueError, r"the rows of q must sum to 1; a row is off by 0\.1"),
    ("q-nan", {"q": _with(Q_OK, math.nan)}, ValueError, r"q contains NaN"),
]
BAD_CALLS = [
    pytest.param(function, overrides, error, message, id=f"{function}-{case}")
    for case, overrides, error, message in CASES
    for function, arguments in VALID.items()
    if all(name in arguments for name in overrides)
]


# Bad input goes to the modules as it is (a NumPy array stays one for torch only where the
# case is about it), not through the NumPy-in/NumPy-out fixture.
@pytest.mark.parametrize("module", [probabilistic, torch_probabilistic], ids=["reference", "torch"])
@pytest.mark.parametrize("function, overrides, error, message", BAD_CALLS)
def test_bad_input_is_rejected_with_a_clear_error(module, function, overrides, error, message):
    kwargs = {**VALID[function], **overrides}
    if module is torch_probabilistic:
        kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with pytest.raises(error, match=message):
        getattr(module, function)(**kwargs)


def test_torch_specific_bad_input():
    X, M = torch.tensor(X_OK), torch.tensor(M_OK)
    with pytest.raises(TypeError, match=r"X must be a torch.Tensor; got ndarray"):
        torch_probabilistic.log_likelihood(X_OK, M, 1.0)
    with pytest.raises(TypeError, match=r"X and means must have the same dtype"):
        torch_probabilistic.log_likelihood(X, M.float(), 1.0)
    with pytest.raises(TypeError, match=r"means must be a floating-point tensor"):
        torch_probabilistic.log_likelihood(X, M.long(), 1.0)
    # 2 sigma^2 below float32's smallest normal number: the temperature would round to 0.
    with pytest.raises(ValueError, match=r"variance 1e-39 is outside the range of torch.float32"):
        torch_probabilistic.log_likelihood(X.float(), M.float(), 1e-39)
    # A 0-d tensor is a valid variance.
    torch_probabilistic.log_likelihood(X, M, torch.tensor(1.0))


def test_reference_rejects_non_numeric_data():
    with pytest.raises(TypeError, match=r"means must be an array of real numbers"):
        probabilistic.log_likelihood(X_OK, [["a", "b"]], 1.0)
    with pytest.raises(TypeError, match=r"X must be an array of real numbers"):
        probabilistic.critical_temperature([[True], [False]])
