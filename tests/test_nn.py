"""Tests of ``kmeans_rbf.nn.RBFClustering``, the clustering layer.

The layer calls the private twins of ``kmeans_rbf.torch``, so against that module it must
agree *exactly* (same code, same inputs, same order of operations): those comparisons use
``rtol=0, atol=0``. Against the NumPy reference (float64, other summation order) the
tolerance is 1e-10 relative, far above the ~1e-15 that the different orders of the sums
over N <= 100 points give, and far below every effect a broken variant produces.

Each test names, in its docstring, the broken implementation it is there to catch.
"""

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from torch import nn

from kmeans_rbf import reference
from kmeans_rbf import strategies
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.kinds import KINDS
from kmeans_rbf.nn import ClusteringOutput, RBFClustering

LOSSES = ("objective", "free_energy")
EXACT = dict(rtol=0, atol=0)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _problem(n=30, k=4, dim=3, seed=0, dtype=torch.float64):
    """Gaussian data and centres at unit scale: no ties, and at T = 2 every row of
    softmax and entmax15 has several non-zero entries (the through-r terms matter)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, dim, generator=g, dtype=torch.float64)
    C = torch.randn(k, dim, generator=g, dtype=torch.float64)
    return X.to(dtype), C.to(dtype)


def _temperature(kind):
    return None if kind == "hard" else 2.0


def _layer(C, kind, loss, temperature="default"):
    T = _temperature(kind) if temperature == "default" else temperature
    return RBFClustering(*C.shape, temperature=T, kind=kind, loss=loss, centres=C)


def _expected_loss(X, C, T, kind, loss):
    function = krbf_torch.objective if loss == "objective" else krbf_torch.free_energy
    return function(X, C, T, kind)


def _blobs(n_per_blob=20, seed=0):
    """Two Gaussian blobs (std 0.5) centred at (-3, 0) and (3, 0), float64."""
    g = torch.Generator().manual_seed(seed)
    left = 0.5 * torch.randn(n_per_blob, 2, generator=g, dtype=torch.float64)
    right = 0.5 * torch.randn(n_per_blob, 2, generator=g, dtype=torch.float64)
    shift = torch.tensor([3.0, 0.0], dtype=torch.float64)
    return torch.cat([left - shift, right + shift]), n_per_blob


# --- forward and backward against kmeans_rbf.torch and the reference ------------------


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("kind", KINDS)
def test_forward_equals_torch_functions(kind, loss):
    """Catches a wrong map or logits (e.g. -d instead of -d/T), the two losses swapped,
    a sum instead of a mean, or the responsibilities of a different temperature."""
    X, C = _problem()
    T = _temperature(kind)
    out = _layer(C, kind, loss)(X)
    assert isinstance(out, ClusteringOutput)
    torch.testing.assert_close(out.responsibilities, krbf_torch.responsibilities(X, C, T, kind), **EXACT)
    torch.testing.assert_close(out.loss, _expected_loss(X, C, T, kind, loss), **EXACT)
    assert out.responsibilities.shape == (30, 4) and out.loss.shape == ()
    if kind != "hard":  # the two losses differ here, so swapping them cannot pass
        other = "free_energy" if loss == "objective" else "objective"
        assert abs((out.loss - _expected_loss(X, C, T, kind, other)).item()) > 1e-2


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_equals_torch_and_reference(kind, loss):
    """Catches r detached in the objective (drops the through-r term), r *not* detached
    where F_T needs none (no effect in exact arithmetic, but checked), centres that are
    not the parameter autograd reaches, and a wrong factor in the loss.

    The through-r term is asserted to be large here, so detaching r must fail."""
    X, C = _problem()
    T = _temperature(kind)
    layer = _layer(C, kind, loss)
    layer(X).loss.backward()
    grad = layer.centres.grad
    if loss == "objective":
        expected_torch = krbf_torch.gradient(X, C, T, kind)
        expected_ref = reference.gradient(X.numpy(), C.numpy(), T, kind)
    else:
        expected_torch = krbf_torch.free_energy_gradient(X, C, T, kind)
        expected_ref = reference.free_energy_gradient(X.numpy(), C.numpy(), T, kind)
    torch.testing.assert_close(grad, expected_torch, **EXACT)
    scale = float(np.abs(expected_ref).max())
    # float64 on both sides; only the summation order differs (N = 30 points).
    np.testing.assert_allclose(grad.numpy(), expected_ref, rtol=1e-10, atol=1e-10 * scale)
    if kind != "hard" and loss == "objective":
        frozen_r = reference.free_energy_gradient(X.numpy(), C.numpy(), T, kind)
        assert np.abs(expected_ref - frozen_r).max() > 1e-2 * scale


def test_gradient_reaches_X():
    """Catches X detached (or the forward run under no_grad): an encoder below the layer
    would then never learn. The X gradient equals autograd through kmeans_rbf.torch."""
    X, C = _problem()
    X1 = X.clone().requires_grad_(True)
    _layer(C, "entmax15", "objective")(X1).loss.backward()
    X2 = X.clone().requires_grad_(True)
    krbf_torch.objective(X2, C, 2.0, "entmax15").backward()
    torch.testing.assert_close(X1.grad, X2.grad, **EXACT)
    assert X1.grad.abs().max() > 0


@settings(max_examples=30, deadline=None)
@given(strategies.problems())
def test_invariants_rows_sum_to_one_and_nearest_centre_is_the_largest(problem):
    """Catches a map that does not land on the simplex (e.g. unnormalised exp(-d/T)) or
    one that reverses the order (logits +d/T: the farthest centre would get most mass)."""
    X, C, T = problem
    X, C = torch.from_numpy(X), torch.from_numpy(C)
    for kind in KINDS:
        r = _layer(C, kind, "objective", temperature=T)(X).responsibilities.detach()
        torch.testing.assert_close(r.sum(dim=1), torch.ones(len(X), dtype=r.dtype))
        nearest = krbf_torch.assign(X, C)
        # The nearest centre carries the largest responsibility (ties in r aside, argmax
        # of r is argmin of d): checked as "r at the nearest centre is the row maximum".
        at_nearest = r.gather(1, nearest[:, None])[:, 0]
        torch.testing.assert_close(at_nearest, r.max(dim=1).values, **EXACT)


# --- training ----------------------------------------------------------------------------


def _train(X, C0, kind, loss, temperature, steps=100, lr=0.5):
    layer = RBFClustering(*C0.shape, temperature=temperature, kind=kind, loss=loss, centres=C0)
    optimiser = torch.optim.SGD(layer.parameters(), lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        layer(X).loss.backward()
        optimiser.step()
    return layer.centres.detach().numpy()


def _soft_step_fixed_point(X, C, temperature, kind, steps=100):
    C = C.numpy()
    for _ in range(steps):
        C = reference.soft_step(X.numpy(), C, temperature, kind)
    return C


C0_BLOBS = torch.tensor([[-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)

# Tolerance of the training tests. SGD with lr = 1/2 on F_T moves c_k by the fraction
# 2 lr n_k / N = n_k / N ~ 1/2 of the way to its soft-step mean (see RBFClustering), so
# near the fixed point the error contracts by ~1/2 per step: after 200 steps the initial
# error (~3) is down to ~2^-200 and only rounding is left, a few units of 1e-16 times the
# coordinates (~3) over 1/(1 - 1/2) steps: ~1e-15. 1e-10 leaves a wide margin and is
# still 7 orders below what the broken variants give (1e-3 and more, see below).
TRAINING_ATOL = 1e-10


@pytest.mark.parametrize("kind", ["softmax", "entmax15"])
def test_sgd_on_free_energy_reaches_the_blob_means(kind):
    """Two well separated blobs at T = 0.5: the soft-step fixed point is the pair of blob
    means (softmax: up to exp(-(36 - O(1))/0.5) ~ 1e-29; entmax15: exactly, every margin is
    far above 2T). Catches a wrong sign or scale of the gradient (a sum over points
    instead of a mean makes lr = 1/2 diverge), a gradient that does not reach the
    centres (they would stay at C0), and responsibilities of the wrong centre."""
    X, n = _blobs()
    means = np.stack([X[:n].mean(dim=0).numpy(), X[n:].mean(dim=0).numpy()])
    fixed_point = _soft_step_fixed_point(X, C0_BLOBS, 0.5, kind)
    np.testing.assert_allclose(fixed_point, means, rtol=0, atol=TRAINING_ATOL)
    C = _train(X, C0_BLOBS, kind, "free_energy", 0.5)
    np.testing.assert_allclose(C, fixed_point, rtol=0, atol=TRAINING_ATOL)


def test_sgd_on_free_energy_reaches_the_soft_step_fixed_point_not_the_objective_one():
    """At T = 4 the softmax soft-step fixed point is ~1e-3 away from the blob means (each
    blob pulls on the other centre), and stationary points of L_T are ~1e-2 away from it.
    SGD on F_T must land on the soft-step fixed point: catches a free-energy loss that is
    really L_T (the through-r term shifts the stationary point), or one whose gradient
    misses the pull of the far points."""
    X, n = _blobs()
    T = 4.0
    means = np.stack([X[:n].mean(dim=0).numpy(), X[n:].mean(dim=0).numpy()])
    fixed_point = _soft_step_fixed_point(X, C0_BLOBS, T, "softmax")
    assert np.abs(fixed_point - means).max() > 1e-3  # the case is not the trivial one
    C = _train(X, C0_BLOBS, "softmax", "free_energy", T)
    np.testing.assert_allclose(C, fixed_point, rtol=0, atol=TRAINING_ATOL)
    # Its gradient vanishes there, to rounding.
    grad = reference.free_energy_gradient(X.numpy(), C, T, "softmax")
    assert np.abs(grad).max() < TRAINING_ATOL
    # The objective is a different function with a different stationary point.
    C_objective = _train(X, C0_BLOBS, "softmax", "objective", T)
    assert np.abs(C_objective - fixed_point).max() > 1e-3
    assert np.abs(reference.gradient(X.numpy(), C_objective, T, "softmax")).max() < TRAINING_ATOL


def test_trains_end_to_end_inside_a_model():
    """nn.Sequential(Linear, RBFClustering) trained by SGD on the clustering loss.

    Catches an X detached inside the layer (the Linear layer gets no gradient), NaN in the
    backward of entmax15 (sqrt at zero), and a loss that does not decrease. (Trained on
    the clustering loss alone, the encoder can shrink its output towards a point; that is
    the optimum of this toy objective, and enough to see the loss go down.)"""
    g = torch.Generator().manual_seed(1)
    X, _ = _blobs(n_per_blob=25, seed=2)
    X = torch.cat([X, torch.randn(50, 2, generator=g, dtype=torch.float64)], dim=1)  # D_in 4
    linear = nn.Linear(4, 3, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(3, 4, generator=g, dtype=torch.float64))
        linear.bias.zero_()
    C0 = linear(X[torch.tensor([0, 10, 30, 40])]).detach()
    layer = RBFClustering(4, 3, temperature=1.0, kind="entmax15", centres=C0)
    model = nn.Sequential(linear, layer)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.02)
    losses = []
    for step in range(60):
        optimiser.zero_grad()
        out = model(X)
        assert torch.isfinite(out.responsibilities).all()
        out.loss.backward()
        for parameter in model.parameters():
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all()
        if step == 0:
            assert linear.weight.grad.abs().max() > 0 and layer.centres.grad.abs().max() > 0
        losses.append(out.loss.item())
        optimiser.step()
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0]
    assert sum(b > a for a, b in zip(losses, losses[1:])) == 0  # monotone at this lr


# --- dtype and device --------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("temperature", [1e-6, 0.3])
@pytest.mark.parametrize("kind", ["softmax", "entmax15"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_dtype_and_device_are_kept(dtype, kind, temperature, device):
    """Outputs have X's dtype and device and are finite, even at T = 1e-6. Half precision
    is computed in float32 and rounded once: the outputs and the centre gradient equal
    the float32 layer's, rounded. Catches outputs left in float32, a computation in
    float16 (its rounding differs, and at T = 1e-6, d/T overflows it), a lost device."""
    X64, C64 = _problem(n=20, k=3, dim=2, seed=3)
    X, C = X64.to(dtype=dtype, device=device), C64.to(dtype=dtype, device=device)
    layer = _layer(C, kind, "objective", temperature=temperature)
    assert layer.centres.dtype == dtype and layer.centres.device.type == device
    out = layer(X)
    out.loss.backward()
    for tensor in (out.responsibilities, out.loss, layer.centres.grad):
        assert tensor.dtype == dtype and tensor.device.type == device
        assert torch.isfinite(tensor).all()
    r = out.responsibilities.detach().double()
    K = r.shape[1]
    torch.testing.assert_close(r.sum(dim=1), torch.ones(20, dtype=torch.float64, device=device),
                               rtol=0, atol=K * torch.finfo(dtype).eps)
    if dtype in (torch.float16, torch.bfloat16):
        wide = _layer(C.float(), kind, "objective", temperature=temperature)
        wide_out = wide(X.float())
        wide_out.loss.backward()
        torch.testing.assert_close(out.responsibilities, wide_out.responsibilities.to(dtype),
                                   **EXACT)
        torch.testing.assert_close(out.loss, wide_out.loss.to(dtype), **EXACT)
        torch.testing.assert_close(layer.centres.grad, wide.centres.grad.to(dtype), **EXACT)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_clusters=0), ValueError, "n_clusters must be >= 1"),
        (dict(n_clusters=2.0), TypeError, "n_clusters must be an integer"),
        (dict(n_features=0), ValueError, "n_features must be >= 1"),
        (dict(n_features=True), TypeError, "n_features must be an integer"),
        (dict(kind="sparsemax"), ValueError, "kind must be one of"),
        (dict(loss="mse"), ValueError, "loss must be one of 'objective', 'free_energy'"),
        (dict(temperature=0.0), ValueError, "temperature must be a finite number > 0"),
        (dict(temperature=-1.0), ValueError, "temperature must be a finite number > 0"),
        (dict(temperature=float("nan")), ValueError, "temperature must be a finite number > 0"),
        (dict(temperature=float("inf")), ValueError, "temperature must be a finite number > 0"),
        (dict(temperature=None), ValueError, "temperature is required for kind='entmax15'"),
        (dict(temperature="1"), TypeError, "temperature must be a real number"),
        (dict(centres=[[0.0, 0.0]]), ValueError, r"centres must have shape .* \(2, 2\)"),
        (dict(centres=[0.0, 0.0]), ValueError, "centres must be 2-D"),
        (dict(centres=[[0.0, 0.0], [0.0, float("nan")]]), ValueError, "centres contains NaN"),
        (dict(centres=[[0.0, 0.0], [0.0, float("inf")]]), ValueError, "centres contains inf"),
        (dict(centres="ab"), TypeError, "centres must be an array of real numbers"),
        (dict(dtype=torch.int64), TypeError, "dtype must be a real floating-point"),
    ],
)
def test_bad_construction_arguments_raise(kwargs, error, match):
    """Catches a missing check: each bad argument fails at construction, naming it."""
    arguments = dict(n_clusters=2, n_features=2, temperature=1.0) | kwargs
    with pytest.raises(error, match=match):
        RBFClustering(arguments.pop("n_clusters"), arguments.pop("n_features"), **arguments)


def _forward_cases():
    ok = torch.zeros(3, 2, dtype=torch.float64)
    nan, inf = ok.clone(), ok.clone()
    nan[1, 0], inf[2, 1] = float("nan"), float("-inf")
    return [
        (ok.numpy(), TypeError, "X must be a torch.Tensor"),
        (ok.long(), TypeError, "X must be a floating-point tensor"),
        (ok.float(), TypeError, "X and C must have the same dtype"),
        (ok[0], ValueError, "X must be 2-D"),
        (ok[:0], ValueError, "X is empty"),
        (ok[:, :0], ValueError, "X has no features"),
        (torch.zeros(3, 5, dtype=torch.float64), ValueError, "same number of features; X has 5"),
        (nan, ValueError, "X contains NaN"),
        (inf, ValueError, "X contains inf"),
    ]


@pytest.mark.parametrize("X, error, match", _forward_cases())
def test_bad_forward_input_raises(X, error, match):
    """Catches a forward that skips the checks of kmeans_rbf.torch (NaN would propagate
    silently into every gradient; a wrong width would broadcast or fail obscurely)."""
    layer = RBFClustering(2, 2, temperature=1.0, dtype=torch.float64)
    with pytest.raises(error, match=match):
        layer(X)
    # The same message as the functional API, for the same input.
    with pytest.raises(error, match=match):
        krbf_torch.responsibilities(X, layer.centres.detach(), 1.0, "entmax15")


def test_forward_refuses_diverged_centres():
    """Catches a forward that does not check its own parameter: after a diverged
    optimiser step NaN centres raise instead of returning NaN responsibilities."""
    layer = RBFClustering(2, 2, temperature=1.0, dtype=torch.float64)
    with torch.no_grad():
        layer.centres[0, 0] = float("nan")
    with pytest.raises(ValueError, match="C contains NaN"):
        layer(torch.zeros(3, 2, dtype=torch.float64))


# --- temperature, state, construction ---------------------------------------------------


def test_temperature_setter_validates_and_takes_effect():
    """Catches a temperature read once at construction (annealing would do nothing), and a
    setter that accepts invalid values or leaves the layer in a broken state."""
    X, C = _problem()
    layer = _layer(C, "softmax", "free_energy", temperature=2.0)
    torch.testing.assert_close(layer(X).loss, krbf_torch.free_energy(X, C, 2.0, "softmax"), **EXACT)
    layer.temperature = torch.tensor(0.25, dtype=torch.float64)  # a 0-d tensor is accepted
    assert layer.temperature == 0.25 and type(layer.temperature) is float
    out = layer(X)
    torch.testing.assert_close(out.responsibilities, krbf_torch.responsibilities(X, C, 0.25, "softmax"),
                               **EXACT)
    torch.testing.assert_close(out.loss, krbf_torch.free_energy(X, C, 0.25, "softmax"), **EXACT)
    for bad, error in [(0.0, ValueError), (-2.0, ValueError), (float("nan"), ValueError),
                       (None, ValueError), (True, TypeError), ([1.0], TypeError)]:
        with pytest.raises(error, match="temperature"):
            layer.temperature = bad
        assert layer.temperature == 0.25
    assert "temperature" not in layer.state_dict()
    hard = _layer(C, "hard", "objective", temperature=None)
    hard.temperature = 3.0
    hard.temperature = None  # ignored by kind='hard', hence optional there
    with pytest.raises(AttributeError):
        layer.kind = "hard"  # kind and loss are fixed at construction
    with pytest.raises(AttributeError):
        layer.loss = "objective"


def test_state_dict_round_trip():
    """Catches centres kept as a plain tensor attribute (absent from state_dict(), not
    saved, not moved by .to()): a fresh layer loaded from the saved state gives the same
    outputs, bit for bit."""
    X, C = _problem()
    trained = _layer(C, "entmax15", "objective")
    assert list(trained.state_dict()) == ["centres"]
    assert [p is trained.centres for p in trained.parameters()] == [True]
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    fresh = RBFClustering(4, 3, temperature=2.0, dtype=torch.float64)
    assert not torch.equal(fresh.centres, trained.centres)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    a, b = trained(X), fresh(X)
    torch.testing.assert_close(a.responsibilities, b.responsibilities, **EXACT)
    torch.testing.assert_close(a.loss, b.loss, **EXACT)
    with pytest.raises(RuntimeError, match="size mismatch"):
        RBFClustering(5, 3, temperature=2.0).load_state_dict(trained.state_dict())


def test_centres_are_copied_and_learnable():
    """Catches a layer that aliases the caller's tensor (training would overwrite it) or
    whose centres do not require grad."""
    C = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    layer = RBFClustering(2, 2, temperature=1.0, centres=C)
    C[0, 0] = 100.0
    assert layer.centres[0, 0].item() == 0.0
    assert isinstance(layer.centres, nn.Parameter) and layer.centres.requires_grad
    assert layer.centres.dtype == torch.float64  # from the tensor given
    from_list = RBFClustering(2, 2, temperature=1.0, centres=[[0, 1], [2, 3]])
    assert from_list.centres.dtype == torch.get_default_dtype()
    as_half = RBFClustering(2, 2, temperature=1.0, centres=C, dtype=torch.float16)
    assert as_half.centres.dtype == torch.float16


def test_random_initialisation_is_reproducible_and_standard_normal():
    """Catches an uninitialised (torch.empty) parameter, an initialisation that ignores
    torch's global seed, and a reset that ignores its generator."""
    with torch.random.fork_rng():  # leaves the global generator as it was
        draws = []
        for _ in range(2):
            torch.manual_seed(5)
            draws.append(RBFClustering(2000, 2, temperature=1.0, dtype=torch.float64).centres)
    torch.testing.assert_close(draws[0], draws[1], **EXACT)
    assert abs(draws[0].mean().item()) < 0.1 and abs(draws[0].std().item() - 1) < 0.1
    layer = RBFClustering(2000, 2, temperature=1.0, dtype=torch.float64)
    layer.reset_parameters(generator=torch.Generator().manual_seed(5))
    first = layer.centres.detach().clone()
    layer.reset_parameters(generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(layer.centres.detach(), first, **EXACT)
    assert abs(first.mean().item()) < 0.1 and abs(first.std().item() - 1) < 0.1


def test_from_data_picks_distinct_rows_of_X():
    """Catches sampling with replacement, or by index without regard to duplicate rows:
    two equal centres would share every responsibility forever (same gradient)."""
    X = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [5.0, 5.0], [0.0, 1.0]])
    for seed in range(20):
        layer = RBFClustering.from_data(
            X, 2, temperature=0.5, generator=torch.Generator().manual_seed(seed)
        )
        assert sorted(map(tuple, layer.centres.tolist())) == [(0.0, 1.0), (5.0, 5.0)]
    X, _ = _problem(n=50, dim=2, seed=4, dtype=torch.float32)
    make = lambda: RBFClustering.from_data(  # noqa: E731
        X, 6, temperature=0.5, kind="softmax", loss="free_energy",
        generator=torch.Generator().manual_seed(7),
    )
    layer = make()
    rows = {tuple(row) for row in X.tolist()}
    centres = [tuple(row) for row in layer.centres.tolist()]
    assert len(set(centres)) == 6 and set(centres) <= rows
    torch.testing.assert_close(make().centres, layer.centres, **EXACT)  # seeded
    assert layer.centres.dtype == torch.float32
    assert (layer.kind, layer.loss, layer.temperature) == ("softmax", "free_energy", 0.5)
    with pytest.raises(ValueError, match="X has 2 distinct rows; n_clusters=3"):
        RBFClustering.from_data(X[:2].repeat(4, 1), 3, temperature=1.0)
    with pytest.raises(ValueError, match="X contains NaN"):
        RBFClustering.from_data(torch.tensor([[float("nan")]]), 1, temperature=1.0)


def test_extra_repr():
    """Catches a repr that omits the hyperparameters (printing a model must show them)."""
    layer = RBFClustering(3, 2, temperature=0.5, kind="softmax", loss="free_energy")
    assert repr(layer) == (
        "RBFClustering(n_clusters=3, n_features=2, temperature=0.5, kind='softmax', "
        "loss='free_energy')"
    )
    layer.temperature = 0.125
    assert "temperature=0.125" in repr(layer)


def test_half_precision_overflow_raises():
    """Catches a loss silently rounded to inf in float16: d = 90000 is finite in the
    float32 working dtype but not in float16 (largest 65504), as in kmeans_rbf.torch."""
    layer = RBFClustering(1, 1, temperature=1.0, centres=[[0.0]], dtype=torch.float16)
    assert layer(torch.tensor([[200.0]], dtype=torch.float16)).loss.item() == 40000.0
    with pytest.raises(OverflowError, match="overflows torch.float16"):
        layer(torch.tensor([[300.0]], dtype=torch.float16))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_temperature_outside_the_working_range_raises(dtype):
    """Catches T silently rounded to 0 in float32 (d/T = inf, NaN responsibilities): the
    check of kmeans_rbf.torch is applied at forward, where the dtype is known. The same
    T is fine for a float64 layer."""
    X = torch.zeros(2, 1, dtype=dtype)
    layer = RBFClustering(2, 1, temperature=1e-39, centres=[[0.0], [1.0]], dtype=dtype)
    with pytest.raises(ValueError, match="temperature 1e-39 is outside the range of torch.float32"):
        layer(X)
    wide = RBFClustering(2, 1, temperature=1e-39, centres=[[0.0], [1.0]], dtype=torch.float64)
    assert torch.equal(wide(X.double()).responsibilities,
                       torch.tensor([[1.0, 0.0]] * 2, dtype=torch.float64))
