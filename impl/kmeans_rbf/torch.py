r"""torch implementation: the names and meaning of ``kmeans_rbf.reference``, computed fast.

CPU and CUDA; float64, float32, bfloat16 and float16; differentiable with autograd.
Every function keeps the dtype and device of its input. Half-precision inputs
(float16, bfloat16) are computed in float32 and the results rounded back once: their 8-
and 11-bit significands cannot hold ``exp(-d/T)`` at low temperature or sums over many
points.

The NumPy reference is the readable ground truth. This module computes the same functions
*differently*, which is what makes the cross-check between the two worth having:

1. squared distances come from one matrix product on centred data, with a certified
   repair of every decision the rounding of that product could change (below);
2. the steps (``lloyd_step``, ``soft_step``, ``kmeans``, ``anneal``) stream over chunks of
   points and accumulate sufficient statistics (``kmeans_rbf.streaming``): no (N, K)
   matrix and no (N, K, D) tensor is ever formed;
3. the entmax-1.5 and sparsemax thresholds come from a few Newton steps and an exact solve
   on the support they identify, with the sort-based algorithm of the reference only as a
   fallback for rows that fail the exactness check.

Distances, and the error bound of the expansion
-----------------------------------------------
With a shift ``s`` (the centres' mean, rounded to a coarse dyadic grid: ``_shift``),
``a_i = fl(x_i - s)``, ``b_k = fl(c_k - s)``, ``n_i = |a_i|^2``, ``m_k = |b_k|^2`` and
``g_ik = a_i . b_k`` (one GEMM),

    d_ik = |x_i - c_k|^2  is computed as  n_i + m_k - 2 g_ik.

Its error, with u the unit roundoff of the working dtype and ``gamma_D = D u / (1 - D u)``
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1: a dot product
of length D summed in *any* order, with or without fused multiply-adds, is within
``gamma_D sum_j |a_j b_j|`` of the exact one):

* centring: ``fl(x - s) = (x - s)(1 + delta)`` with ``|delta| <= u``, so
  ``a - b = (x - c) + e`` with ``|e| <= u' (|a| + |b|)``, ``u' = u / (1 - u)``. Then
  ``| |x - c|^2 - |a - b|^2 | <= 2 |a - b| |e| + |e|^2 <= 4 u' (n + m) + O(u^2)``
  (``2 p q <= p^2 + q^2`` and ``|a - b|^2 <= 2 (n + m)``);
* the norms: ``|n^ - n| <= (gamma_D + 2u) n`` and likewise for m (two more roundings
  where a norm is taken as a rounded square root, squared): ``(D + 2) u (n + m)``;
* the product. Streamed (``kmeans_rbf.streaming``), ``d^`` is one dot product of length
  D + 2, ``(a, n^, 1) . (-2 b, 1, m^)``, whose terms add up in magnitude to at most
  ``2 (n + m)`` (``2 |a_j b_j| <= a_j^2 + b_j^2``): ``gamma_{D+2} 2 (n + m)``. Dense
  (here), ``g^ = a . b`` then two additions: ``gamma_D (n + m) + 4 u (n + m)``. Either
  is at most ``(2 D + 4) u (n + m)``. A matrix product that rounds its inputs to a
  narrower format first (TF32 or bfloat16, when ``torch.get_float32_matmul_precision()``
  is not ``"highest"``) adds ``2 u_mm`` per product: ``2 u_mm (n + m)``; streamed, the
  columns ``n^`` and ``m^`` of the augmented product are rounded to it too, ``u_mm (n + m)``
  more: ``3 u_mm (n + m)`` in all.

Adding up, ``(3 D + 10) u (n + m)`` and terms of order u^2, so with six units to spare,
``|d^_ik - d_ik| <= E_ik = eps (n^_i + m^_k) + a`` with

    eps = ((3 D + 16) u + 3 u_mm) / (1 - (3 D + 16) u)

(``kmeans_rbf.tolerances.expansion_roundings``), and ``a`` a few subnormal spacings for
products that underflow (``_expansion_error``).
The bound grows with ``n + m``, not with ``d``: the expansion loses the digits that
``|x|^2`` has beyond ``d``. Centring is what keeps that loss small: uncentred, data
offset by ``10^6`` times its spread would lose twelve decimal digits (all of float32's);
centred on the centres' mean, ``n_i + m_k <= 2 d_ik + 3 rho^2`` with
``rho = max_l |c_l - s|``, whatever the offset. ``kmeans_rbf.tolerances`` allows for this
bound where values (not decisions) are compared with the reference.

Certified decisions
-------------------
Every decision that an error of ``E`` could flip is re-decided from exact distances:
differences in float64 (exact for float32 and half-precision inputs; for float64 inputs
the reference's own rounding), computed on the CPU by the reference itself, so that a
re-decided row has *bit for bit* the reference's distances (``_exact_squared_distances``).

* The nearest centre. Row i keeps the label of its smallest computed distance when no
  other entry is within ``2 E_i`` of it (``E_i = eps (n_i + max_k m_k) + a``, the largest
  error in the row); otherwise (a near-tie, an exact tie, or a row whose expansion
  overflowed) it is re-decided. So ``assign``, ``lloyd_step`` and hard responsibilities
  equal the reference's labels exactly, ties going to the lowest index, in every dtype.
* The entmax-1.5 support. Entry k is in the support iff ``u_k > tau`` (``u = z / 2``);
  an error ``E_i`` in the distances moves ``u_k`` by at most ``E_i / T`` and ``tau`` (a
  convex combination of the sensitivities) by at most as much. Rows with an entry within
  ``2 E_i / T`` of the threshold are re-decided: their distances become exact (rounded
  once to the working dtype: the numbers ``squared_distances`` and ``margins`` report),
  and their logits are computed from those as in every other row. This includes the
  one-hot boundary (a gap of exactly 2T), so "exactly hard once every gap is at least
  2T" holds as in the reference. The responsibilities of re-decided rows are the
  reference's own (``_reference_entmax15``, from the exact distances rounded once to the
  working dtype: in float64 bit for bit the reference's): the threshold is
  computed here by other arithmetic than the reference's sort (Newton steps and an exact
  solve), which can put an entry within rounding of it on the other side (``p ~ 1e-32``
  in the reference, 0 here, moving a centre whose only mass it is:
  ``tests/test_streaming.py::test_support_at_a_threshold_within_rounding``).
* softmax has no decision beyond its argmax (the nearest centre); its values carry the
  error bound above.

Re-deciding costs ``O(K D)`` per re-decided row. Rows are re-decided only near a
decision boundary, whose width is ``E`` (about ``(3D + 16) 6e-8 (n + m)`` in float32):
a fraction of the points that is tiny unless the data are quantised (grid data, where
exact ties are re-decided; the dyadic shift keeps the expansion exact on small
integers, so the ties come out exactly equal first).

Gradients and steps
-------------------
``squared_distances``, ``responsibilities``, ``objective``, ``free_energy``, ``gradient``
and ``free_energy_gradient`` are differentiable in X and C (autograd through the
expansion, the repairs and the maps' closed-form backwards). The steps stream without
autograd when no input requires grad, which is the common case (a step is an update,
not a loss). When X or C requires grad and grad mode is on, a step takes the dense
differentiable path instead (the same maths with the (N, K) matrix formed), so that
``soft_step(X, C, ...).sum().backward()`` works as before; it then costs O(N K) memory.

Speed
-----
Where this code spends its time on a CPU (measured on two cores; benchmarks/README.md):
the distance products (a GEMM here; in the streamed steps' fused kernels a register-tiled
loop that also scans for the nearest centre, ``kmeans_rbf.fused``) and, for soft steps,
the weighted sums (a second GEMM) and the exponentials; then passes over (chunk, K)
matrices, which are cheap only as plain elementwise ops and float reductions (argmin,
min with indices, ``torch.where`` and boolean sums are 10-50x slower, so the argmin goes
through an integer key and counts through float signs); then dispatch, a few
microseconds per op per chunk. Rows of a step, and of the maps, are processed in blocks
on worker threads with single-threaded torch ops (``_in_workers``). Compilation:
``kmeans_rbf.streaming`` (off by default).

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

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from . import _validation as validation
from . import tolerances
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


def _data_and_centres(X, C, centres_name="C", streamed=False):
    """Validated X and C in the working dtype, and the dtype to return results in.

    ``streamed``: X is left in its dtype and its entries unchecked, for a step that
    streams it (unless grad is required): the chunks convert themselves and raise the
    same ValueError from the squared norms they compute anyway. A separate pass over a
    large X costs as much as a scikit-learn iteration on a busy machine.
    """
    X, C = _floating_tensor(X, "X"), _floating_tensor(C, centres_name)
    if X.dtype != C.dtype:
        raise TypeError(f"X and {centres_name} must have the same dtype; got {X.dtype} and {C.dtype}")
    if X.device != C.device:
        raise ValueError(f"X and {centres_name} must be on the same device; got {X.device} and {C.device}")
    streamed = streamed and not _requires_grad(X, C)
    validation.validate_data_and_centres(X, C, centres_name, finite_data=not streamed)
    working = _working_dtype(X.dtype)
    return (X if streamed else X.to(working)), C.to(working), X.dtype


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


def _requires_grad(*tensors):
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


# --- blocks of rows on worker threads ----------------------------------------------------
#
# A step or a map over many rows is a sequence of blocks. On the CPU, running each torch
# op on all intra-op threads makes every op a barrier: dozens per block, and on a shared
# machine a barrier waits for a descheduled thread (measured: 2-4x slower than sklearn's
# one parallel region per iteration under load). Instead, while a call runs, torch's ops
# are single-threaded and ``torch.get_num_threads()`` worker threads take the blocks in
# turn (torch releases the GIL inside its ops). KMEANS_RBF_WORKERS=0 turns this off.

_WORKERS = {"enabled": os.environ.get("KMEANS_RBF_WORKERS", "") != "0"}
_pools = {}
_pools_lock = threading.Lock()


def _workers(device, blocks):
    """How many worker threads for ``blocks`` blocks (0: no workers, torch's own threads).

    On the CPU one per intra-op thread, at most one per block; a single block still runs
    with single-threaded ops (1 worker, inline): on a busy machine a small block's dozens
    of parallel regions cost more than they save (measured: 3 ms on one thread, 100-200 ms
    on two with another process running).
    """
    if not _WORKERS["enabled"] or torch.device(device).type != "cpu" or torch.compiler.is_compiling():
        return 0
    return max(1, min(torch.get_num_threads(), blocks))


def _in_workers(work, workers):
    """``[work(part) for part in range(workers)]`` on worker threads, torch ops single-threaded.

    Deterministic whatever the scheduling: part i always takes blocks i, i + workers, ...
    The results depend on ``workers`` only through the order of summation. ``workers``
    0 runs ``work(0)`` inline with torch's own threads, 1 inline single-threaded.
    """
    if workers == 0:
        return [work(0)]
    if workers == 1:
        previous = torch.get_num_threads()
        if previous == 1:
            return [work(0)]
        torch.set_num_threads(1)
        try:
            return [work(0)]
        finally:
            torch.set_num_threads(previous)
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="kmeans_rbf")
    previous = torch.get_num_threads()
    grad_mode = torch.is_grad_enabled()  # thread-local: the workers take the caller's
    torch.set_num_threads(1)

    def single_threaded(part):
        torch.set_num_threads(1)  # this thread's own OpenMP setting, too
        with torch.set_grad_enabled(grad_mode):
            return work(part)

    try:
        return list(pool.map(single_threaded, range(workers)))
    finally:
        torch.set_num_threads(previous)


# --- the distance engine: expansion, error bound, exact repair -------------------------

# Memory for one block of exact (float64, (rows, K, D)) differences in a repair.
_EXACT_BLOCK_BYTES = 16 * 2**20


def _shift(C):
    """The point the expansion is centred on: the centres' mean on a coarse dyadic grid.

    Any shift gives the same distances in exact arithmetic; the mean of the centres keeps
    ``n + m`` (and so the error bound) small, needs no pass over the data, and is the
    same on every process that holds the same centres. Rounding it to a multiple of
    ``2^(floor(log2 rho) - 4)`` (``rho`` the centres' largest distance to their mean, in
    the max norm) leaves the bound practically unchanged but keeps ``x - s`` and the
    products exact on quantised data (small integers), so exact ties stay exact.
    ``C[0] + mean(C - C[0])`` avoids overflowing a sum of huge coordinates.
    """
    C = C.detach()
    mean = C[0] + (C - C[0]).mean(dim=0)
    rho = float((C - mean).abs().max())
    if not (math.isfinite(rho) and rho > 0):
        return C[0].clone()
    quantum = 2.0 ** (math.floor(math.log2(rho)) - 4)
    if quantum == 0.0:
        return mean
    mean64 = mean.to(torch.float64)
    steps = mean64 / quantum
    # A grid point is representable in the working dtype while |mean| / quantum < 2^(p-1).
    representable = steps.abs() < 1.0 / torch.finfo(C.dtype).eps  # 2^(p-1)
    return torch.where(representable, torch.round(steps) * quantum, mean64).to(C.dtype)


def _matmul_unit_roundoff(dtype):
    """Unit roundoff of the inputs of a float32 matrix product (TF32, bfloat16 or exact)."""
    if dtype != torch.float32:
        return 0.0
    precision = torch.get_float32_matmul_precision()
    return {"highest": 0.0, "high": 2.0**-11, "medium": 2.0**-8}.get(precision, 2.0**-8)


def _expansion_error(dtype, n_features):
    """``(eps, a)`` with ``|d^_ik - d_ik| <= eps (n^_i + m^_k) + a`` (module docstring)."""
    info = torch.finfo(dtype)
    u = info.eps / 2
    k = tolerances.expansion_roundings(n_features) * u
    eps = (k + 3 * _matmul_unit_roundoff(dtype)) / (1 - k)
    subnormal_spacing = info.tiny * info.eps
    return eps, (6 * n_features + 12) * subnormal_spacing


def _exact_squared_distances(X, C):
    """``|x_i - c_k|^2`` from float64 differences: (rows, K) float64, differentiable.

    The values are the reference's own: on the CPU ``reference._squared_distances`` (in
    blocks of rows) computes them, so that a re-decided row has bit for bit the numbers
    the reference compares, whatever NumPy's summation order; torch's float64
    differences carry the gradient (value from the one, derivative from the other). On
    other devices the torch float64 differences are the values (the same to the last
    bits, which decide only ties at the rounding level). Exact differences for inputs of
    at most float32 precision; for float64 inputs the reference's roundings.
    """
    X64, C64 = X.to(torch.float64), C.to(torch.float64)
    rows = _exact_block_rows(*C.shape)
    if X64.device.type == "cpu":
        values = torch.from_numpy(_reference_distances(X64.detach().numpy(), C64.detach().numpy()))
        if not (X64.requires_grad or C64.requires_grad):
            return values
    differentiable = torch.cat(
        [torch.square(X64[i : i + rows, None, :] - C64[None, :, :]).sum(dim=-1) for i in range(0, X64.shape[0], rows)]
    ) if X64.shape[0] else X64.new_zeros((0, C.shape[0]))
    if X64.device.type != "cpu":
        return differentiable
    return differentiable + (values - differentiable).detach()


def _exact_block_rows(n_clusters, n_features):
    """Rows per block of exact differences: (rows, K, D) float64 within _EXACT_BLOCK_BYTES."""
    return max(1, _EXACT_BLOCK_BYTES // (8 * n_clusters * n_features))


def _reference_distances(points, centres):
    """``reference._squared_distances`` of float64 NumPy ``points`` (R, D) and ``centres``
    (K, D), block by block: the reference's numbers (each row's distances are computed on
    their own), in bounded memory whatever R."""
    from . import reference

    rows = _exact_block_rows(*centres.shape)
    if len(points) <= rows:
        return reference._squared_distances(points, centres)
    return np.concatenate([reference._squared_distances(points[i : i + rows], centres) for i in range(0, len(points), rows)])


def _validate_exact(exact, dtype):
    """Exact distances beyond float64's, or the working dtype's, range are an overflow."""
    validation.validate_distances_finite(exact)
    validation.validate_distances_finite(exact.to(dtype))


class _Distances(NamedTuple):
    """Squared distances by the expansion, with the uncertain rows recomputed exactly.

    ``d`` (N, K) in the working dtype holds the exact distances, rounded once, in the
    re-decided ``rows`` (R,); ``exact`` (R, K) float64 holds them unrounded (the labels
    of those rows are taken from it; logits, as in every row, from ``d``); ``error`` (N,)
    bounds ``|d - exact|`` in the other rows and is 0 in ``rows``.
    """

    d: torch.Tensor
    rows: torch.Tensor
    exact: torch.Tensor
    error: torch.Tensor


def _centred(X, C):
    """``(a, b, n, m)``: X and C minus the shift, and their squared norms (differentiable)."""
    shift = _shift(C)
    A, B = X - shift, C - shift
    return A, B, torch.sum(A * A, dim=1), torch.sum(B * B, dim=1)


def _row_error(n, m, dtype, n_features):
    """``E_i = eps (n_i + max_k m_k) + a``: the largest error bound in row i."""
    eps, absolute = _expansion_error(dtype, n_features)
    return eps * (n + m.max()) + absolute


def _uncertain_nearest(d, error):
    """Rows whose nearest centre the bound does not certify, and rows that did not compute.

    Certified: a single entry within ``2 E_i`` of the row's smallest (the smallest itself).
    """
    lowest = d.min(dim=1).values
    near = torch.sum(d <= (lowest + 2 * error)[:, None], dim=1) >= 2
    failed = ~torch.isfinite(d).all(dim=1) | ~torch.isfinite(error)
    return torch.nonzero(near | failed).flatten()


def _distances(X, C):
    """Certified squared distances of X (N, D) to C (K, D), differentiable: ``_Distances``.

    Besides the re-decided rows, every row's two smallest distances are exact, rounded
    once (from the differences to those two centres, O(N D)): the margins, J, the
    leading term ``d_i(1)`` of every objective and free energy, and the one-hot decision
    of entmax15 (gap >= 2T) then come from the numbers the reference has, not from the
    expansion's (a far centre does not cost the others digits, and T = margin / 2
    computed from ``margins`` gives exactly hard rows, as the reference's would).
    """
    A, B, n, m = _centred(X, C)
    expansion = torch.addmm(m, A, B.T, alpha=-2) + n[:, None]
    # Negative only by rounding: clamped, with the gradient of the unclamped value
    # (2 (c_k - x_i) is the derivative of |x_i - c_k|^2 however it was rounded).
    d = expansion + (torch.clamp(expansion, min=0) - expansion).detach()
    with torch.no_grad():
        error = _row_error(n.detach(), m.detach(), X.dtype, X.shape[1])
        rows = _uncertain_nearest(d.detach(), error)
    empty = torch.zeros((0,), dtype=torch.long, device=X.device)
    plain = _Distances(d, empty, X.new_zeros((0, C.shape[0]), dtype=torch.float64), error)
    return _with_exact_top_two(_repaired(plain, X, C, rows), X, C)


def _with_exact_top_two(dist, X, C):
    """``dist`` with each row's two smallest entries exact (rounded once).

    A row whose runner-up is not certain (the third smallest within ``2 E`` of the
    second) is re-decided whole.
    """
    K = dist.d.shape[1]
    with torch.no_grad():
        top = torch.topk(dist.d.detach(), min(K, 3), dim=1, largest=False)
        plain = torch.ones(dist.d.shape[0], dtype=torch.bool, device=dist.d.device)
        plain[dist.rows] = False
        uncertain = torch.zeros_like(plain)
        if K >= 3:
            uncertain = ~(top.values[:, 2] > top.values[:, 1] + 2 * dist.error) & plain
            plain &= ~uncertain
        rows = torch.nonzero(plain).flatten()
    dist = _repaired(dist, X, C, torch.nonzero(uncertain).flatten())  # differentiable
    if not rows.numel():
        return dist
    d = dist.d
    for j in range(min(K, 2)):
        columns = top.indices[rows, j]
        exact = _exact_pair_distances(X[rows], C[columns])
        d = d.index_put((rows, columns), exact.to(d.dtype))
    return dist._replace(d=d)


def _exact_pair_distances(X, C):
    """``|x_i - c_i|^2`` of paired rows, (R, D) and (R, D) -> (R,) float64, differentiable:
    on the CPU the reference's own numbers (NumPy's sum over the features, as in
    ``reference._squared_distances``), the derivative from torch's float64 differences,
    as ``_exact_squared_distances`` does for whole rows."""
    X64, C64 = X.to(torch.float64), C.to(torch.float64)
    differentiable = torch.square(X64 - C64).sum(dim=1)
    if X64.device.type != "cpu":
        return differentiable
    with np.errstate(over="ignore"):  # an overflow is reported where the distances are checked
        values = torch.from_numpy(np.sum((X64.detach().numpy() - C64.detach().numpy()) ** 2, axis=1))
    return differentiable + (values - differentiable).detach()


def _repaired(dist, X, C, rows):
    """``dist`` with ``rows`` (those not already exact) recomputed exactly."""
    if rows.numel():
        rows = rows[~torch.isin(rows, dist.rows)]
    if not rows.numel():
        validation.validate_distances_finite(dist.d)
        return dist
    exact = _exact_squared_distances(X[rows], C)
    _validate_exact(exact, dist.d.dtype)
    d = dist.d.index_put((rows,), exact.to(dist.d.dtype))
    validation.validate_distances_finite(d)
    return _Distances(
        d,
        torch.cat([dist.rows, rows]),
        torch.cat([dist.exact, exact]),
        dist.error.index_fill(0, rows, 0.0),
    )


def _labels(dist):
    labels = torch.argmin(dist.d, dim=1)  # torch.argmin returns the first minimum
    if dist.rows.numel():
        labels[dist.rows] = torch.argmin(dist.exact, dim=1)
    return labels


def _squared_distances(X, C):
    """Squared distances from differences, as the reference computes them: (N, K), differentiable.

    For ``kmeans_rbf.torch_probabilistic``, which mirrors the reference's computation
    (and its error bounds); this module's functions use the certified expansion
    ``_distances``.
    """
    d = _exact_squared_distances(X, C)
    _validate_exact(d, X.dtype)
    return d.to(X.dtype)


# --- distances and assignment ----------------------------------------------------------


def squared_distances(X, C):
    """Squared Euclidean distances ``d_ik = ||x_i - c_k||^2``; see ``reference.squared_distances``.

    Computed as ``|a_i|^2 + |b_k|^2 - 2 a_i . b_k`` on data and centres centred on the
    centres' mean (one matrix product), within ``eps (|a_i|^2 + |b_k|^2)`` of the exact
    value (module docstring); rows where two distances are within that bound of the
    smallest (ties) are recomputed from differences, exactly as the reference does.

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
    return _returned(_distances(X, C).d, dtype)


def assign(X, C):
    """Index of the nearest centre of every point; ties go to the lowest index. int64, (N,).

    Equal to ``reference.assign`` on the same (rounded) inputs, exactly: a point whose
    two nearest centres are closer than the error bound of the expansion is re-decided
    from exact distances.

    Examples
    --------
    >>> assign(torch.tensor([[1.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([0])
    """
    X, C, _ = _data_and_centres(X, C)
    with torch.no_grad():
        return _labels(_distances(X, C))


def margins(X, C):
    """Gap between the two smallest distances of every point, (N,); see ``reference.margins``.

    Examples
    --------
    >>> margins(torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([4., 0., 8.])
    """
    X, C, dtype = _data_and_centres(X, C)
    dist = _distances(X, C)
    if C.shape[0] == 1:  # inf is the margin itself here, not an overflow
        return torch.full((X.shape[0],), float("inf"), dtype=dtype, device=X.device)
    return _returned(_margins(dist.d), dtype)


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


# Newton steps on the threshold before the exact solve; rows whose support they have not
# yet identified go to the sort-based fallback. Three steps from -1 identify the support
# of all but a few rows in a thousand on random rows, two from the root of the two
# largest entries on the benchmark's (tests/test_streaming.py, benchmarks/run.py).
_NEWTON_STEPS = 3
_NEWTON_STEPS_FROM_ROOT = 2
# Rows of logits processed at a time by the maps (buffers reused across blocks).
_MAP_BLOCK_BYTES = 4 * 2**20


class _MapBuffers:
    """Scratch for the maps' row blocks: fresh multi-megabyte tensors cost page faults."""

    def __init__(self, rows, k, dtype, device):
        self.v = torch.empty((rows, k), dtype=dtype, device=device)
        self.t = torch.empty((rows, k), dtype=dtype, device=device)
        self.scratch = torch.empty((rows, k), dtype=dtype, device=device)


# Eager CPU reductions over short rows are fast for sums and plain min/max, and 10-50x
# slower for argmin, min with indices, torch.where and sums of booleans: the kernels
# below count with float signs and take the argmin through an integer key.


def _newton_moments(v, tau, t):
    """``(sum [v - tau]_+, sum [v - tau]_+^2)`` per row, for a Newton step: two passes.

    From ``t = max(v, tau)``: ``sum [v - tau]_+ = sum t - K tau`` and
    ``sum [v - tau]_+^2 = sum t^2 - 2 tau sum t + K tau^2``. The cancellation costs a
    few times K units of roundoff, which only moves the next iterate (the exact solve
    and its check come after).
    """
    k = v.shape[1]
    torch.clamp(v, min=tau, out=t)
    total = t.sum(dim=1, keepdim=True)
    squares = torch.linalg.vector_norm(t, dim=1, keepdim=True) ** 2
    return total - k * tau, squares - 2 * tau * total + k * tau**2


def _moments(v, tau, t, scratch):
    """``t = [v - tau]_+`` and its exact row sums ``(sum t, sum t^2, |{t > 0}|)``.

    The squares are summed as squares, so that equal entries give a variance of exactly
    0 (a tie splits exactly as in the reference).
    """
    torch.sub(v, tau, out=t).clamp_(min=0.0)
    mass = t.sum(dim=1, keepdim=True)
    squares = torch.mul(t, t, out=scratch).sum(dim=1, keepdim=True)
    size = torch.sign(t, out=scratch).sum(dim=1, keepdim=True)
    return mass, squares, size


def _sparse_threshold(v, kind, t, scratch, closeness=False, start=None):
    """Threshold tau (b, 1) of entmax15 (``p = [v - tau]_+^2``) or sparsemax (``[v - tau]_+``).

    ``v`` (b, K): rows with maximum exactly 0 (u = (z - max z)/2 for entmax15, z - max z
    for sparsemax; -inf allowed). Solves ``sum_k p_k = 1``: ``f(tau) = sum_k [v_k - tau]_+^q
    - 1`` (q = 2 or 1) is convex and decreasing, ``f(-1) >= 0`` (the top entry alone has
    mass 1 at tau = -1) and the root lies in ``[-1, 0)``. Newton's method from tau = -1
    stays left of the root (the tangent of a convex function lies below it), so the set
    ``S = {v > tau}`` only shrinks towards the support. After ``_NEWTON_STEPS`` steps the
    quadratic (linear) equation on S is solved exactly, as in the reference, from the
    sums of ``t = v - tau`` over S (``sum_S v = sum t + |S| tau``, and likewise for
    squares):

        entmax15:  tau_S = mean_S - sqrt((1 - |S| var_S) / |S|),
        sparsemax: tau_S = (sum_S v - 1) / |S|,

    and accepted iff ``{v > tau_S} = S`` (every member above, every other entry at or
    below: the counts agree, since S = {v > tau} for a tau on one side of tau_S).
    ``t`` and ``scratch`` are (b, K) buffers; on return ``t = [v - tau_S]_+``. Returns
    ``(tau_S, converged)``, converged (b,) boolean, and with ``closeness`` also
    ``min_k |v_k - tau_S|`` (b,): how near the row is to a change of support.

    ``start`` (b, 1), a lower bound of the threshold better than -1 (entmax15: the root
    for the two largest entries, ``_two_largest_root``), is the threshold of every row
    whose support has at most two entries; ``_NEWTON_STEPS_FROM_ROOT`` steps from it
    settle all but a few rows in a thousand of the others (the benchmark's rows: 6 % with
    no step, 0.2 % with two), which come back unconverged for the caller's sort.
    """
    if start is None:
        return _solve_threshold(v, kind, t, scratch, closeness)
    return _solve_threshold(v, kind, t, scratch, closeness, steps=_NEWTON_STEPS_FROM_ROOT, tau=start)


def _two_largest_root(second):
    """entmax15's threshold for a row (0, w) (u units): a lower bound for the whole row.

    ``(0 - tau)^2 + (w - tau)^2 = 1`` gives ``tau = (w - sqrt(2 - w^2)) / 2`` while
    ``w > -1``, else -1; entries added to a row only raise its threshold.
    """
    root = (second - torch.sqrt(torch.clamp(2 - second**2, min=0.0))) / 2
    return torch.where(second > -1, root, -1.0)


def _solve_threshold(v, kind, t, scratch, closeness=False, steps=None, tau=None):
    """Newton steps from ``tau`` (default -1) and the exact solve: see ``_sparse_threshold``."""
    tau = torch.full_like(v[:, :1], -1.0) if tau is None else tau
    for _ in range(_NEWTON_STEPS if steps is None else steps):
        if kind == "entmax15":
            mass, squares = _newton_moments(v, tau, t)
            tau = tau + (squares - 1) / (2 * mass)
        else:
            mass, _, size = _moments(v, tau, t, scratch)
            tau = tau + (mass - 1) / size
    mass, squares, size = _moments(v, tau, t, scratch)
    if kind == "entmax15":
        # The variance of v over S is that of t = v - tau (shift invariant).
        mean = mass / size
        variance = squares / size - mean**2
        delta = (1 - size * variance) / size
        tau = (mean + tau) - torch.sqrt(torch.clamp(delta, min=0.0))
    else:
        tau = (mass + size * tau - 1) / size
    tau = torch.clamp(tau, min=-1.0)  # tau >= -1 exactly: the top entry alone has mass 1
    torch.sub(v, tau, out=t)
    near = torch.abs(t, out=scratch).amin(dim=1) if closeness else None
    t.clamp_(min=0.0)
    converged = (torch.sign(t, out=scratch).sum(dim=1, keepdim=True) == size)[:, 0]
    return (tau, converged, near) if closeness else (tau, converged)


def _argmin(S, keys, nonnegative=False, columns=None):
    """``argmin`` of every row of S (b, K), through an order-preserving integer key.

    The float's bits, made monotone (negative values have their magnitude bits
    flipped; for ``nonnegative`` S they already are), lose their lowest
    ``bits = ceil(log2 K)`` bits to the column index, and one integer ``amin`` finds the
    row minimum and its first index together. The result is the first index of the
    smallest value except between entries within ``2^bits`` units in the last place of
    each other: ``_argmin_slack_factors`` widen the near-tie band by that much, so such rows are
    re-decided exactly. ``keys`` is a (b, K) integer buffer, ``columns`` optionally
    ``arange(K)`` in its dtype.
    """
    k = S.shape[1]
    bits = max(1, (k - 1).bit_length())
    width = torch.finfo(S.dtype).bits
    integer = S.view(torch.int32 if width == 32 else torch.int64)
    if nonnegative:
        torch.bitwise_and(integer, ~(2**bits - 1), out=keys)
    else:
        torch.bitwise_right_shift(integer, width - 1, out=keys)
        keys.bitwise_and_(2 ** (width - 1) - 1).bitwise_xor_(integer)
        keys.bitwise_and_(~(2**bits - 1))
    keys.bitwise_or_(torch.arange(k, dtype=keys.dtype, device=keys.device) if columns is None else columns)
    return keys.amin(dim=1).bitwise_and_(2**bits - 1).to(torch.long)


def _argmin_slack_factors(dtype, n_clusters):
    """``(f, g)``: the value at ``_argmin``'s index is within ``f |v| + g`` of the row
    minimum v (``2^bits`` units in the last place, or subnormal spacings)."""
    info = torch.finfo(dtype)
    bits = max(1, (n_clusters - 1).bit_length())
    return 2.0**bits * info.eps, 2.0**bits * info.tiny * info.eps


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


def _sorted_threshold(v, kind):
    """The reference's sort-based threshold and support, for the rows Newton leaves (b, K).

    Returns ``(tau (b, 1), p (b, K))``.
    """
    u_sorted = _sorted_descending(v)
    k = _ranks(v)
    if kind == "entmax15":
        mean = torch.cumsum(u_sorted, dim=-1) / k
        mean_of_squares = torch.cumsum(u_sorted**2, dim=-1) / k
        delta = (1 - k * (mean_of_squares - mean**2)) / k
        tau = mean - torch.sqrt(torch.clamp(delta, min=0.0))
    else:
        tau = (torch.cumsum(u_sorted, dim=-1) - 1) / k
    support_size = _leading_run(tau < u_sorted)
    tau_star = torch.gather(tau, -1, support_size - 1)
    p = torch.clamp(v - tau_star, min=0.0)
    if kind == "entmax15":
        p = p**2
    return tau_star, torch.where(_in_support(v, u_sorted, support_size), p, torch.zeros_like(p))


def _sparse_rows(Z, out, kind, buffers):
    """entmax15 or sparsemax of the rows of Z (b, K) into ``out``; returns tau (b, 1).

    ``tau`` is in the units of ``v``: u = (z - max z)/2 for entmax15, z - max z for
    sparsemax. Exactly 0 outside the support, exactly one-hot when the gap is large.
    """
    b = Z.shape[0]
    v, t, scratch = buffers.v[:b], buffers.t[:b], buffers.scratch[:b]
    # -inf and spreads beyond the float range give -inf here: weight 0, as meant.
    torch.sub(Z, Z.amax(dim=1, keepdim=True), out=v)
    if kind == "entmax15":
        v.mul_(0.5)
    tau, converged = _sparse_threshold(v, kind, t, scratch)
    if kind == "entmax15":
        t.square_()
    out.copy_(t)
    left = torch.nonzero(~converged).flatten()
    if left.numel():
        tau_left, p_left = _sorted_threshold(v[left], kind)
        tau = tau.index_put((left,), tau_left)
        out.index_copy_(0, left, p_left)
    return tau


def _map_rows(k, dtype):
    """Rows per block for the maps: the scratch of one block fits ``_MAP_BLOCK_BYTES``."""
    itemsize = torch.finfo(dtype).bits // 8
    return max(1, _MAP_BLOCK_BYTES // (k * 3 * itemsize))


def _sparse_forward(Z, kind, with_threshold=False):
    """entmax15 or sparsemax along the last axis of Z (any shape), by row blocks."""
    shape = Z.shape
    rows = Z.reshape(-1, shape[-1])
    out = torch.empty_like(rows)
    taus = torch.empty((rows.shape[0], 1), dtype=Z.dtype, device=Z.device)
    block = min(_map_rows(shape[-1], Z.dtype), max(rows.shape[0], 1))
    starts = range(0, rows.shape[0], block)
    workers = _workers(Z.device, len(starts))

    def work(part):
        buffers = _MapBuffers(block, shape[-1], Z.dtype, Z.device)
        for start in starts[part :: max(workers, 1)]:
            stop = start + block
            taus[start:stop] = _sparse_rows(rows[start:stop], out[start:stop], kind, buffers)

    _in_workers(work, workers)
    out = out.reshape(shape)
    return (out, taus.reshape(*shape[:-1], 1)) if with_threshold else out


def _entmax15_forward(Z):
    return _sparse_forward(Z.detach(), "entmax15")


def _sparsemax_forward(Z):
    return _sparse_forward(Z.detach(), "sparsemax")


def _simplex_backward(s, grad):
    """``J grad`` for ``J = diag(s) - s s^T / sum s`` (symmetric): the closed-form backward."""
    weighted = s * grad
    return weighted - s * weighted.sum(dim=-1, keepdim=True) / s.sum(dim=-1, keepdim=True)


def _simplex_backward_blocks(p, grad, kind):
    """``_simplex_backward`` with ``s = sqrt(p)`` (entmax15) or the support (sparsemax),
    by row blocks on the workers, with one output allocation: for a first-order backward,
    where nothing needs to differentiate it again."""
    shape = p.shape
    p, grad = p.reshape(-1, shape[-1]), grad.reshape(-1, shape[-1]).contiguous()
    out = torch.empty_like(p)
    block = min(_map_rows(shape[-1], p.dtype), max(p.shape[0], 1))
    starts = range(0, p.shape[0], block)
    workers = _workers(p.device, len(starts))

    def work(part):
        s_buffer, w_buffer = torch.empty((block, shape[-1]), dtype=p.dtype, device=p.device), torch.empty_like(out[:block])
        for start in starts[part :: max(workers, 1)]:
            rows = slice(start, start + block)
            b = min(block, p.shape[0] - start)
            s = torch.sqrt(p[rows], out=s_buffer[:b]) if kind == "entmax15" else torch.sign(p[rows], out=s_buffer[:b])
            weighted = torch.mul(s, grad[rows], out=w_buffer[:b])
            ratio = weighted.sum(dim=1, keepdim=True) / s.sum(dim=1, keepdim=True)
            torch.sub(weighted, s.mul_(ratio), out=out[rows])

    _in_workers(work, workers)
    return out.reshape(shape)


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
    """1.5-entmax with its closed-form backward: J = diag(s) - s s^T / sum s, s = sqrt(p).

    ``apply(Z, p)`` with ``p`` the already computed forward (or None to compute it).
    """

    @staticmethod
    def forward(ctx, Z, p=None):
        # A copy of a given p: the saved tensor must be this Function's output, or double
        # backward would not see its dependence on Z.
        p = _entmax15_forward(Z) if p is None else p.clone()
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad):
        (p,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: a backward that is differentiable itself
            return _simplex_backward(_SupportSqrt.apply(p), grad), None
        return _simplex_backward_blocks(p, grad, "entmax15"), None


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
        if torch.is_grad_enabled():
            return _simplex_backward((p > 0).to(grad.dtype), grad)
        return _simplex_backward_blocks(p, grad, "sparsemax")


def _entmax15(Z, p=None):
    return _Entmax15.apply(Z, p)


def entmax15(Z):
    r"""1.5-entmax of every row (last axis), exact, with a closed-form backward.

    ``entmax15(z) = argmax_{p in simplex} p . z + (4/3)(1 - sum_k p_k^{3/2})``, i.e.
    ``p_k = [z_k/2 - tau]_+^2`` with tau fixed by ``sum_k p_k = 1`` (see
    ``reference.entmax15``). tau comes from a few Newton steps from the left and an exact
    solve on the support they identify, checked; rows that fail the check (rare) use the
    reference's sort-based algorithm. No full sort otherwise. The backward is the closed
    form ``J g = s * g - s (s . g) / sum s``, ``s = sqrt(p)``. Exactly 0 off the support,
    exactly one-hot once the gap between the two largest entries is at least 2.

    Examples
    --------
    >>> entmax15(torch.tensor([0.0, -0.4, -5.0], dtype=torch.float64))
    tensor([0.6400, 0.3600, 0.0000], dtype=torch.float64)
    """
    Z, dtype = _logits_tensor(Z)
    return _returned(_entmax15(Z), dtype)


def sparsemax(Z):
    """Sparsemax (2-entmax) of every row; see ``reference.sparsemax``.

    The threshold as for ``entmax15`` (Newton's method is finite here: f is piecewise
    linear). Closed-form backward ``J g = m * g - m (m . g) / |S|``, m the support.

    Examples
    --------
    >>> sparsemax(torch.tensor([0.0, -0.5, -3.0]))
    tensor([0.7500, 0.2500, 0.0000])
    """
    Z, dtype = _logits_tensor(Z)
    return _returned(_Sparsemax.apply(Z), dtype)


# --- responsibilities, objectives, free energy -----------------------------------------


def _regret(d):
    # The maps are shift invariant, so the shift carries no gradient; detaching it keeps
    # autograd from adding a term that is 0 in exact arithmetic but ~eps*|d|/T in floats.
    return d - d.min(dim=1, keepdim=True).values.detach()


def _logits(d, temperature):
    return -_regret(d) / temperature


def _certified_logits(dist, temperature):
    """Logits ``-regret / T`` from the certified distances (exact, rounded once, where it
    matters): the same arithmetic in every row, so that the decisions agree with the
    distances and margins this module reports."""
    return _logits(dist.d, temperature)


def _uncertain_support(z, tau, slack, exact_rows):
    """Rows with an entry within ``slack`` (per row) of the entmax15 threshold, not yet exact."""
    u = (z - z.amax(dim=1, keepdim=True)) / 2
    closeness = torch.abs(u - tau).amin(dim=1)
    uncertain = closeness <= slack
    uncertain[exact_rows] = False
    return torch.nonzero(uncertain).flatten()


def _soft(dist, X, C, temperature, kind):
    """``(dist, r)``: responsibilities of a soft kind, with entmax15 supports certified."""
    z = _certified_logits(dist, temperature)
    if kind == "softmax":
        return dist, _softmax(z)
    with torch.no_grad():
        p, tau = _sparse_forward(z.detach(), "entmax15", with_threshold=True)
        # u moves by E/T at most, and so does tau; plus the rounding of z itself.
        slack = 2 * dist.error / temperature + 8 * torch.finfo(z.dtype).eps
        rows = _uncertain_support(z.detach(), tau, slack, dist.rows)
    if rows.numel():
        dist = _repaired(dist, X, C, rows)
        z = _certified_logits(dist, temperature)
        with torch.no_grad():  # d of repaired rows: their exact distances, rounded once
            exact = dist.d[rows].detach().to(torch.float64)
            p = p.index_put((rows,), _reference_entmax15(exact, temperature, p.dtype).to(p.dtype))
    return dist, _entmax15(z, p)


def _reference_entmax15(d, temperature, dtype):
    """The reference's own entmax15 responsibilities of rows of exact distances ``d`` (R, K)
    float64 rounded once to the working ``dtype`` (the numbers ``squared_distances`` and
    ``margins`` report; no rounding in float64): (R, K) float64 on d's device.

    Re-decided rows take them, so that an entry within rounding of the threshold is
    decided as the reference decides it on those numbers (other arithmetic for the
    threshold can put it on the other side), and T = margin / 2 from ``margins`` is
    exactly the one-hot boundary in every dtype."""
    from . import reference

    rounded = d.detach().to(dtype).to(torch.float64).cpu().numpy()
    return torch.from_numpy(reference._responsibilities(rounded, temperature, "entmax15")).to(d.device)


def _responsibilities_of(dist, X, C, temperature, kind):
    if kind == "hard":
        return dist, torch.nn.functional.one_hot(_labels(dist), dist.d.shape[1]).to(dist.d.dtype)
    return _soft(dist, X, C, temperature, kind)


def responsibilities(X, C, temperature=None, kind="hard"):
    """Responsibilities ``r_ik = map(-d_i / T)_k``, (N, K); see ``reference.responsibilities``.

    Labels (hard) and entmax15 supports are certified exact (module docstring).

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
    _, r = _responsibilities_of(_distances(X, C), X, C, temperature, kind)
    return _returned(r, dtype)


def _dense_objective(X, C, temperature, kind):
    dist, r = _responsibilities_of(_distances(X, C), X, C, temperature, kind)
    return _objective(dist.d, r)


def _layer(X, C, temperature, kind, loss):
    """``(r, loss)`` for ``kmeans_rbf.nn.RBFClustering``: one certified distance matrix."""
    dist, r = _responsibilities_of(_distances(X, C), X, C, temperature, kind)
    if loss == "objective":
        return r, _objective(dist.d, r)
    return r, _free_energy_of(dist, X, C, temperature, kind)


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
    return _returned(_dense_objective(X, C, temperature, kind), dtype)


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
    return _returned(_dense_free_energy(X, C, temperature, kind), dtype)


def _dense_free_energy(X, C, temperature, kind):
    return _free_energy_of(_distances(X, C), X, C, temperature, kind)


def _free_energy_of(dist, X, C, temperature, kind):
    if kind == "hard":
        return torch.mean(dist.d.min(dim=1).values)
    if kind == "softmax":
        nearest = dist.d.min(dim=1).values
        log_partition = torch.logsumexp(_certified_logits(dist, temperature), dim=1)
        # _logits detached the row minimum, so it is detached here too: the two
        # dependencies on it cancel exactly (sum_k r_k = 1).
        return torch.mean(nearest.detach() - temperature * log_partition)
    dist, r = _soft(dist, X, C, temperature, kind)
    return torch.mean(torch.sum(r * dist.d, dim=1) - temperature * _tsallis15_entropy(r))


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
    return _autograd_gradient(lambda X, C: _dense_objective(X, C, temperature, kind), X, C, dtype)


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
    return _autograd_gradient(lambda X, C: _dense_free_energy(X, C, temperature, kind), X, C, dtype)


# --- updates ---------------------------------------------------------------------------


def _weighted_means(X, C, weights):
    mass = weights.sum(dim=0)
    sums = weights.T @ X
    empty = mass <= 0
    means = sums / torch.where(empty, torch.ones_like(mass), mass)[:, None]
    return torch.where(empty[:, None], C, means)


def _step(X, C, temperature, kind):
    """One Lloyd (kind='hard') or soft step: streamed, or dense when grad is required."""
    if _requires_grad(X, C):
        return _dense_step(X, C, temperature, kind)
    from . import streaming

    return streaming.step(X, C, temperature, kind)


def _dense_step(X, C, temperature, kind):
    """The step with the (N, K) matrix formed, differentiable in X and C."""
    dist = _distances(X, C)
    if kind == "hard":
        return _weighted_means(X, C, _responsibilities_of(dist, X, C, None, "hard")[1])
    if kind == "softmax":
        return _weighted_means(X, C, _softmax_column_weights(dist.d, temperature))
    dist, r = _soft(dist, X, C, temperature, kind)
    return _weighted_means(X, C, r)


def lloyd_step(X, C):
    """One Lloyd step; an empty cell keeps its centre. See ``reference.lloyd_step``.

    Streams over chunks of points (``kmeans_rbf.streaming``) with certified labels; when
    X or C requires grad (and grad mode is on) the dense differentiable path is taken.

    Examples
    --------
    >>> lloyd_step(torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([[0.5000],
            [2.0000]])
    """
    X, C, dtype = _data_and_centres(X, C, streamed=True)
    return _returned(_step(X, C, None, "hard"), dtype)


def _lloyd_step(X, C):
    return _step(X, C, None, "hard")


def soft_step(X, C, temperature=None, kind="softmax"):
    """One soft step ``c_k <- sum_i r_ik x_i / n_k``; see ``reference.soft_step``.

    Streams over chunks of points (``kmeans_rbf.streaming``); softmax keeps the
    reference's per-centre log-domain rescaling (exact where every ``r_ik`` underflows)
    as a running minimum of the regret per centre. When X or C requires grad (and grad
    mode is on) the dense differentiable path is taken.

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
    X, C, dtype = _data_and_centres(X, C, streamed=True)
    _validate_representable(temperature, dtype)
    return _returned(_step(X, C, temperature, kind), dtype)


def _soft_step(X, C, temperature, kind):
    return _step(X, C, temperature, kind)


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
    n_iter = validation.validate_count(n_iter, "n_iter")
    X, C, dtype = _data_and_centres(X, C0, "C0", streamed=n_iter > 0)  # the first step checks X
    for _ in range(n_iter):
        C = _step(X, C, None, "hard")
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
    X, C, dtype = _data_and_centres(X, C0, "C0", streamed=True)  # the first step checks X
    for temperature in temperatures:
        _validate_representable(temperature, dtype)
    trajectory = [C]
    for temperature in temperatures:
        for _ in range(steps):
            C = _step(X, C, temperature, kind)
            trajectory.append(C)
    return _returned(torch.stack(trajectory), dtype)
