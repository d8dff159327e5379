r"""Sufficient statistics of the Lloyd and soft steps, streamed over chunks of points.

One step of every kind is the M-step ``c_k <- sum_i r_ik x_i / sum_i r_ik`` of
responsibilities computed from the current centres (``kmeans_rbf.torch`` for the maths
and the certified distances). It needs, per centre, only

* ``sums_k   = sum_i w_ik (x_i - s)``  (K, D), ``s`` a shift (the frame of the sums),
* ``masses_k = sum_i w_ik``            (K,),

with ``w_ik = r_ik exp(offsets_k / T)`` (``offsets = 0`` except for softmax, below), and,
to monitor a fit, the free energy ``energy = sum_i F_i`` (``F_i = min_k d_ik`` for
kind='hard', the K-Means objective; ``d_i(1) - T log sum_k exp(-(d_ik - d_i(1))/T)`` for
softmax; ``sum_k r_ik d_ik - T (4/3)(1 - sum_k r_ik^{3/2})`` for entmax15). These are
sums over points: a chunk, a shard on another process, or a file read piece by piece
contributes its own, and ``combine`` adds them. No (N, K) matrix and no (N, K, D) tensor
is formed: the points are processed ``chunk_rows`` at a time, with the (chunk, K)
buffers reused across chunks (a fresh multi-megabyte tensor costs page faults).

softmax and underflow. At a low temperature every ``r_ik`` of a centre that is nobody's
nearest underflows to 0; the reference still moves it, to the points of least regret,
by rescaling each centre's weights in the log domain (``_softmax_column_weights``). The
streamed equivalent keeps, per centre, the least regret seen so far,
``offsets_k = min_i (d_ik - d_i(1))``, and the weights relative to it,
``w_ik = exp(-(d_ik - d_i(1) - offsets_k)/T - log Z_i)`` (at most 1, at least 1/K at the
minimising point): an online, running-maximum log-sum-exp per centre. Merging two
statistics rescales the one with the larger offset by ``exp(-(its offset - min)/T)``.
Where a centre's largest weight is not small (the common case: it is some point's
nearest), the offset is 0 and ``w = r`` exactly.

The API (for ``kmeans_rbf.distributed``, an out-of-core fit, or any loop of your own)
-----------------------------------------------------------------------------------
``sufficient_statistics(X, C, temperature, kind, shift=s)``
    The statistics of the points X (any number of rows, streamed in chunks) for centres
    C; a ``Statistics`` of float64 tensors on C's device.
``combine(a, b, temperature)``
    The statistics of the union (associative and commutative).
``aligned(stats, offsets, temperature)``
    The same statistics expressed at given (smaller) offsets: after an all-reduce of the
    offsets with MIN, every process aligns, and sums, masses and energy all-reduce with SUM.
``centres(stats, C, shift)``
    The new centres ``s + sums / masses``; a centre without mass keeps its place.
``default_shift(C)``
    The frame every process derives from the same centres: 0, or their mean when they
    lie far from the origin.

One step over shards, with ``torch.distributed`` (every process holds the same C)::

    s = streaming.default_shift(C)
    stats = streaming.sufficient_statistics(X_local, C, T, kind, shift=s)
    offsets = stats.offsets.clone()
    dist.all_reduce(offsets, op=dist.ReduceOp.MIN)
    stats = streaming.aligned(stats, offsets, T)
    for t in (stats.sums, stats.masses, stats.energy, stats.n_points):
        dist.all_reduce(t)                             # SUM
    C = streaming.centres(stats, C, s)
    free_energy = stats.energy / stats.n_points        # of the centres before the step

Out of core: pass a memory-mapped array (``torch.from_numpy(np.load(path,
mmap_mode="r"))``); chunks are read as they are processed. Or call
``sufficient_statistics`` on pieces and ``combine`` them.

Guarantees: labels (kind='hard') and entmax15 supports are certified exact as in
``kmeans_rbf.torch`` (a re-decided point uses exact float64 distances, and for entmax15
the reference's own responsibilities, ``_reference_rows``; the fused kernel also sets
apart, for them, the rows its Newton steps did not settle); each chunk's
soft sums are formed in the working dtype (a product over the chunk's rows) and the
statistics accumulated across chunks in float64 (one-hot rows in float64 throughout);
a chunk with NaN or inf raises
ValueError (checked from the squared norms the chunk computes anyway, not by a separate
pass), distances beyond the range of float64 or of the working dtype raise OverflowError.
No autograd (``torch.no_grad``): a differentiable step is ``kmeans_rbf.torch.soft_step``
with inputs that require grad.

Fused kernels. On the CPU, in float32 and float64, the chunks go through the fused
kernels of ``kmeans_rbf.fused`` (a C++ extension built on first use): each tile of a
vector's worth of rows (two at a time) is centred, multiplied by the centres and
scanned for its nearest centre, runner-up and near-tie flag in the registers (no GEMM
call: the product and the scan are one loop); the soft kinds then form the weights, their normalisers and the
sums product of blocks of a few thousand rows while they are in the cache. The maths,
the certification and the flagged rows' exact repair are those of the eager kernels
below (the same Python decides the flagged rows); exactly one-hot chunks take the same
one-hot sums, bit for bit. ``fused.use_fused(False)`` (or ``KMEANS_RBF_FUSED=0``) runs
the eager kernels, which also serve any other device and dtype, and a machine where the
extension cannot be built. ``tests/test_fused.py`` checks the two against each other.

Chunk size and memory. ``chunk_rows`` gives the rows per chunk for a memory ``budget``
(default ``DEFAULT_BUDGET``, 32 MiB, shared by the workers below): a chunk's buffers
(at most four (rows, K) matrices in the working dtype, the centred rows, their float64
copy; each allocated on first use, and the fused kernels use fewer) fit in it. That is
all a step allocates beyond the data and O(K D) statistics, with the float64 differences
of rows re-decided exactly (in blocks of 16 MiB, ``torch._EXACT_BLOCK_BYTES``, however
many are flagged; ``_DEFERRED_PER_CHUNK`` bounds the entmax15 rows waiting): a soft step at
N = 2,000,000, K = 256, D = 32 in float32 grows the resident set by tens of MiB, where
the (N, K) matrix alone would be 2 GiB (benchmarks/README.md; tests/test_streaming.py
counts the allocations). Measured on two cores: with the eager kernels 16-32 MiB is best
(a smaller chunk costs more per-op dispatch, a larger one falls out of the cache); with
the fused ones (N = 200,000, K = 64, D = 32, float32) 32 MiB is best for the soft steps
(16 and 64 MiB 7-11 % slower), and the Lloyd step, which holds no (rows, K) matrix, is
8 % faster at 64 MiB and 15 % slower at 16.

Parallelism. On the CPU the chunks are shared by ``torch.get_num_threads()`` worker
threads, torch's own ops being single-threaded meanwhile (``kmeans_rbf.torch``: a few
dozen ops per chunk each synchronising all intra-op threads is what made the steps slow
on a busy machine). The result does not depend on the scheduling (worker i takes chunks
i, i + workers, ...), only, through the order of summation, on the number of workers.
``KMEANS_RBF_WORKERS=0`` turns this off.

torch.compile. ``use_compile(True)`` (or ``KMEANS_RBF_COMPILE=1``) runs full chunks
through ``torch.compile``-d versions of the kernels (pure functions in a transposed
layout, scalars as 0-d tensors so that new centres or a new temperature do not
recompile; the data-dependent repairs stay eager). The first call compiles for 5-40 s
(less with inductor's cache warm). On the two-core CPU we measured them no faster than
the eager kernels (the generated reductions over K = 64 entries are slower than torch's,
and the GEMMs are the same) and 2.6-4.6 times slower than the fused ones
(benchmarks/README.md), so compilation is off by default and not worth it on CPU;
on CUDA, where every eager op is a kernel launch, it should be, for runs long enough to
repay the compilation (untested here: no GPU). The compiled kernels run on the worker
threads, as the eager ones do.

Examples
--------
>>> import torch
>>> from kmeans_rbf import streaming
>>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]], dtype=torch.float64)
>>> C = torch.tensor([[0.0], [10.0]], dtype=torch.float64)
>>> s = streaming.default_shift(C)
>>> a = streaming.sufficient_statistics(X[:2], C, shift=s)
>>> b = streaming.sufficient_statistics(X[2:], C, shift=s)
>>> both = streaming.combine(a, b)
>>> both.masses, both.energy / both.n_points   # two points per cell, J = (0 + 1 + 1 + 0)/4
(tensor([2., 2.], dtype=torch.float64), tensor(0.5000, dtype=torch.float64))
>>> streaming.centres(both, C, s)
tensor([[0.5000],
        [9.5000]], dtype=torch.float64)
"""

import contextlib
import math
import os
import threading
from typing import NamedTuple

import numpy as np
import torch

from . import _validation as validation
from . import fused
from . import torch as krbf_torch
from .kinds import KINDS

__all__ = [
    "Statistics",
    "DEFAULT_BUDGET",
    "sufficient_statistics",
    "combine",
    "aligned",
    "centres",
    "default_shift",
    "chunk_rows",
    "use_compile",
    "release_workspace",
]

DEFAULT_BUDGET = 32 * 2**20
# Newton steps of the compiled entmax15 kernel (the eager one tries the two-largest root
# first and steps only the rows that need it; compiled code steps every row).
_NEWTON_STEPS_COMPILED = 2

# A softmax column whose largest weight exp(-least regret / T) is below this is rescaled
# in the log domain; above it, weights below the smallest normal number are at most
# 2^-66 (float32) or 2^-522 (float64) of the column's largest: negligible.
_RESCALE_BELOW = {torch.float32: 2.0**-60, torch.float64: 2.0**-500}
# One above the log of the smallest normal number: exp stays on its fast path.
_SMALLEST_EXPONENT = {dtype: math.log(torch.finfo(dtype).tiny) + 1 for dtype in (torch.float32, torch.float64)}


class Statistics(NamedTuple):
    """Sufficient statistics of a step over some points (all float64, on C's device).

    Attributes
    ----------
    sums : Tensor, shape (K, D)
        ``sum_i w_ik (x_i - shift)``.
    masses : Tensor, shape (K,)
        ``sum_i w_ik``.
    offsets : Tensor, shape (K,)
        ``w_ik = r_ik exp(offsets_k / T)``: 0 for kind='hard' and entmax15, and for
        softmax centres with ordinary weights; the least regret of the centre (a
        distance, >= 0) where its weights are rescaled; inf for a centre without mass
        in these points (neutral for the MIN that aligns statistics).
    energy : Tensor, shape ()
        ``sum_i F_i``, the free energy summed over the points (J for kind='hard').
    n_points : Tensor, shape (), int64
        The number of points.
    """

    sums: torch.Tensor
    masses: torch.Tensor
    offsets: torch.Tensor
    energy: torch.Tensor
    n_points: torch.Tensor


def default_shift(C):
    """The frame of the sums: 0, or the centres' mean when they lie far from the origin.

    Summing ``x - s`` rather than ``x`` keeps the digits that an offset far beyond the
    spread of the data would cost (float32 sums of points at 10^6 with spread 1 keep no
    digit of the spread otherwise). Near the origin (``|mean|`` within 16 times the
    centres' spread, max norm) the frame is 0 and the sums are those of the reference.
    A function of C alone, so every process holding the same centres derives the same.
    (The distances are centred on the centres' mean in any case: ``kmeans_rbf.torch``.)

    Examples
    --------
    >>> default_shift(torch.tensor([[0.0], [2.0], [7.0]]))
    tensor([0.])
    >>> default_shift(torch.tensor([[1000.0], [1002.0], [1007.0]]))
    tensor([1003.])
    """
    centre = krbf_torch._shift(C)
    spread = (C - centre).abs().max()
    if bool(spread > 0) and bool(centre.abs().max() > 16 * spread):
        return centre
    return torch.zeros_like(centre)


def _empty(n_clusters, n_features, device):
    zeros = dict(dtype=torch.float64, device=device)
    return Statistics(
        torch.zeros((n_clusters, n_features), **zeros),
        torch.zeros((n_clusters,), **zeros),
        torch.full((n_clusters,), float("inf"), **zeros),
        torch.zeros((), **zeros),
        torch.zeros((), dtype=torch.int64, device=device),
    )


def aligned(stats, offsets, temperature=None):
    """``stats`` with weights relative to ``offsets`` (each <= its own): ``exp(-(o - offsets)/T)``.

    The identity for kind='hard' and entmax15 (offsets 0). Used after an all-reduce of
    the offsets with MIN, so that every process's sums can then be added.

    Examples
    --------
    >>> one = Statistics(torch.ones(1, 1), torch.ones(1), torch.tensor([2.0]), torch.tensor(0.0), torch.tensor(1))
    >>> aligned(one, torch.tensor([1.0]), temperature=1.0).masses   # exp(-(2 - 1)/1)
    tensor([0.3679])
    """
    # An infinite offset marks a statistic without points: its sums are 0 already.
    moved = (stats.offsets != offsets) & torch.isfinite(stats.offsets)
    if not bool(moved.any()):
        return stats._replace(offsets=offsets)
    factor = torch.where(moved, torch.exp(-(stats.offsets - offsets) / temperature), 1.0)
    return stats._replace(sums=stats.sums * factor[:, None], masses=stats.masses * factor, offsets=offsets)


def combine(a, b, temperature=None):
    """The statistics of the points of ``a`` and of ``b`` together.

    Examples
    --------
    >>> one = Statistics(torch.ones(1, 1), torch.ones(1), torch.zeros(1), torch.tensor(3.0), torch.tensor(1))
    >>> combine(one, one).sums, combine(one, one).n_points
    (tensor([[2.]]), tensor(2))
    """
    offsets = torch.minimum(a.offsets, b.offsets)
    a, b = aligned(a, offsets, temperature), aligned(b, offsets, temperature)
    return Statistics(
        a.sums + b.sums, a.masses + b.masses, offsets, a.energy + b.energy, a.n_points + b.n_points
    )


def centres(stats, C, shift):
    """The step's centres ``shift + sums / masses`` (K, D) in C's dtype; massless centres keep C.

    Examples
    --------
    >>> stats = Statistics(torch.tensor([[2.0], [0.0]]), torch.tensor([4.0, 0.0]),
    ...                    torch.zeros(2), torch.tensor(0.0), torch.tensor(4))
    >>> centres(stats, torch.tensor([[0.0], [7.0]]), torch.tensor([1.0]))
    tensor([[1.5000],
            [7.0000]])
    """
    empty = stats.masses <= 0
    means = shift.to(torch.float64) + stats.sums / torch.where(empty, 1.0, stats.masses)[:, None]
    return torch.where(empty[:, None], C, means.to(C.dtype))


def _bytes_per_row(n_clusters, n_features, dtype):
    itemsize = torch.finfo(dtype).bits // 8
    return itemsize * (4 * n_clusters + 3 * n_features + 2) + 8 * n_features + 64


def chunk_rows(n_clusters, n_features, dtype=torch.float32, budget=None):
    """Rows per chunk so that one chunk's buffers fit in ``budget`` bytes (at least 1).

    Examples
    --------
    >>> chunk_rows(64, 32, torch.float32, budget=2**20)
    604
    """
    budget = DEFAULT_BUDGET if budget is None else budget
    return max(1, int(budget) // _bytes_per_row(n_clusters, n_features, dtype))


class _Workspace:
    """The buffers of one chunk, reused from chunk to chunk, each allocated on first use.

    The eager kernels use the (rows, K) matrices ``S``, ``W``, ``t``, ``keys`` and the
    (rows, D) ones; the fused kernels (``kmeans_rbf.fused``) the transposed scores
    ``ST`` (K, rows) (the soft kinds only), blocks of weights and rows (``ST_block``,
    ``PT``, ``block_rows``) and per-row vectors: a chunk allocates only what its path
    touches, within the budget ``chunk_rows`` sizes the chunk for.
    """

    def __init__(self, rows, n_clusters, n_features, dtype, device):
        self.key = (rows, n_clusters, n_features, dtype, torch.device(device))
        like = dict(dtype=dtype, device=device)
        integers = torch.int32 if dtype == torch.float32 else torch.int64
        K, D = n_clusters, n_features
        block = _fused_block_rows(rows, K, dtype)
        self._specs = {
            "augmented": ((rows, D + 2), like),
            "A2": ((rows, D), like),
            "Y": ((rows, D), like),
            "Y64": ((rows, D), dict(dtype=torch.float64, device=device)),
            "S": ((rows, K), like),
            "W": ((rows, K), like),
            "t": ((rows, K), like),
            "norms": ((rows,), like),
            "keys": ((rows, K), dict(dtype=integers, device=device)),
            "columns": None,
            "ones64": None,
            "ST": ((K, rows), like),
            "ST_block": ((K, block), like),
            "block_rows": ((block, D), like),
            "PT": ((K, block + 64 // (torch.finfo(dtype).bits // 8)), like),  # 64 spare bytes: a vector, at any width
            "apart": ((rows,), dict(dtype=torch.bool, device=device)),
            "sums": ((K, D), like),
            "Z": ((rows,), like),
            "largest": ((K,), like),
            "masses": ((K,), like),
            "labels": ((rows,), dict(dtype=torch.long, device=device)),
            "nearest": ((rows,), like),
            "second": ((rows,), like),
            "uncertain": ((rows,), dict(dtype=torch.bool, device=device)),
        }
        self._device = device
        self._integers = integers

    def __getattr__(self, name):
        specs = self.__dict__.get("_specs")
        if specs is None or name not in specs:
            raise AttributeError(name)
        if name == "columns":
            value = torch.arange(self.key[1], dtype=self._integers, device=self._device)
        elif name == "ones64":
            value = torch.ones((self.key[0],), dtype=torch.float64, device=self._device)
        else:
            shape, like = specs[name]
            value = torch.empty(shape, **like)
            if name == "augmented":
                value[:, shape[1] - 1] = 1.0
        setattr(self, name, value)  # found directly from now on
        return value


def _fused_block_rows(rows, n_clusters, dtype):
    """Rows per block of the fused soft kernels (their weights ``ST_block``, ``PT``):
    512 KiB of them, in a core's L2 cache (measured on two cores: 2048 rows at K = 64 is
    the best, 512 to 4096 within 5 %)."""
    itemsize = torch.finfo(dtype).bits // 8
    return max(1, min(rows, (2**19) // (n_clusters * itemsize)))


# One cached workspace per worker: steps in a loop (kmeans, anneal, a distributed fit)
# reuse them.
_cache = {}
_cache_lock = threading.Lock()


@contextlib.contextmanager
def _workspace(rows, n_clusters, n_features, dtype, device, slot=0):
    key = (rows, n_clusters, n_features, dtype, torch.device(device))
    with _cache_lock:
        lock = _cache.setdefault(("lock", slot), threading.Lock())
    if not lock.acquire(blocking=False):  # another call holds it: a private one
        yield _Workspace(rows, n_clusters, n_features, dtype, device)
        return
    try:
        workspace = _cache.get(slot)
        if workspace is None or workspace.key != key:
            _cache[slot] = None  # release the old buffers before allocating
            workspace = _cache[slot] = _Workspace(rows, n_clusters, n_features, dtype, device)
        yield workspace
    finally:
        lock.release()


def release_workspace():
    """Free the cached chunk buffers (at most ``DEFAULT_BUDGET`` bytes, or the last budget).

    Steps keep one workspace between calls, so that a loop of steps does not allocate
    (and fault in) fresh buffers every time; this returns that memory.
    """
    with _cache_lock:
        for slot in [key for key in _cache if not isinstance(key, tuple)]:
            _cache[slot] = None


# --- the chunk kernels ---------------------------------------------------------------


class _Frame(NamedTuple):
    """What every chunk needs of the centres: computed once per step."""

    C: torch.Tensor  # (K, D) working dtype
    C64: np.ndarray  # (K, D) float64, on the CPU: the re-decided rows' reference distances
    centre: torch.Tensor  # (D,) the expansion's shift (torch._shift)
    augmented_T: torch.Tensor  # (D + 2, K): columns (-2 b_k, 1, m_k), b_k = c_k - centre
    minus_2B_T: torch.Tensor  # (D, K) contiguous: columns -2 b_k, and m (K,) |b_k|^2: the fused kernels'
    m: torch.Tensor
    m_max: float
    eps: float
    absolute: float
    band: tuple  # (f, g): a runner-up within f n_i + g of the nearest makes a near-tie
    safe: float  # n_i below this: no entry of the expansion can overflow
    origin: torch.Tensor  # (D,) the frame of the sums
    origin_is_zero: bool
    origin_is_centre: bool
    temperature: float
    kind: str
    energy: bool  # whether the free energy is wanted (entmax15 spends two passes on it)


def _frame(C, origin, temperature, kind, energy=True):
    centre = krbf_torch._shift(C)
    B = C - centre
    m = torch.sum(B * B, dim=1)
    augmented = torch.cat([-2 * B, torch.ones_like(m)[:, None], m[:, None]], dim=1)
    eps, absolute = krbf_torch._expansion_error(C.dtype, C.shape[1])
    m_max = float(m.max())
    # 2 E_i = 2 eps (n_i + M) + 2 a, and _argmin's key slack at |d^| <= 2 (n_i + M).
    slack = krbf_torch._argmin_slack_factors(C.dtype, C.shape[0])
    factor = 2 * eps + 2 * slack[0]
    band = (factor, factor * m_max + 2 * absolute + slack[1])
    # |d^| <= n + m + 2 |a . b| <= 2 (n + m): finite (and no NaN) while that is.
    safe = torch.finfo(C.dtype).max / 4 - m_max
    C64 = C.to(torch.float64).numpy() if C.device.type == "cpu" else None
    return _Frame(
        C, C64, centre, augmented.T, augmented[:, :-2].T.contiguous(), m, m_max, eps, absolute, band, safe, origin,
        bool((origin == 0).all()), bool((origin == centre).all()), temperature, kind, energy,
    )


def _scores(x, frame, ws):
    """Centred chunk, norms, distances by the expansion, nearest, runner-up, uncertain rows.

    One matrix product gives ``d^_ik = (a_i, n_i, 1) . (-2 b_k, 1, m_k)`` (whose
    float bits order its nonnegative entries as integers, for ``torch._argmin``). A row
    is uncertain when its runner-up is within ``2 E_i`` plus the key slack of
    ``_argmin`` of the chosen entry (``frame.band``; torch module docstring), or when
    its norm is large enough for the expansion to overflow. Every op here runs once per
    chunk: on these sizes each costs a few microseconds of dispatch, so there are few.
    """
    b, D = x.shape
    augmented = ws.augmented[:b]
    A = torch.sub(x, frame.centre, out=augmented[:, :D])
    # Summed as squares (not a norm squared): exact on quantised data, with the dyadic
    # centre, so that exact ties stay exact (at T = 1e-30 a faint centre's weights
    # separate points whose regrets differ in the last bit).
    n = torch.sum(torch.mul(A, A, out=ws.Y[:b]), dim=1, out=ws.norms[:b])
    augmented[:, D] = n
    # Negative entries (true distances within E of 0) come first as integers but in
    # reverse order among themselves: two of them are a near-tie, re-decided anyway.
    d = torch.mm(augmented, frame.augmented_T, out=ws.S[:b])
    labels = krbf_torch._argmin(d, ws.keys[:b], nonnegative=True, columns=ws.columns)
    index = labels[:, None]
    nearest = d.gather(1, index)
    second = d.scatter_(1, index, float("inf")).amin(dim=1)
    d.scatter_(1, index, nearest)
    nearest = nearest[:, 0]
    threshold = torch.mul(n, frame.band[0]).add_(frame.band[1]).add_(nearest)
    uncertain = torch.gt(second, threshold).logical_not_()  # NaN included
    if not bool(n.max() < frame.safe):  # (NaN fails too)
        uncertain |= ~(n < frame.safe)
    return A, n, d, nearest, labels, uncertain, second


def _relative(x, A, frame, ws):
    """The chunk's rows relative to the origin of the sums (finite wherever no distance overflows)."""
    if frame.origin_is_zero:
        return x
    if frame.origin_is_centre:
        return A
    return torch.sub(x, frame.origin, out=ws.Y[: x.shape[0]])


class _Exact(NamedTuple):
    """Re-decided rows of a chunk: indices, exact (float64) distances, nearest and label."""

    rows: torch.Tensor
    d: torch.Tensor
    nearest: torch.Tensor
    labels: torch.Tensor


def _exact_rows(x, frame, uncertain):
    """The rows flagged ``uncertain``, recomputed exactly (None if there are none).

    ``torch._exact_squared_distances``: on the CPU the reference's own numbers, in a
    handful of NumPy calls on NumPy views of the chunk (a chunk usually has one or two
    such rows, and a torch op on a few rows costs several NumPy ones), their differences
    block by block (``_EXACT_BLOCK_BYTES``) however many rows are flagged.
    """
    if x.device.type == "cpu":
        rows = np.flatnonzero(uncertain.numpy())
        if not rows.size:
            return None
        points = x.numpy()[rows]
        if not np.isfinite(points).all():
            validation.validate_finite(x, "X")
        d = krbf_torch._reference_distances(points.astype(np.float64), frame.C64)  # OverflowError past float64
        if d.max() > torch.finfo(x.dtype).max:  # finite in float64, not in the working dtype
            validation.validate_distances_finite(torch.from_numpy(d).to(x.dtype))
        labels = d.argmin(axis=1)  # the first minimum: ties to the lowest index
        nearest = d[np.arange(rows.size), labels]
        return _Exact(*(torch.from_numpy(a) for a in (rows, d, nearest, labels)))
    rows = torch.nonzero(uncertain).flatten()
    if not rows.numel():
        return None
    points = x[rows]
    if not bool(torch.isfinite(points).all()):
        validation.validate_finite(x, "X")
    d = krbf_torch._exact_squared_distances(points, frame.C)
    if float(d.max()) > torch.finfo(x.dtype).max:  # finite in float64, not in the working dtype
        validation.validate_distances_finite(d.to(x.dtype))
    nearest, labels = d.min(dim=1)  # the first minimum: ties to the lowest index
    return _Exact(rows, d, nearest, labels)


def _joined(exact, more):
    if exact is None:
        return more
    return _Exact(*(torch.cat([a, b]) for a, b in zip(exact, more)))


class _Apart(NamedTuple):
    """Re-decided rows whose responsibilities are not one-hot: accumulated apart, in float64."""

    rows: torch.Tensor
    p: torch.Tensor  # (R, K) float64, the reference's
    d: torch.Tensor  # (R, K) float64, their exact distances


def _reference_rows(tau, t, exact, temperature):
    """Re-decided rows take the reference's own entmax15 responsibilities, from their exact
    distances rounded once to the working dtype (``torch._reference_entmax15``): supports
    and values the reference's on those numbers, even for an entry within rounding of the
    threshold, which other arithmetic can decide otherwise.

    One-hot rows go into ``t`` as they are (1 and 0, ``tau = -1``: the chunk's one-hot path
    and energy formula hold for them); the others are zeroed in ``t`` and returned
    (``_Apart``, or None) for ``_add_apart``.
    """
    p = krbf_torch._reference_entmax15(exact.d, temperature, t.dtype)
    one_hot = _one_hot_rows(p)
    t[exact.rows] = p.to(t.dtype)  # t = sqrt(p), exact for 0 and 1
    tau[exact.rows] = -1.0
    if bool(one_hot.all()):
        return None
    apart = _Apart(exact.rows[~one_hot], p[~one_hot], exact.d[~one_hot])
    t[apart.rows] = 0.0
    return apart


def _one_hot_rows(p):
    """Rows of responsibilities with a single nonzero entry (which is then 1). Not "an
    entry equal to 1": a row (1, 1e-28) sums to 1 in float64 and is not one-hot."""
    return torch.count_nonzero(p, dim=1) == 1


def _add_apart(apart, Y, cubes, tau64, temperature):
    """``(sums, masses, energy - sum d_i(1))`` of the rows apart (``Y`` their rows relative
    to the origin), float64; their entries of ``cubes`` and ``tau64`` (if given) set so
    that the chunk's energy formula gives them 0."""
    if cubes is not None:
        cubes[apart.rows] = 1.0
        tau64[apart.rows] = -1.0
    p, d = apart.p, apart.d
    sums = p.T @ Y.to(torch.float64)
    # F_i = sum_k p_k d_k - T (4/3)(1 - sum_k p_k^{3/2}), less d_i(1) (in the chunk's sum)
    energy = torch.sum(torch.sum(p * d, dim=1) - d.min(dim=1).values
                       - temperature * (4.0 / 3.0) * (1 - torch.sum(p * torch.sqrt(p), dim=1)))
    return sums, p.sum(dim=0), energy


def _nearest_sum(nearest, exact):
    """``sum_i d_i(1)`` in float64, exact in the re-decided rows."""
    total = torch.sum(nearest, dtype=torch.float64)
    if exact is not None:
        total += torch.sum(exact.nearest - nearest[exact.rows].to(torch.float64))
    return total


class _Accumulator:
    """One worker's running statistics, float64, updated in place chunk by chunk.

    ``offsets`` is None while every chunk's are 0 (all kinds but softmax, and softmax
    centres with ordinary weights); a chunk with rescaled (faint) centres is merged
    with the rescaling of ``combine``.
    """

    def __init__(self, n_clusters, n_features, device, temperature=None):
        self.temperature = temperature
        zeros = dict(dtype=torch.float64, device=device)
        self.sums = torch.zeros((n_clusters, n_features), **zeros)
        self.masses = torch.zeros((n_clusters,), **zeros)
        self.energy = torch.zeros((), **zeros)
        self.offsets = None
        self.count = 0
        self.deferred = []  # (points, nearest): rows whose responsibilities come at the end

    def one_hot(self, Y, labels, ws):
        """Rows with one-hot weights on ``labels``: float64 sums in row order, counts.

        Every kind accumulates exactly one-hot chunks this way, so that an exactly hard
        soft step is Lloyd's step bit for bit (claim entmax-trajectory-bit-for-bit).
        """
        b = Y.shape[0]
        Y64 = ws.Y64[:b].copy_(Y)
        if self.offsets is None:
            self.sums.index_add_(0, labels, Y64)
            self.masses.index_add_(0, labels, ws.ones64[:b])
        else:
            sums = torch.zeros_like(self.sums).index_add_(0, labels, Y64)
            self.merge(sums, torch.zeros_like(self.masses).index_add_(0, labels, ws.ones64[:b]), None)

    @property
    def deferred_rows(self):
        return sum(points.shape[0] for points, _ in self.deferred)

    def one_hot_fused(self, x, origin, labels, kernels):
        """``one_hot(x - origin, labels)`` by the fused kernel: the same bits, one pass."""
        if self.offsets is None:
            kernels.one_hot(x, origin, labels, self.sums, self.masses)
        else:
            sums, masses = torch.zeros_like(self.sums), torch.zeros_like(self.masses)
            kernels.one_hot(x, origin, labels, sums, masses)
            self.merge(sums, masses, None)

    def add(self, sums, masses):
        """Chunk sums and masses (any float dtype) with offsets 0."""
        if self.offsets is None:
            self.sums += sums
            self.masses += masses
        else:
            self.merge(sums.to(torch.float64), masses.to(torch.float64), None)

    def merge(self, sums, masses, offsets):
        """Chunk statistics with per-centre ``offsets`` (None: 0), rescaled as ``combine``."""
        if offsets is None and self.offsets is None:
            self.sums += sums
            self.masses += masses
            return
        before = Statistics(self.sums, self.masses, _offsets(self.offsets, self.masses), self.energy, 0)
        after = Statistics(sums, masses, _offsets(offsets, masses), torch.zeros_like(self.energy), 0)
        self.sums, self.masses, self.offsets, self.energy, _ = combine(before, after, self.temperature)

    def statistics(self):
        offsets = _offsets(self.offsets, self.masses)
        return Statistics(self.sums, self.masses, offsets, self.energy, torch.tensor(self.count, device=self.sums.device))


def _offsets(offsets, masses):
    """Offsets as ``Statistics`` has them: 0 for None, inf for a centre without mass (a
    neutral element of the MIN that aligns statistics: it must not rescale the others)."""
    known = torch.zeros_like(masses) if offsets is None else offsets
    return torch.where(masses > 0, known, float("inf"))


def _hard(x, frame, ws, acc):
    A, n, d, nearest, labels, uncertain, _ = _scores(x, frame, ws)
    exact = _exact_rows(x, frame, uncertain)
    if exact is not None:
        labels[exact.rows] = exact.labels
    acc.one_hot(_relative(x, A, frame, ws), labels, ws)
    if frame.energy:
        acc.energy += _nearest_sum(nearest, exact)


_NO_SCORES = torch.empty(0)


def _fused_scores(x, frame, ws, kernels, whole):
    """``fused.scores`` of a chunk: labels, nearest, uncertain rows (as ``_scores``).

    ``whole``: the transposed scores of the chunk are kept in ``ws.ST`` (K, rows) for the
    soft kinds; kind='hard' needs none of them once its rows are scanned.
    """
    b = x.shape[0]
    labels, nearest, uncertain = ws.labels[:b], ws.nearest[:b], ws.uncertain[:b]
    kernels.scores(x, frame.centre, frame.minus_2B_T, frame.m, frame.band[0], frame.band[1], frame.safe,
                   ws.ST if whole else _NO_SCORES, labels, nearest, ws.second, ws.norms, uncertain)
    return labels, nearest, uncertain


def _hard_fused(x, frame, ws, acc, kernels):
    labels, nearest, uncertain = _fused_scores(x, frame, ws, kernels, whole=False)
    exact = _exact_rows(x, frame, uncertain)
    if exact is not None:
        labels[exact.rows] = exact.labels
    acc.one_hot_fused(x, frame.origin, labels, kernels)
    if frame.energy:
        acc.energy += _nearest_sum(nearest, exact)


def _fused_exact_columns(ST, nearest, labels, exact):
    """Put the re-decided rows' exact distances (rounded once) in their columns of ``ST``,
    with their nearest and labels: the regrets ``ST - nearest`` are then the eager
    kernels' ``_exact_regrets`` for them, and the other rows' those of the expansion."""
    d, rows = exact.d.to(ST.dtype).numpy(), exact.rows.numpy()  # (NumPy: a few rows, on the CPU)
    ST.numpy()[:, rows] = d.T
    nearest.numpy()[rows] = d.min(axis=1)
    labels.numpy()[rows] = exact.labels.numpy()


def _softmax_fused(x, frame, ws, acc, kernels):
    """``_softmax`` with the fused kernels, in the transposed layout (K, rows)."""
    b = x.shape[0]
    T = frame.temperature
    labels, nearest, uncertain = _fused_scores(x, frame, ws, kernels, whole=True)
    exact = _exact_rows(x, frame, uncertain)
    ST = ws.ST
    if exact is not None:
        _fused_exact_columns(ST, nearest, labels, exact)
    floor = _SMALLEST_EXPONENT[ST.dtype]
    Z, largest, masses, sums = ws.Z[:b], ws.largest, ws.masses, ws.sums
    nonzero = kernels.softmax_sums(ST, nearest, T, floor, 2 * math.exp(floor), x, frame.origin, ws.ST_block,
                                   ws.block_rows, Z, largest, masses, sums)
    faint = torch.nonzero(largest < _RESCALE_BELOW[ST.dtype]).flatten()
    if bool(Z.max() == 1.0) and nonzero == b:  # every row exactly one-hot: Lloyd's sums
        if faint.numel():
            sums, masses = torch.zeros_like(acc.sums), torch.zeros_like(acc.masses)
            kernels.one_hot(x, frame.origin, labels, sums, masses)
        else:
            acc.one_hot_fused(x, frame.origin, labels, kernels)
    elif not faint.numel():
        acc.add(sums, masses)
    else:
        sums, masses = sums.to(torch.float64), masses.to(torch.float64)
    if faint.numel():
        Y = x if frame.origin_is_zero else x - frame.origin
        _merge_faint(acc, faint, ST[faint, :b] - nearest[None, :], Z, Y, T, sums, masses)
    if frame.energy:
        acc.energy += _nearest_sum(nearest, exact) - T * torch.sum(torch.log(Z), dtype=torch.float64)


def _rows_apart(uncertain, ws):
    """The rows the fused entmax15 kernel leaves to the reference from the start: the
    re-decided ones (their threshold is the reference's, not the kernel's)."""
    return ws.apart[: uncertain.numel()].copy_(uncertain)


# Rows deferred by _entmax15_fused are added once they exceed 1/8 of a chunk's rows: their
# (rows, K) float64 distances and responsibilities then take little more than the eager
# kernel's for one chunk whose rows are all set apart, whatever N (unbounded, they took
# 1.2 GB at N = 2,000,000, K = 256); the apart rows of a typical chunk, a small fraction,
# still wait for several chunks.
_DEFERRED_PER_CHUNK = 8


def _entmax15_fused(x, frame, ws, acc, kernels):
    """``_entmax15`` with the fused kernels: thresholds, weights and sums of the rows
    certified in ``fused.entmax15_sums``; the others (re-decided, unconverged, or with an
    entry within the support slack of the threshold) take the reference's own
    responsibilities from their exact distances, as the eager kernel's ``_reference_rows``:
    at once if the chunk may be exactly one-hot (its sums are then Lloyd's), else
    collected for the end of the worker's chunks, or until they are 1/8 of a chunk
    (``_add_deferred``: a few NumPy calls for all of them rather than a dozen per chunk)."""
    b = x.shape[0]
    T = frame.temperature
    labels, nearest, uncertain = _fused_scores(x, frame, ws, kernels, whole=True)
    exact = _exact_rows(x, frame, uncertain)
    if exact is not None:
        _fused_exact_columns(ws.ST, nearest, labels, exact)
    apart = _rows_apart(uncertain, ws)
    # _support_slack of the error eps n_i + (eps m_max + a), linear in n_i: slack_a n_i + slack_b
    slack_b = _support_slack(frame.eps * frame.m_max + frame.absolute, T, x.dtype)
    slack_a = _support_slack(frame.eps * frame.m_max + frame.absolute + frame.eps, T, x.dtype) - slack_b
    energy, one_hot = kernels.entmax15_sums(ws.ST, nearest, ws.second, ws.norms, T, slack_a, slack_b,
                                            krbf_torch._NEWTON_STEPS_FROM_ROOT, frame.energy, x, frame.origin,
                                            ws.PT, ws.block_rows, apart, ws.masses, ws.sums)
    rows = torch.nonzero(apart).flatten()
    if one_hot < b - rows.numel():  # not one-hot: the rows apart can wait
        acc.add(ws.sums, ws.masses)
        if frame.energy:
            acc.energy += torch.sum(nearest, dtype=torch.float64) - T * energy
        if rows.numel():
            acc.deferred.append((x[rows], nearest[rows].to(torch.float64)))
            if acc.deferred_rows > ws.key[0] // _DEFERRED_PER_CHUNK:
                _add_deferred(acc, frame)
        return
    more = _exact_rows(x, frame, apart & ~uncertain)
    if more is not None:
        exact = _joined(exact, more)
    if frame.energy:
        acc.energy += _nearest_sum(nearest, exact) - T * energy
    p = None if exact is None else krbf_torch._reference_entmax15(exact.d, T, x.dtype)
    if p is None or bool(_one_hot_rows(p).all()):  # every row exactly one-hot: Lloyd's sums
        if p is not None:
            labels[exact.rows] = torch.argmax(p, dim=1)
        acc.one_hot_fused(x, frame.origin, labels, kernels)
        return
    acc.add(ws.sums, ws.masses)
    Y = x[exact.rows] if frame.origin_is_zero else x[exact.rows] - frame.origin
    sums, masses, energy = _add_apart(_Apart(exact.rows, p, exact.d), Y, None, None, T)
    acc.add(sums, masses)
    acc.energy += energy


def _add_deferred(acc, frame):
    """The rows ``_entmax15_fused`` set apart and deferred: the reference's responsibilities
    from their exact distances, their sums, masses and energy (``sum_i d_i(1)`` taken from
    the expansion when they were deferred: corrected to the exact one here)."""
    if not acc.deferred:
        return
    points = torch.cat([points for points, _ in acc.deferred])
    nearest = torch.cat([nearest for _, nearest in acc.deferred])
    acc.deferred.clear()
    exact = _exact_rows(points, frame, torch.ones(points.shape[0], dtype=torch.bool))
    p = krbf_torch._reference_entmax15(exact.d, frame.temperature, points.dtype)
    Y = points if frame.origin_is_zero else points - frame.origin
    sums, masses, energy = _add_apart(_Apart(exact.rows, p, exact.d), Y, None, None, frame.temperature)
    acc.add(sums, masses)
    if frame.energy:
        acc.energy += energy + torch.sum(exact.nearest - nearest)


def _exact_regrets(exact, dtype):
    """Regrets of re-decided rows from their exact distances rounded once to ``dtype``:
    the arithmetic of every other row, on the numbers ``torch.squared_distances``
    reports (so T = margin / 2 from ``torch.margins`` gives exactly hard rows)."""
    d = exact.d.to(dtype)
    return d - d.min(dim=1, keepdim=True).values


def _softmax(x, frame, ws, acc):
    b = x.shape[0]
    T = frame.temperature
    A, n, S, nearest, labels, uncertain, _ = _scores(x, frame, ws)
    exact = _exact_rows(x, frame, uncertain)
    S.sub_(nearest[:, None])  # regrets: >= 0, exactly 0 at the nearest
    if exact is not None:
        S[exact.rows] = _exact_regrets(exact, S.dtype)
        labels[exact.rows] = exact.labels
    # exp(-regret/T): 1 at the nearest. Weights at or below the smallest normal number
    # are set to 0: exp of an argument below its log takes a slow path (~10x, subnormal
    # or zero results); such weights are below 2^-60 of the largest weight of any centre
    # that is not rescaled, and the rescaled centres are recomputed from the regrets.
    floor = _SMALLEST_EXPONENT[S.dtype]
    W = torch.mul(S, -1.0 / T, out=ws.W[:b]).clamp_(min=floor).exp_()
    torch.nn.functional.threshold_(W, 2 * math.exp(floor), 0.0)
    Z = W.sum(dim=1)
    Y = _relative(x, A, frame, ws)
    # Centres whose weights are all tiny: rescaled per centre in the log domain.
    faint = torch.nonzero(W.amax(dim=0) < _RESCALE_BELOW[S.dtype]).flatten()
    # Every row exactly one-hot (all but the nearest underflow): Z == 1 is necessary.
    if bool(Z.max() == 1.0) and int(torch.count_nonzero(W)) == b:
        if faint.numel():
            sums, masses = torch.zeros_like(acc.sums), torch.zeros_like(acc.masses)
            sums.index_add_(0, labels, ws.Y64[:b].copy_(Y))
            masses.index_add_(0, labels, ws.ones64[:b])
        else:
            acc.one_hot(Y, labels, ws)
    else:
        inverse = Z.reciprocal()
        masses = torch.mv(W.T, inverse)
        sums = W.T @ torch.mul(Y, inverse[:, None], out=ws.A2[:b])
        if not faint.numel():
            acc.add(sums, masses)
        else:
            sums, masses = sums.to(torch.float64), masses.to(torch.float64)
    if faint.numel():
        _merge_faint(acc, faint, S[:, faint].T, Z, Y, T, sums, masses)
    if frame.energy:
        acc.energy += _nearest_sum(nearest, exact) - T * torch.sum(torch.log(Z), dtype=torch.float64)


def _merge_faint(acc, faint, regret, Z, Y, T, sums, masses):
    """The chunk's statistics (float64 ``sums``, ``masses``, those of ``faint`` replaced)
    merged into ``acc``, the faint centres' weights relative to their least regret:
    ``regret`` (F, rows) their regrets, ``Z`` the rows' normalisers, ``Y`` the rows
    relative to the origin (module docstring: softmax and underflow)."""
    least = regret.amin(dim=1)
    w = torch.exp(-(regret - least[:, None]) / T - torch.log(Z)[None, :])
    sums[faint] = (w @ Y).to(torch.float64)
    masses[faint] = w.sum(dim=1).to(torch.float64)
    offsets = torch.zeros_like(masses)
    offsets[faint] = least.to(torch.float64)
    acc.merge(sums, masses, offsets)


def _entmax15(x, frame, ws, acc):
    b = x.shape[0]
    T = frame.temperature
    A, n, S, nearest, labels, uncertain, second = _scores(x, frame, ws)
    exact = _exact_rows(x, frame, uncertain)
    # u = z / 2 = -(d - d_min) / (2T): row maximum exactly 0.
    v = S.sub_(nearest[:, None]).mul_(-0.5 / T)
    if exact is not None:  # finite for the solve (the expansion may overflow there); the
        # result for these rows is replaced by _reference_rows
        v[exact.rows] = _exact_regrets(exact, v.dtype).mul_(-0.5 / T)
    t, scratch = ws.t[:b], ws.W[:b]
    # The root for the two largest entries (the runner-up's u computed as v's entries
    # are): the threshold of a row whose support has at most two entries, a lower bound
    # for the others, so the exact solve from it identifies most supports without a
    # Newton step; the rows whose check fails take the reference's sort.
    start = krbf_torch._two_largest_root((second - nearest).mul_(-0.5 / T))[:, None]
    if exact is not None:
        start[exact.rows] = -1.0
    tau, converged, closeness = krbf_torch._sparse_threshold(v, "entmax15", t, scratch, closeness=True, start=start)
    left = torch.nonzero(~converged).flatten()
    if left.numel():
        _threshold_rows(v, tau, t, left)
        closeness[left] = torch.abs(v[left] - tau[left]).amin(dim=1)
    slack = _support_slack(n.mul(frame.eps).add_(frame.eps * frame.m_max + frame.absolute), T, v.dtype)
    if exact is not None:  # _reference_rows decides them; not again among ``more``
        slack[exact.rows] = -1.0
    more = _exact_rows(x, frame, closeness <= slack)
    if more is not None:
        exact = _joined(exact, more)
    apart = _reference_rows(tau, t, exact, T) if exact is not None else None
    Y = _relative(x, A, frame, ws)
    # F_i = d_i(1) - T (2 (tau + 1) + (2/3)(sum_k s^3 - 1)), s = [u - tau]_+, p = s^2, from
    # sum_k p_k d_ik = d_i(1) - 2T sum_k p_k u_k and sum_k p_k u_k = sum s^3 + tau (exact
    # for one-hot rows: tau = -1, sum s^3 = 1).
    cubes = tau64 = None
    if frame.energy:
        cubes = torch.mul(t, t, out=scratch).mul_(t).sum(dim=1, dtype=torch.float64)
        tau64 = tau[:, 0].to(torch.float64)
    if apart is not None:
        sums, masses, energy = _add_apart(apart, Y[apart.rows], cubes, tau64, T)
        acc.add(sums, masses)
        acc.energy += energy
    if frame.energy:
        acc.energy += _nearest_sum(nearest, exact) - T * torch.sum(2 * (tau64 + 1) + (2.0 / 3.0) * (cubes - 1))
    if bool((tau == -1.0).all()) and bool((torch.sign(t, out=scratch).sum(dim=1) == 1).all()):
        acc.one_hot(Y, torch.argmax(t, dim=1), ws)  # every row exactly one-hot
    else:
        p = t.square_()
        acc.add(p.T @ Y, p.sum(dim=0))


def _support_slack(error, temperature, dtype):
    """How near (in u = z/2) an entry must be to tau for the support to be re-decided.

    An error ``E_i`` in the distances moves ``u_k`` by ``E_i / T`` at most and tau (a
    convex combination of the u's sensitivities) as much: ``2 E_i / T``, plus the
    roundings of u itself (a few ulps of ``|d| / T <= 2 (n + m) / T``: a quarter more).
    """
    return 2.5 * error / temperature + 8 * torch.finfo(dtype).eps


def _threshold_rows(v, tau, t, rows):
    """The reference's sort-based threshold for some rows: ``tau`` and ``t = [v - tau]_+``."""
    if rows.numel():
        tau_rows, p_rows = krbf_torch._sorted_threshold(v[rows], "entmax15")
        tau[rows] = tau_rows
        t.index_copy_(0, rows, torch.sqrt(p_rows))


_KERNELS = {"hard": _hard, "softmax": _softmax, "entmax15": _entmax15}
# The fused kernels (kmeans_rbf.fused): CPU, float32 and float64.
_FUSED_KERNELS = {"hard": _hard_fused, "softmax": _softmax_fused, "entmax15": _entmax15_fused}


# --- compiled kernels ------------------------------------------------------------------
#
# The same maths as the eager kernels above, written for torch.compile: pure functions of
# tensors (no out= buffers, no data-dependent shapes), in the transposed layout (K, chunk)
# where a reduction over the centres is a vertical, vectorised one for the generated
# code. Only full chunks are compiled (one shape); the data-dependent repairs (exact
# rows, the sort fallback, faint centres) stay eager, between the compiled pieces.

_compile = {"enabled": os.environ.get("KMEANS_RBF_COMPILE", "") not in ("", "0")}


def use_compile(enabled=True):
    """Compile the chunk kernels with ``torch.compile`` from now on (or stop); see module doc.

    Returns the previous setting.

    Examples
    --------
    >>> previous = use_compile(False)
    >>> use_compile(previous)
    False
    """
    previous = _compile["enabled"]
    _compile["enabled"] = bool(enabled)
    return previous


def _pure_scores(x, centre, augmented, eps, m_max, absolute, safe):
    """``_scores`` in the (K, b) layout: A, n, d (K, b), labels, nearest, second, error, uncertain."""
    A = x - centre
    n = (A * A).sum(dim=1)
    Aa = torch.cat([A, n[:, None], torch.ones_like(n)[:, None]], dim=1)
    d = augmented @ Aa.T
    nearest, labels = d.min(dim=0)  # the first minimum: exact, no key slack here
    rows = torch.arange(d.shape[0], device=d.device)[:, None]
    second = torch.where(rows == labels[None, :], float("inf"), d).amin(dim=0)
    error = eps * (n + m_max) + absolute
    uncertain = ~(second > nearest + 2 * error) | ~(n < safe)
    return A, n, d, labels, nearest, second, error, uncertain


def _pure_one_hot_sums(Y, labels, n_clusters):
    Y64 = Y.to(torch.float64)
    sums = torch.zeros((n_clusters, Y.shape[1]), dtype=torch.float64, device=Y.device).index_add(0, labels, Y64)
    masses = torch.zeros((n_clusters,), dtype=torch.float64, device=Y.device).index_add(
        0, labels, torch.ones_like(Y64[:, 0])
    )
    return sums, masses


def _pure_softmax(d, nearest, Y, T, floor, cut):
    """Regrets, weights exp(-regret/T), their row sums Z and the (fast-column) sums."""
    regret = d - nearest[None, :]
    W = torch.exp(torch.clamp(regret * (-1.0 / T), min=floor))
    W = torch.where(W > cut, W, 0.0)
    Z = W.sum(dim=0)
    inverse = 1.0 / Z
    masses = (W @ inverse).to(torch.float64)
    sums = (W @ (Y * inverse[:, None])).to(torch.float64)
    return regret, W, Z, masses, sums, W.amax(dim=1), torch.count_nonzero(W)


def _pure_entmax15_threshold(d, nearest, second, T, steps: int = _NEWTON_STEPS_COMPILED):
    """entmax15's threshold in the (K, b) layout: Newton from the two-largest root, exact solve."""
    K = d.shape[0]
    v = (d - nearest[None, :]) * (-0.5 / T)
    w = (second - nearest) * (-0.5 / T)
    tau = torch.where(w > -1, (w - torch.sqrt(torch.clamp(2 - w * w, min=0.0))) / 2, -1.0)[None, :]
    for _ in range(steps):
        t = torch.clamp(v - tau, min=0.0)
        mass = t.sum(dim=0, keepdim=True)
        tau = tau + ((t * t).sum(dim=0, keepdim=True) - 1) / (2 * mass)
    t = torch.clamp(v - tau, min=0.0)
    mass = t.sum(dim=0, keepdim=True)
    squares = (t * t).sum(dim=0, keepdim=True)
    size = (t > 0).sum(dim=0, keepdim=True).to(v.dtype)
    mean = mass / size
    delta = (1 - size * (squares / size - mean * mean)) / size
    tau = torch.clamp((mean + tau) - torch.sqrt(torch.clamp(delta, min=0.0)), min=-1.0)
    difference = v - tau
    closeness = difference.abs().amin(dim=0)
    t = torch.clamp(difference, min=0.0)
    converged = (t > 0).sum(dim=0, keepdim=True).to(v.dtype) == size
    del K
    return v, tau[0], t, converged[0], closeness


def _pure_entmax15_sums(t, Y):
    p = t * t
    return p, (p @ Y).to(torch.float64), p.sum(dim=1).to(torch.float64), (p * t).sum(dim=0).to(torch.float64)


_compiled_pieces = {}


def _compiled_piece(function):
    if function not in _compiled_pieces:
        _compiled_pieces[function] = torch.compile(function, dynamic=False)
    return _compiled_pieces[function]


def _scalars(x, *values):
    """0-d tensors: compiled code specialised on Python floats would recompile at every step."""
    return [torch.tensor(value, dtype=x.dtype, device=x.device) for value in values]


def _compiled_scores(x, frame):
    scalars = _scalars(x, frame.eps, frame.m_max, frame.absolute, frame.safe)
    return _compiled_piece(_pure_scores)(x, frame.centre, frame.augmented_T.T, *scalars)


def _relative_compiled(x, A, frame):
    if frame.origin_is_zero:
        return x
    if frame.origin_is_centre:
        return A
    return x - frame.origin


def _exact_columns(d, exact):
    """Write the exact distances of re-decided rows into d (K, b): nearest, labels fixed too."""
    d[:, exact.rows] = exact.d.T.to(d.dtype)


def _hard_compiled(x, frame):
    A, n, d, labels, nearest, second, error, uncertain = _compiled_scores(x, frame)
    exact = _exact_rows(x, frame, uncertain)
    if exact is not None:
        labels = labels.index_put((exact.rows,), exact.labels)
    Y = _relative_compiled(x, A, frame)
    sums, masses = _compiled_piece(_pure_one_hot_sums)(Y, labels, frame.C.shape[0])
    return sums, masses, None, _nearest_sum(nearest, exact)


def _softmax_compiled(x, frame):
    T = frame.temperature
    A, n, d, labels, nearest, second, error, uncertain = _compiled_scores(x, frame)
    exact = _exact_rows(x, frame, uncertain)
    if exact is not None:
        _exact_columns(d, exact)
        nearest = nearest.index_put((exact.rows,), exact.nearest.to(nearest.dtype))
        labels = labels.index_put((exact.rows,), exact.labels)
    Y = _relative_compiled(x, A, frame)
    floor = _SMALLEST_EXPONENT[d.dtype]
    regret, W, Z, masses, sums, colmax, nonzero = _compiled_piece(_pure_softmax)(
        d, nearest, Y, *_scalars(x, T, floor, 2 * math.exp(floor))
    )
    if int(nonzero) == x.shape[0]:  # every row exactly one-hot
        sums, masses = _compiled_piece(_pure_one_hot_sums)(Y, labels, frame.C.shape[0])
    offsets = None
    faint = torch.nonzero(colmax < _RESCALE_BELOW[d.dtype]).flatten()
    if faint.numel():
        least = regret[faint].amin(dim=1)
        w = torch.exp(-(regret[faint] - least[:, None]) / T - torch.log(Z)[None, :])
        sums[faint] = (w @ Y).to(torch.float64)
        masses[faint] = w.sum(dim=1).to(torch.float64)
        offsets = torch.zeros_like(masses)
        offsets[faint] = least.to(torch.float64)
    energy = _nearest_sum(nearest, exact) - T * torch.sum(torch.log(Z), dtype=torch.float64)
    return sums, masses, offsets, energy


def _entmax15_compiled(x, frame):
    T = frame.temperature
    A, n, d, labels, nearest, second, error, uncertain = _compiled_scores(x, frame)
    exact = _exact_rows(x, frame, uncertain)
    if exact is not None:
        _exact_columns(d, exact)
        nearest = nearest.index_put((exact.rows,), exact.nearest.to(nearest.dtype))
        second = second.index_put((exact.rows,), torch.full_like(exact.nearest, float("inf")).to(second.dtype))
    v, tau, t, converged, closeness = _compiled_piece(_pure_entmax15_threshold)(d, nearest, second, *_scalars(x, T))
    v, t = v.T, t.T  # rows again for the eager repairs (views: writes go through)
    tau = tau[:, None]
    left = torch.nonzero(~converged).flatten()
    if left.numel():
        _threshold_rows(v, tau, t, left)
        closeness[left] = torch.abs(v[left] - tau[left]).amin(dim=1)
    slack = _support_slack(error, T, v.dtype)
    if exact is not None:  # _reference_rows decides them; not again among ``more``
        slack[exact.rows] = -1.0
    more = _exact_rows(x, frame, closeness <= slack)
    if more is not None:
        exact = _joined(exact, more)
    apart = _reference_rows(tau, t, exact, T) if exact is not None else None
    Y = _relative_compiled(x, A, frame)
    p, sums, masses, cubes = _compiled_piece(_pure_entmax15_sums)(t.T, Y)
    tau64 = tau[:, 0].to(torch.float64)
    energy = sums.new_zeros(())
    if apart is not None:
        more_sums, more_masses, energy = _add_apart(apart, Y[apart.rows], cubes, tau64, T)
        sums, masses = sums + more_sums, masses + more_masses
    if frame.energy:
        energy = energy + _nearest_sum(nearest, exact) - T * torch.sum(2 * (tau64 + 1) + (2.0 / 3.0) * (cubes - 1))
    if bool((tau == -1.0).all()) and bool(((p > 0).sum(dim=0) == 1).all()):  # every row one-hot
        sums, masses = _compiled_piece(_pure_one_hot_sums)(Y, torch.argmax(p, dim=0), frame.C.shape[0])
    return sums, masses, None, energy


_COMPILED_KERNELS = {"hard": _hard_compiled, "softmax": _softmax_compiled, "entmax15": _entmax15_compiled}


# --- the API -----------------------------------------------------------------------------


def _validate(X, C, temperature, kind, shift):
    validation.validate_kind(kind)
    temperature = validation.validate_temperature(temperature, kind)
    X, C = krbf_torch._floating_tensor(X, "X"), krbf_torch._floating_tensor(C, "C")
    if X.dtype != C.dtype:
        raise TypeError(f"X and C must have the same dtype; got {X.dtype} and {C.dtype}")
    if X.device != C.device:
        raise ValueError(f"X and C must be on the same device; got {X.device} and {C.device}")
    validation.validate_data_and_centres(X, C, finite_data=False)
    krbf_torch._validate_representable(temperature, X.dtype)
    working = krbf_torch._working_dtype(X.dtype)
    C = C.to(working)
    shift = default_shift(C) if shift is None else krbf_torch._floating_tensor(shift, "shift").to(working)
    if tuple(shift.shape) != (C.shape[1],):
        raise ValueError(f"shift must have shape ({C.shape[1]},); got {tuple(shift.shape)}")
    validation.validate_finite(shift, "shift")
    return C, temperature, shift, working


def sufficient_statistics(X, C, temperature=None, kind="hard", *, shift=None, budget=None):
    """The sufficient statistics of one step over the points X, streamed in chunks.

    Parameters
    ----------
    X : Tensor, shape (N, D)
        Any floating dtype (half precisions are computed in float32), any N >= 1; may be
        backed by a memory map. Read chunk by chunk (``chunk_rows(K, D, dtype, budget)``
        rows at a time) and never copied whole.
    C : Tensor, shape (K, D)
        The centres, same dtype and device as X.
    temperature : float or None
        T > 0; None for kind='hard'.
    kind : {'hard', 'softmax', 'entmax15'}
    shift : Tensor, shape (D,), optional
        The frame of ``sums``: ``sums_k = sum_i w_ik (x_i - shift)``. Default
        ``default_shift(C)``. Every piece whose statistics are combined must use the same.
    budget : int, optional
        Bytes for the chunk buffers (default ``DEFAULT_BUDGET``).

    Returns
    -------
    Statistics
        float64 tensors on C's device (module docstring).

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [2.0]])
    >>> stats = sufficient_statistics(X, torch.tensor([[0.0], [2.0]]), 1e-3, "softmax",
    ...                               shift=torch.zeros(1))
    >>> stats.sums.flatten(), stats.masses      # x = 1 is split evenly
    (tensor([0.5000, 2.5000], dtype=torch.float64), tensor([1.5000, 1.5000], dtype=torch.float64))
    """
    C, temperature, shift, working = _validate(X, C, temperature, kind, shift)
    return _statistics(X, C, temperature, kind, shift, budget)


@torch.no_grad()
def _statistics(X, C, temperature, kind, shift, budget=None, energy=True):
    """``sufficient_statistics`` of validated arguments (C and shift in the working dtype)."""
    K, D = C.shape
    working = C.dtype
    budget = DEFAULT_BUDGET if budget is None else budget
    compiled = _compile["enabled"] and working in (torch.float32, torch.float64)
    rows = min(chunk_rows(K, D, working, budget), X.shape[0])
    workers = krbf_torch._workers(C.device, -(-X.shape[0] // rows))
    if workers > 1:  # the budget is shared: each worker has its own buffers
        rows = min(chunk_rows(K, D, working, budget // workers), X.shape[0])
        workers = krbf_torch._workers(C.device, -(-X.shape[0] // rows))
        if workers > 1 and not compiled:  # as many chunks for every worker, of equal size
            # (21 chunks on 2 workers leave one waiting for the last; compiled kernels
            # keep one chunk shape whatever N is, so that they do not recompile)
            per_worker = -(-X.shape[0] // (workers * rows))
            rows = -(-X.shape[0] // (workers * per_worker))
    starts = range(0, X.shape[0], rows)
    frame = _frame(C, shift.to(working), temperature, kind, energy)
    kernels = None
    if C.device.type == "cpu" and working in (torch.float32, torch.float64):
        kernels = fused.kernels()

    def work(part):
        acc = _Accumulator(K, D, C.device, temperature)
        with _workspace(rows, K, D, working, C.device, slot=part) as ws:
            for start in starts[part :: max(workers, 1)]:
                x = X[start : start + rows].to(working)
                if compiled and x.shape[0] == rows:  # full chunks only: one shape to compile
                    sums, masses, offsets, energy = _COMPILED_KERNELS[kind](x, frame)
                    acc.merge(sums, masses, offsets)
                    acc.energy += energy
                elif kernels is not None:
                    _FUSED_KERNELS[kind](x.contiguous(), frame, ws, acc, kernels)
                else:
                    _KERNELS[kind](x, frame, ws, acc)
                acc.count += x.shape[0]
        _add_deferred(acc, frame)
        return acc.statistics()

    parts = krbf_torch._in_workers(work, workers)
    total = parts[0]
    for part in parts[1:]:
        total = combine(total, part, temperature)
    return total


def step(X, C, temperature=None, kind="hard", budget=None):
    """One streamed step of validated X and C (working dtype): the new centres (K, D)."""
    shift = default_shift(C)
    return centres(_statistics(X, C, temperature, kind, shift, budget, energy=False), C, shift)



assert set(_KERNELS) == set(_FUSED_KERNELS) == set(_COMPILED_KERNELS) == set(KINDS)
