"""torch implementation: the names and meaning of ``kmeans_rbf.reference`` for torch tensors.

CPU and CUDA; float64, float32, bfloat16 and float16; differentiable with autograd.
Every function keeps the dtype and device of its input. Half-precision inputs
(float16, bfloat16) are computed in float32 and the results rounded back: their 8- and
11-bit significands cannot hold ``exp(-d/T)`` at low temperature or sums over many
points. The mathematics and the numerical choices are those of the reference (see its
module docstring); only what is specific to torch is commented here.

Examples
--------
>>> import torch
>>> from kmeans_rbf import torch as krbf
>>> X = torch.tensor([[0.0], [1.0], [2.0]])
>>> C = torch.tensor([[0.0], [2.0]])
>>> krbf.assign(X, C)
tensor([0, 0, 1])
>>> krbf.soft_step(X, C, temperature=1e-3, kind="entmax15")   # the tie x = 1 is split
tensor([[0.3333],
        [1.6667]])
"""

import torch

from . import _validation as validation
from .kinds import SOFT_KINDS

__all__ = [
    "squared_distances",
    "assign",
    "margins",
    "softmax",
    "entmax15",
    "sparsemax",
    "responsibilities",
    "objective",
    "free_energy",
    "gradient",
    "free_energy_gradient",
    "lloyd_step",
    "soft_step",
    "kmeans",
    "anneal",
]

_HALF = (torch.float16, torch.bfloat16)


def _working_dtype(dtype):
    return torch.float32 if dtype in _HALF else dtype


def _floating_tensor(a, name):
    if not isinstance(a, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor; got {type(a).__name__} "
            "(kmeans_rbf.reference takes NumPy arrays)"
        )
    if not a.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got {a.dtype}")
    return a


def _data_and_centres(X, C, centres_name="C"):
    """Validated X and C in the working dtype, and the dtype to return results in."""
    X, C = _floating_tensor(X, "X"), _floating_tensor(C, centres_name)
    if X.dtype != C.dtype:
        raise TypeError(f"X and {centres_name} must have the same dtype; got {X.dtype} and {C.dtype}")
    if X.device != C.device:
        raise ValueError(f"X and {centres_name} must be on the same device; got {X.device} and {C.device}")
    validation.validate_data_and_centres(X, C, centres_name)
    working = _working_dtype(X.dtype)
    return X.to(working), C.to(working), X.dtype


def _returned(result, dtype):
    """``result`` in the caller's dtype; a value beyond that dtype's range is an error."""
    result = result.to(dtype)
    if dtype in _HALF and result.is_floating_point():
        if not bool(torch.isfinite(result).all()):
            raise OverflowError(
                f"the result overflows {dtype} (largest {torch.finfo(dtype).max:g}); "
                "pass float32 inputs or rescale X and C"
            )
    return result


def _validate_representable(temperature, dtype):
    """A temperature outside the working dtype's normal range would round to 0 or inf."""
    if temperature is not None:
        info = torch.finfo(_working_dtype(dtype))
        if not info.tiny <= temperature <= info.max:
            raise ValueError(
                f"temperature {temperature:g} is outside the range of {_working_dtype(dtype)} "
                f"([{info.tiny:g}, {info.max:g}]); use float64 inputs"
            )


def _logits_tensor(Z):
    Z = _floating_tensor(Z, "Z")
    validation.validate_logits(Z)
    return Z.to(_working_dtype(Z.dtype)), Z.dtype


# --- distances and assignment ----------------------------------------------------------


def squared_distances(X, C):
    """Squared Euclidean distances ``d_ik = ||x_i - c_k||^2``; see ``reference.squared_distances``.

    Returns a (N, K) tensor of the input dtype. Like every function here, raises
    OverflowError where a result is finite in the working dtype but overflows the input
    dtype (float16: above 65504) rather than return inf.

    Examples
    --------
    >>> squared_distances(torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([[0., 4.],
            [1., 1.]])
    """
    X, C, dtype = _data_and_centres(X, C)
    return _returned(_squared_distances(X, C), dtype)


def _squared_distances(X, C):
    differences = X[:, None, :] - C[None, :, :]
    d = torch.sum(differences**2, dim=2)
    validation.validate_distances_finite(d)
    return d


def assign(X, C):
    """Index of the nearest centre of every point; ties go to the lowest index. int64, (N,).

    Examples
    --------
    >>> assign(torch.tensor([[1.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([0])
    """
    X, C, _ = _data_and_centres(X, C)
    return _assign(_squared_distances(X, C))


def _assign(d):
    return torch.argmin(d, dim=1)  # torch.argmin returns the first minimum


def margins(X, C):
    """Gap between the two smallest distances of every point, (N,); see ``reference.margins``.

    Examples
    --------
    >>> margins(torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([4., 0., 8.])
    """
    X, C, dtype = _data_and_centres(X, C)
    if C.shape[0] == 1:  # inf is the margin itself here, not an overflow
        return _margins(_squared_distances(X, C)).to(dtype)
    return _returned(_margins(_squared_distances(X, C)), dtype)


def _margins(d):
    if d.shape[1] == 1:
        return torch.full((d.shape[0],), float("inf"), dtype=d.dtype, device=d.device)
    two_smallest = torch.topk(d, 2, dim=1, largest=False).values
    return two_smallest[:, 1] - two_smallest[:, 0]


# --- maps from logits to the simplex ---------------------------------------------------


def softmax(Z):
    """Softmax of every row (last axis); see ``reference.softmax``.

    Examples
    --------
    >>> softmax(torch.tensor([0.0, -float("inf")]))
    tensor([1., 0.])
    """
    Z, dtype = _logits_tensor(Z)
    return _returned(_softmax(Z), dtype)


def _softmax(Z):
    return torch.softmax(Z, dim=-1)


def _sorted_descending(u):
    # Entries below -1 are outside the support (tau >= -1): see reference._entmax15.
    return torch.sort(torch.clamp(u, min=-1.0), dim=-1, descending=True).values


def _ranks(u):
    return torch.arange(1, u.shape[-1] + 1, dtype=u.dtype, device=u.device)


def _leading_run(condition):
    """Length of the run of True at the start of each row; see reference._leading_run."""
    return torch.sum(torch.cumprod(condition.to(torch.int64), dim=-1), dim=-1, keepdim=True)


def _in_support(u, u_sorted, support_size):
    """The support of the output; see reference._in_support."""
    return (u >= torch.gather(u_sorted, -1, support_size - 1)) & (u > -1.0)


def _entmax15_forward(Z):
    u = (Z - Z.max(dim=-1, keepdim=True).values) / 2
    u_sorted = _sorted_descending(u)
    k = _ranks(u)
    mean = torch.cumsum(u_sorted, dim=-1) / k
    mean_of_squares = torch.cumsum(u_sorted**2, dim=-1) / k
    delta = (1 - k * (mean_of_squares - mean**2)) / k
    tau = mean - torch.sqrt(torch.clamp(delta, min=0.0))
    support_size = _leading_run(tau < u_sorted)
    tau_star = torch.gather(tau, -1, support_size - 1)
    p = torch.clamp(u - tau_star, min=0.0) ** 2
    return torch.where(_in_support(u, u_sorted, support_size), p, torch.zeros_like(p))


def _sparsemax_forward(Z):
    u = Z - Z.max(dim=-1, keepdim=True).values
    u_sorted = _sorted_descending(u)
    tau = (torch.cumsum(u_sorted, dim=-1) - 1) / _ranks(u)
    support_size = _leading_run(tau < u_sorted)
    tau_star = torch.gather(tau, -1, support_size - 1)
    p = torch.clamp(u - tau_star, min=0.0)
    return torch.where(_in_support(u, u_sorted, support_size), p, torch.zeros_like(p))


def _simplex_backward(s, grad):
    """``J grad`` for ``J = diag(s) - s s^T / sum s`` (symmetric): the closed-form backward."""
    weighted = s * grad
    return weighted - s * weighted.sum(dim=-1, keepdim=True) / s.sum(dim=-1, keepdim=True)


class _SupportSqrt(torch.autograd.Function):
    """``sqrt(p)`` whose derivative is 0 off the support (p = 0) instead of inf.

    In entmax15's Jacobian ``s = sqrt(p)`` is ``[z/2 - tau]_+``, whose derivative off the
    support is 0; plain sqrt would give inf * 0 = NaN in second derivatives.
    """

    @staticmethod
    def forward(ctx, p):
        s = torch.sqrt(p)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return torch.where(s > 0, grad / (2 * torch.where(s > 0, s, 1.0)), 0.0)


class _Entmax15(torch.autograd.Function):
    """1.5-entmax with its closed-form backward: J = diag(s) - s s^T / sum s, s = sqrt(p)."""

    @staticmethod
    def forward(ctx, Z):
        p = _entmax15_forward(Z)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        return _simplex_backward(_SupportSqrt.apply(p), grad)


class _Sparsemax(torch.autograd.Function):
    """Sparsemax with its closed-form backward: J = diag(m) - m m^T / |S|, m the support."""

    @staticmethod
    def forward(ctx, Z):
        p = _sparsemax_forward(Z)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        return _simplex_backward((p > 0).to(grad.dtype), grad)


def _entmax15(Z):
    return _Entmax15.apply(Z)


def entmax15(Z):
    """1.5-entmax of every row (last axis), exact, with a closed-form backward.

    See ``reference.entmax15`` for the maths.

    Examples
    --------
    >>> entmax15(torch.tensor([0.0, -0.4, -5.0], dtype=torch.float64))
    tensor([0.6400, 0.3600, 0.0000], dtype=torch.float64)
    """
    Z, dtype = _logits_tensor(Z)
    return _returned(_entmax15(Z), dtype)


def sparsemax(Z):
    """Sparsemax (2-entmax) of every row; see ``reference.sparsemax``.

    Examples
    --------
    >>> sparsemax(torch.tensor([0.0, -0.5, -3.0]))
    tensor([0.7500, 0.2500, 0.0000])
    """
    Z, dtype = _logits_tensor(Z)
    return _returned(_Sparsemax.apply(Z), dtype)


_MAPS = {"softmax": _softmax, "entmax15": _entmax15}


# --- responsibilities, objectives, free energy -----------------------------------------


def _regret(d):
    # The maps are shift invariant, so the shift carries no gradient; detaching it keeps
    # autograd from adding a term that is 0 in exact arithmetic but ~eps*|d|/T in floats.
    return d - d.min(dim=1, keepdim=True).values.detach()


def _logits(d, temperature):
    return -_regret(d) / temperature


def responsibilities(X, C, temperature=None, kind="hard"):
    """Responsibilities ``r_ik = map(-d_i / T)_k``, (N, K); see ``reference.responsibilities``.

    Examples
    --------
    >>> X, C = torch.tensor([[0.0]]), torch.tensor([[0.0], [2.0]])
    >>> responsibilities(X, C, temperature=10.0, kind="entmax15")
    tensor([[0.6400, 0.3600]])
    """
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C, dtype = _data_and_centres(X, C)
    _validate_representable(temperature, dtype)
    return _returned(_responsibilities(_squared_distances(X, C), temperature, kind), dtype)


def _responsibilities(d, temperature, kind):
    if kind == "hard":
        return torch.nn.functional.one_hot(_assign(d), d.shape[1]).to(d.dtype)
    return _MAPS[kind](_logits(d, temperature))


def objective(X, C, temperature=None, kind="hard"):
    """The RBF objective ``L_T(C) = (1/N) sum_ik r_ik(C) d_ik`` as a 0-d tensor.

    Differentiable in X and C, through r as well; see ``reference.objective``.

    Examples
    --------
    >>> X, C = torch.tensor([[0.0]]), torch.tensor([[0.0], [2.0]])
    >>> objective(X, C, temperature=10.0, kind="entmax15")
    tensor(1.4400)
    """
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C, dtype = _data_and_centres(X, C)
    _validate_representable(temperature, dtype)
    d = _squared_distances(X, C)
    return _returned(_objective(d, _responsibilities(d, temperature, kind)), dtype)


def _objective(d, r):
    return torch.mean(torch.sum(r * d, dim=1))


def _tsallis15_entropy(p):
    return (4.0 / 3.0) * (1.0 - torch.sum(p**1.5, dim=-1))


def free_energy(X, C, temperature=None, kind="softmax"):
    """Free energy ``F_T(C)`` as a 0-d tensor; see ``reference.free_energy``.

    Examples
    --------
    >>> free_energy(torch.tensor([[0.0]]), torch.tensor([[0.0], [0.0]]), temperature=1.0)
    tensor(-0.6931)
    """
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C, dtype = _data_and_centres(X, C)
    _validate_representable(temperature, dtype)
    return _returned(_free_energy(_squared_distances(X, C), temperature, kind), dtype)


def _free_energy(d, temperature, kind):
    nearest = d.min(dim=1).values
    if kind == "hard":
        return torch.mean(nearest)
    if kind == "softmax":
        log_partition = torch.logsumexp(_logits(d, temperature), dim=1)
        # _logits detached the row minimum, so it is detached here too: the two
        # dependencies on it cancel exactly (sum_k r_k = 1).
        return torch.mean(nearest.detach() - temperature * log_partition)
    r = _entmax15(_logits(d, temperature))
    return torch.mean(torch.sum(r * d, dim=1) - temperature * _tsallis15_entropy(r))


# --- gradients -------------------------------------------------------------------------


def _autograd_gradient(function, X, C, dtype):
    """d function(X, C) / dC by autograd, keeping the graph when C itself requires grad."""
    with torch.enable_grad():
        C_leaf = C if C.requires_grad else C.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(function(X, C_leaf), C_leaf, create_graph=C.requires_grad)
    return _returned(grad, dtype)


def gradient(X, C, temperature=None, kind="hard"):
    """Gradient of ``objective`` with respect to C, by autograd (through r as well), (K, D).

    Agrees with the closed form of ``reference.gradient``.

    Examples
    --------
    >>> gradient(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0]]))
    tensor([[0.]])
    """
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C, dtype = _data_and_centres(X, C)
    _validate_representable(temperature, dtype)

    def objective_of_centres(X, C):
        d = _squared_distances(X, C)
        return _objective(d, _responsibilities(d, temperature, kind))

    return _autograd_gradient(objective_of_centres, X, C, dtype)


def free_energy_gradient(X, C, temperature=None, kind="softmax"):
    """Gradient of ``free_energy`` with respect to C, by autograd, (K, D).

    Agrees with the envelope-theorem form ``(2/N) sum_i r_ik (c_k - x_i)`` of the reference.

    Examples
    --------
    >>> X, C = torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [2.0]])
    >>> free_energy_gradient(X, C, temperature=1e-3)
    tensor([[0.],
            [0.]])
    """
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C, dtype = _data_and_centres(X, C)
    _validate_representable(temperature, dtype)

    def free_energy_of_centres(X, C):
        return _free_energy(_squared_distances(X, C), temperature, kind)

    return _autograd_gradient(free_energy_of_centres, X, C, dtype)


# --- updates ---------------------------------------------------------------------------


def _weighted_means(X, C, weights):
    mass = weights.sum(dim=0)
    sums = weights.T @ X
    empty = mass <= 0
    means = sums / torch.where(empty, torch.ones_like(mass), mass)[:, None]
    return torch.where(empty[:, None], C, means)


def lloyd_step(X, C):
    """One Lloyd step; an empty cell keeps its centre. See ``reference.lloyd_step``.

    Examples
    --------
    >>> lloyd_step(torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([[0.5000],
            [2.0000]])
    """
    X, C, dtype = _data_and_centres(X, C)
    return _returned(_lloyd_step(X, C), dtype)


def _lloyd_step(X, C):
    d = _squared_distances(X, C)
    return _weighted_means(X, C, _responsibilities(d, None, "hard"))


def soft_step(X, C, temperature=None, kind="softmax"):
    """One soft step ``c_k <- sum_i r_ik x_i / n_k``; see ``reference.soft_step``.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    >>> C = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    >>> soft_step(X, C, temperature=1e-3, kind="softmax")
    tensor([[0.3333],
            [1.6667]], dtype=torch.float64)
    """
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C, dtype = _data_and_centres(X, C)
    _validate_representable(temperature, dtype)
    return _returned(_soft_step(X, C, temperature, kind), dtype)


def _soft_step(X, C, temperature, kind):
    d = _squared_distances(X, C)
    if kind == "softmax":
        return _weighted_means(X, C, _softmax_column_weights(d, temperature))
    return _weighted_means(X, C, _responsibilities(d, temperature, kind))


def _softmax_column_weights(d, temperature):
    """Per-centre rescaled softmax weights; see ``reference._softmax_column_weights``."""
    regret = _regret(d)
    log_partition = torch.logsumexp(_logits(d, temperature), dim=1, keepdim=True)
    log_w = -(regret - regret.min(dim=0, keepdim=True).values) / temperature - log_partition
    return torch.exp(log_w - log_w.max(dim=0, keepdim=True).values)


def kmeans(X, C0, n_iter):
    """Lloyd's algorithm: ``n_iter`` Lloyd steps from C0, no restarts. (K, D).

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]])
    >>> kmeans(X, torch.tensor([[0.0], [1.0]]), n_iter=5)
    tensor([[0.5000],
            [9.5000]])
    """
    X, C, dtype = _data_and_centres(X, C0, "C0")
    for _ in range(validation.validate_count(n_iter, "n_iter")):
        C = _lloyd_step(X, C)
    return _returned(C, dtype)


def anneal(X, C0, temperatures, kind="softmax", steps_per_temperature=1):
    """Soft steps over a temperature schedule; the whole trajectory. See ``reference.anneal``.

    Returns a tensor of shape (1 + len(temperatures) * steps_per_temperature, K, D).

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]])
    >>> anneal(X, torch.tensor([[4.0], [6.0]]), [100.0, 1.0, 0.01]).shape
    torch.Size([4, 2, 1])
    """
    validation.validate_kind(kind, allowed=SOFT_KINDS)
    temperatures = validation.validate_temperatures(temperatures, kind)
    steps = validation.validate_count(steps_per_temperature, "steps_per_temperature", minimum=1)
    X, C, dtype = _data_and_centres(X, C0, "C0")
    for temperature in temperatures:
        _validate_representable(temperature, dtype)
    trajectory = [C]
    for temperature in temperatures:
        for _ in range(steps):
            C = _soft_step(X, C, temperature, kind)
            trajectory.append(C)
    return _returned(torch.stack(trajectory), dtype)
