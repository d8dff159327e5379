r"""K-Means and its soft relatives on data sharded over processes, with ``torch.distributed``.

Every process (rank) holds a shard ``X_r`` of the points and the same centres C. One
step of any kind is the M-step ``c_k <- sum_i w_ik x_i / sum_i w_ik`` over the union of
the shards, and it needs only sums over points (``kmeans_rbf.streaming``): per centre

    sums_k = sum_i w_ik (x_i - s)  (K, D),    masses_k = sum_i w_ik  (K,),

the free energy ``sum_i F_i`` and the number of points, with ``s = default_shift(C)``
(a function of C, so the same on every rank). Each rank computes its shard's statistics;
one all-reduce (SUM) adds them, and every rank computes the same new centres from the
same totals. softmax has one more all-reduce before it: where every weight of a centre
underflows, a shard's statistics are relative to its least regret ``offsets_k``
(``w_ik = r_ik exp(offsets_k / T)``); the offsets are all-reduced with MIN and every rank
rescales its sums by ``exp(-(offsets_k - min_r offsets_k) / T)`` before the SUM, which is
the reference's per-centre log-domain rescaling over the union of the shards.

The result is that of one process on the union of the data, up to the order of the
floating-point sums (float64 accumulators: relative differences of order 1e-16 per step;
labels are certified exact as in ``kmeans_rbf.torch``), and it is *identical, bit for
bit, on every rank*: the all-reduce delivers the same totals to every rank, and every
rank computes the same function of them.

Functions
---------
``lloyd_step``, ``soft_step``, ``kmeans``, ``anneal``
    The names and signatures of ``kmeans_rbf.torch`` / ``kmeans_rbf.reference``, with X
    the calling rank's shard, plus keyword-only ``group`` (the process group; default
    the default group) and ``budget`` (bytes for the chunk buffers,
    ``kmeans_rbf.streaming``); ``kmeans`` and ``anneal`` also take ``progress``.
``sufficient_statistics``
    The all-reduced ``streaming.Statistics`` of the union of the shards.
``RBFClustering``
    ``kmeans_rbf.nn.RBFClustering`` for ``DistributedDataParallel``: its loss is the mean
    over the points of every rank, and its gradient, once DDP has averaged it over the
    ranks, the gradient of that global mean (``global_mean``), whatever the shard sizes.
``global_mean``, ``assert_same_across_ranks``
    The building blocks: a per-point mean made global for DDP; a check that a tensor
    (e.g. the centres after an optimiser step) is the same on every rank.

Shards. Any sizes, including a rank with no points (a (0, D) tensor: its statistics are
zero); the union must have at least one point. Every rank must pass the same centres,
kind, temperature(s) and number of steps; the shards must have the centres' number of
features and dtype.

One process. Without an initialised default process group (and ``group=None``) the
functions run on the one process as a world of size 1: the same results as
``kmeans_rbf.torch`` (the examples below run that way). If ``WORLD_SIZE`` says there
should be several processes (``torchrun`` sets it), a missing ``init_process_group`` is
an error instead, not a silent fit of one shard.

Bad input, on one rank or across ranks
--------------------------------------
An error on one rank must not leave the others waiting in a collective (a hang), and a
disagreement between ranks must not silently give each rank other centres. So:

* at the start of each call every rank validates its own arguments and then the ranks
  exchange, in **one all_gather of a few int64 per rank**, a failure flag, K, D, the
  dtype, the shard's size, the kind, a hash of the temperature(s), the number of steps
  and a SHA-256 fingerprint of C. Every rank then raises the same error if any rank
  failed (the failing ranks' messages are gathered with ``all_gather_object``, only
  then), or if the centres' shape or dtype, the kind, the temperatures or the steps
  differ across ranks, or if **the centres differ** (their fingerprints: any difference
  in any bit, exactly, short of a 64-bit hash collision). Cost per call (not per step):
  hashing K D values on the CPU (for CUDA centres one device-to-host copy of them) and
  that one small collective;
* during a step, an error on a rank (NaN or inf in a later chunk of its shard, an
  overflow: ``kmeans_rbf.streaming`` finds them from the norms it computes anyway)
  travels as one more entry of the step's own all-reduce, and every rank raises.
  Cost: one float64 per step.

The ranks that did not fail raise the same type (ValueError, TypeError or OverflowError;
RuntimeError otherwise) with the message ``on rank r: <the failing rank's message>``; a
failing rank raises its own error.

Devices. The collectives run on the centres' device (NCCL needs CUDA tensors; gloo takes
CPU tensors); with the NCCL backend the centres must be on the GPU. Nothing here is
specific to a device: on a GPU the same code runs with ``init_process_group("nccl")``.

Examples
--------
On one process (no process group initialised) the functions are those of
``kmeans_rbf.torch``:

>>> import torch
>>> from kmeans_rbf import distributed
>>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]], dtype=torch.float64)
>>> distributed.kmeans(X, torch.tensor([[0.0], [1.0]], dtype=torch.float64), n_iter=5)
tensor([[0.5000],
        [9.5000]], dtype=torch.float64)

On several (``torchrun --nproc-per-node 2 fit.py``, each process with its shard)::

    import torch.distributed as dist
    from kmeans_rbf import distributed

    dist.init_process_group("gloo")                   # "nccl" on GPUs
    X_local = load_shard(dist.get_rank())             # (N_r, D); N_r may differ, even be 0
    C0 = X_local[:K].clone()                          # any C0 ...
    dist.broadcast(C0, src=0)                         # ... as long as every rank has the same
    C = distributed.kmeans(X_local, C0, n_iter=20)    # the same C on every rank
"""

import hashlib
import os
import struct
from typing import NamedTuple

import torch
import torch.distributed as dist

from . import _validation as validation
from . import nn as krbf_nn
from . import streaming
from . import torch as krbf_torch
from .kinds import KINDS, SOFT_KINDS

__all__ = [
    "lloyd_step",
    "soft_step",
    "kmeans",
    "anneal",
    "sufficient_statistics",
    "RBFClustering",
    "global_mean",
    "assert_same_across_ranks",
]

_DTYPE_CODES = {torch.float64: 1, torch.float32: 2, torch.float16: 3, torch.bfloat16: 4}
_RAISED = {"ValueError": ValueError, "TypeError": TypeError, "OverflowError": OverflowError}


# --- the process group ------------------------------------------------------------------


class _World:
    """The processes of a call: rank, size, and the collectives (none for a world of size 1)."""

    def __init__(self, group):
        if group is not None and not isinstance(group, dist.ProcessGroup):
            raise TypeError(f"group must be a torch.distributed.ProcessGroup or None; got {type(group).__name__}")
        initialised = dist.is_available() and dist.is_initialized()
        if group is None and not initialised:
            world_size = os.environ.get("WORLD_SIZE", "1")
            if world_size not in ("", "1"):
                raise RuntimeError(
                    f"torch.distributed is not initialised but WORLD_SIZE={world_size}: call "
                    "torch.distributed.init_process_group first (without a process group, "
                    "each process would fit only its own shard)"
                )
            self.group, self.size, self.rank, self.backend = None, 1, 0, None
            self.device = torch.device("cpu")
            return
        self.group = group
        self.size, self.rank = dist.get_world_size(group), dist.get_rank(group)
        if self.rank < 0:
            raise ValueError("group does not contain this process (torch.distributed.get_rank(group) is -1)")
        # Where the small collectives of the checks run: NCCL needs CUDA tensors.
        self.backend = dist.get_backend(group)
        nccl = self.backend == "nccl"
        self.device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")

    def all_reduce(self, tensor, op=None):
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op is None else op, group=self.group)
        return tensor

    def all_gather(self, tensor):
        """Every rank's ``tensor`` (same shape everywhere), stacked: (size, ...)."""
        out = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(out, tensor.contiguous(), group=self.group)
        return torch.stack(out)

    def raise_gathered(self, error):
        """Every rank raises, after gathering the failing ranks' errors (a collective).

        The failing ranks raise their own error; the others the same type, naming the rank.
        """
        mine = None if error is None else (type(error).__name__, str(error))
        gathered = [None] * self.size
        dist.all_gather_object(gathered, mine, group=self.group)
        if error is not None:
            raise error
        failures = [(rank, item) for rank, item in enumerate(gathered) if item is not None]
        kind = _RAISED.get(failures[0][1][0], RuntimeError)
        raise kind("; ".join(f"on rank {rank}: {message}" for rank, (_, message) in failures))


def _fingerprint(tensor):
    """64 bits of the SHA-256 of a tensor's bytes (and shape): equal tensors, equal prints."""
    data = tensor.detach().contiguous().cpu()
    digest = hashlib.sha256(repr((tuple(data.shape), str(data.dtype))).encode())
    digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())  # 0-d too
    return _int64(digest.digest())


def _int64(digest):
    return struct.unpack("<q", digest[:8])[0]


def _hash(*values):
    """64 bits of the SHA-256 of hyperparameters (floats by their exact hex form)."""
    text = repr([v.hex() if isinstance(v, float) else v for v in values])
    return _int64(hashlib.sha256(text.encode()).digest())


class _Call(NamedTuple):
    """A call's validated arguments and its world."""

    world: _World
    data: object  # what the shard validator returned: the shard (working dtype), or a source
    C: torch.Tensor  # the centres, detached, in the working dtype
    dtype: torch.dtype  # the caller's dtype, for the result
    n_points: int  # in the union of the shards; None while unknown (chunks of unknown number)
    n_rows: int  # in this rank's shard; None while unknown
    budget: int  # bytes for the streaming buffers, or None
    bar: object  # the progress bar's factory, or None


def _validate_shard(X, C, centres_name):
    """Local checks of a shard and the centres: those of ``kmeans_rbf.torch``, rows >= 0."""
    X = krbf_torch._floating_tensor(X, "X")
    if X.dtype != C.dtype:
        raise TypeError(f"X and {centres_name} must have the same dtype; got {X.dtype} and {C.dtype}")
    if X.device != C.device:
        raise ValueError(f"X and {centres_name} must be on the same device; got {X.device} and {C.device}")
    if X.ndim == 2 and X.shape[0] == 0:  # an empty shard: allowed here, checked as a whole below
        if X.shape[1] != C.shape[1]:
            raise ValueError(
                f"X and {centres_name} must have the same number of features; "
                f"X has {X.shape[1]}, {centres_name} has {C.shape[1]}"
            )
    else:
        # X's finiteness is checked chunk by chunk during the step (kmeans_rbf.streaming).
        validation.validate_data_and_centres(X, C, centres_name, finite_data=False)
    return X


def _tensor_shard(X, centres_name):
    """The shard validator of an in-memory shard: ``(X in the working dtype, N_r)``."""

    def shard(C):
        X_valid = _validate_shard(X, C, centres_name)
        return X_valid.to(krbf_torch._working_dtype(X_valid.dtype)), X_valid.shape[0]

    return shard


def _validate_budget(budget):
    return None if budget is None else validation.validate_count(budget, "budget", minimum=1)


def _validate_backend(world, C):
    if world.backend == "nccl" and C.device.type != "cuda":
        raise ValueError(f"the NCCL backend needs the centres on a CUDA device; got {C.device}")


def _prepared(shard, C, centres_name, group, kind, hyper=lambda: (None, (), 0), budget=None, progress=False):
    """Validate a call on this rank, then agree with the other ranks (one all_gather).

    ``shard(C)`` validates this rank's data against the (valid) centres and returns
    ``(data, n_rows)`` (``n_rows`` None where unknown before a pass). ``hyper()``
    validates the hyperparameters (raising as ``kmeans_rbf.torch`` does) and returns
    ``(value, temperatures, steps)``: the value is returned with the call, the
    temperatures and steps are compared across ranks (by hash) with ``kind``. ``budget``
    and ``progress`` are validated here too: no argument is checked after the agreement,
    where an error on one rank would leave the others waiting.
    """
    world = _World(group)
    error, value, fields = None, None, [0] * 8
    try:
        value, temperatures, steps = hyper()
        budget = _validate_budget(budget)
        bar = _bar_factory(progress, world.rank)
        C = krbf_torch._floating_tensor(C, centres_name)
        validation.validate_points(C, centres_name)
        data, n_rows = shard(C)
        _validate_backend(world, C)
        for temperature in temperatures:
            krbf_torch._validate_representable(temperature, C.dtype)
        fields = [
            0, C.shape[0], C.shape[1], -1 if n_rows is None else n_rows, _DTYPE_CODES.get(C.dtype, 0),
            KINDS.index(kind), _hash(*temperatures, steps), _fingerprint(C),
        ]
    except Exception as caught:  # noqa: BLE001 - every rank must learn of any failure
        error = caught
        fields[0] = 1
    if world.size == 1:
        if error is not None:
            raise error
        rows = [fields[3]]
    else:
        table = world.all_gather(torch.tensor(fields, dtype=torch.int64, device=world.device)).cpu().tolist()
        if any(row[0] for row in table):
            world.raise_gathered(error)
        _agree(table, centres_name)
        rows = [row[3] for row in table]
    n_points = None if min(rows) < 0 else sum(rows)
    if n_points == 0:
        _raise_empty(world)
    working = krbf_torch._working_dtype(C.dtype)
    return _Call(world, data, C.detach().to(working), C.dtype, n_points, n_rows, budget, bar), value


def _raise_empty(world, data_name="X"):
    if world.size > 1:
        raise ValueError(f"{data_name} is empty on every rank: the shards have no points")
    raise ValueError(f"{data_name} is empty: it has no rows")


def _temperature(temperature, kind):
    """``hyper`` of a one-temperature call."""

    def hyper():
        validation.validate_kind(kind)
        T = validation.validate_temperature(temperature, kind)
        return T, () if T is None else (T,), 1

    return hyper


def _schedule(temperatures, kind, steps_per_temperature):
    """``hyper`` of ``anneal``: the temperature of every step."""

    def hyper():
        validation.validate_kind(kind, allowed=SOFT_KINDS)
        values = validation.validate_temperatures(temperatures, kind)
        steps = validation.validate_count(steps_per_temperature, "steps_per_temperature", minimum=1)
        return [T for T in values for _ in range(steps)], tuple(values), steps

    return hyper


def _iterations(n_iter):
    """``hyper`` of ``kmeans``: n_iter steps of kind='hard'."""

    def hyper():
        steps = validation.validate_count(n_iter, "n_iter")
        return [None] * steps, (), steps

    return hyper


def _agree(table, centres_name):
    """Raise (on every rank alike: the same table) where the ranks' calls disagree."""

    def differing(column):
        first = table[0][column]
        return next((rank for rank, row in enumerate(table) if row[column] != first), None)

    rank = differing(1) if differing(1) is not None else differing(2)
    if rank is not None:
        shapes = ", ".join(f"({row[1]}, {row[2]}) on rank {r}" for r, row in enumerate(table))
        raise ValueError(f"{centres_name} must have the same shape on every rank; got {shapes}")
    if (rank := differing(4)) is not None:
        names = {code: str(dtype) for dtype, code in _DTYPE_CODES.items()}
        raise TypeError(
            f"X and {centres_name} must have the same dtype on every rank; "
            f"got {names[table[0][4]]} on rank 0 and {names[table[rank][4]]} on rank {rank}"
        )
    if (rank := differing(5)) is not None:
        raise ValueError(f"kind must be the same on every rank; got {KINDS[table[0][5]]!r} on rank 0 "
                         f"and {KINDS[table[rank][5]]!r} on rank {rank}")
    if (rank := differing(6)) is not None:
        raise ValueError(
            "the temperature(s), number of steps (and shift) must be the same on every rank; "
            f"rank {rank}'s differ from rank 0's"
        )
    if (rank := differing(7)) is not None:
        raise ValueError(
            f"{centres_name} must be the same on every rank; rank {rank}'s differs from rank 0's "
            f"(broadcast it first: torch.distributed.broadcast({centres_name}, src=0))"
        )


# --- one step over the shards -------------------------------------------------------------


def _empty(C):
    K, D = C.shape
    zeros = dict(dtype=torch.float64, device=C.device)
    return streaming.Statistics(
        torch.zeros((K, D), **zeros), torch.zeros((K,), **zeros), torch.full((K,), float("inf"), **zeros),
        torch.zeros((), **zeros), torch.zeros((), dtype=torch.int64, device=C.device),
    )


def _local_statistics(X, C, temperature, kind, shift, budget):
    if X.shape[0] == 0:
        return _empty(C)
    return streaming.sufficient_statistics(X, C, temperature, kind, shift=shift, budget=budget)


def _reduced(world, local, C, temperature, kind):
    """The statistics of the union: ``local()`` on this rank, all-reduced.

    ``local`` computes this rank's statistics; an exception there is carried by the
    all-reduce (one more entry) and raised on every rank.
    """
    try:
        stats, error = local(), None
    except Exception as caught:  # noqa: BLE001 - the other ranks are waiting in the all-reduce
        stats, error = _empty(C), caught
    if world.size == 1:
        if error is not None:
            raise error
        return stats
    failed = torch.tensor([0.0 if error is None else 1.0], dtype=torch.float64, device=C.device)
    if kind == "softmax":  # align every rank's sums to the least offset of any rank
        head = world.all_reduce(torch.cat([stats.offsets, -failed]), dist.ReduceOp.MIN)
        if bool(head[-1] < 0):
            world.raise_gathered(error)
        stats = _aligned(stats, head[:-1], temperature)
    K, D = C.shape
    packed = torch.cat([stats.sums.flatten(), stats.masses, stats.energy[None],
                        stats.n_points.to(torch.float64)[None], failed])
    _all_reduce_sums(world, packed)
    if bool(packed[-1] > 0):
        world.raise_gathered(error)
    offsets = stats.offsets if kind == "softmax" else torch.zeros_like(stats.offsets)
    return streaming.Statistics(
        packed[: K * D].view(K, D), packed[K * D : K * D + K], offsets, packed[-3],
        packed[-2].to(torch.int64),
    )


# The two operations of a step that the tests break on purpose (tests/distributed_workers.py):
# the alignment of softmax offsets, and the sum of the statistics.
def _aligned(stats, offsets, temperature):
    return streaming.aligned(stats, offsets, temperature)


def _all_reduce_sums(world, packed):
    world.all_reduce(packed)


def _step(call, C, temperature, kind):
    shift = streaming.default_shift(C)
    stats = _reduced(call.world, lambda: _local_statistics(call.data, C, temperature, kind, shift, call.budget),
                     C, temperature, kind)
    return streaming.centres(stats, C, shift)


# --- the public functions ---------------------------------------------------------------


def sufficient_statistics(X, C, temperature=None, kind="hard", *, shift=None, group=None, budget=None):
    """The sufficient statistics of one step over the union of every rank's shard.

    Parameters
    ----------
    X : Tensor, shape (N_r, D)
        This rank's shard; N_r >= 0 (the union must have a point).
    C : Tensor, shape (K, D)
        The centres: the same on every rank, X's dtype and device.
    temperature : float or None
        T > 0; None for kind='hard'.
    kind : {'hard', 'softmax', 'entmax15'}
    shift : Tensor, shape (D,), optional
        The frame of the sums (``streaming.sufficient_statistics``); default
        ``streaming.default_shift(C)``, the same on every rank.
    group : torch.distributed.ProcessGroup, optional
        Default: the default group (one process if none is initialised).
    budget : int, optional
        Bytes for the chunk buffers (``streaming.DEFAULT_BUDGET``).

    Returns
    -------
    streaming.Statistics
        Of the union (float64, on C's device), the same on every rank: ``sums`` (K, D),
        ``masses`` (K,), ``offsets`` (K,) (0 except for softmax centres whose weights
        all underflow), ``energy`` (the free energy summed over all points) and
        ``n_points``. ``streaming.centres(stats, C, shift)`` is the step.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]], dtype=torch.float64)
    >>> C = torch.tensor([[0.0], [10.0]], dtype=torch.float64)
    >>> stats = sufficient_statistics(X, C)
    >>> stats.masses, stats.energy / stats.n_points      # J = (0 + 1 + 1 + 0) / 4
    (tensor([2., 2.], dtype=torch.float64), tensor(0.5000, dtype=torch.float64))
    """

    def hyper():  # the shift must be the same on every rank too
        T, temperatures, steps = _temperature(temperature, kind)()
        frame = None if shift is None else _fingerprint(krbf_torch._floating_tensor(shift, "shift"))
        return T, temperatures, (steps, frame)

    call, T = _prepared(_tensor_shard(X, "C"), C, "C", group, kind if kind in KINDS else "hard", hyper, budget)
    budget = call.budget
    C = call.C
    if shift is None:
        shift = streaming.default_shift(C)
    return _reduced(call.world, lambda: _local_statistics(call.data, C, T, kind, shift, budget), C, T, kind)


def lloyd_step(X, C, *, group=None, budget=None):
    """One Lloyd step over the union of the shards; see ``kmeans_rbf.reference.lloyd_step``.

    Every centre moves to the mean of its Voronoi cell in the union of every rank's
    shard, ``c_k <- sum_{i in cell k} x_i / |cell k|`` (cells by ``assign``: the nearest
    centre, ties to the lowest index, certified exact); an empty cell keeps its centre.

    Parameters
    ----------
    X : Tensor, shape (N_r, D)
        This rank's shard, N_r >= 0.
    C : Tensor, shape (K, D)
        The same on every rank; X's dtype and device.
    group : torch.distributed.ProcessGroup, optional
    budget : int, optional
        Bytes for the chunk buffers.

    Returns
    -------
    Tensor, shape (K, D)
        C's dtype and device; the same on every rank. No autograd (a step is an update).

    Examples
    --------
    >>> lloyd_step(torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[0.0], [2.0]]))
    tensor([[0.5000],
            [2.0000]])
    """
    call, _ = _prepared(_tensor_shard(X, "C"), C, "C", group, "hard", budget=budget)
    return krbf_torch._returned(_step(call, call.C, None, "hard"), call.dtype)


def soft_step(X, C, temperature=None, kind="softmax", *, group=None, budget=None):
    """One soft step over the union of the shards; see ``kmeans_rbf.reference.soft_step``.

    ``c_k <- sum_i r_ik x_i / n_k``, ``n_k = sum_i r_ik``, the sums over every rank's
    points, ``r_i = map(-d_i / T)``. softmax keeps the reference's per-centre log-domain
    rescaling where a centre's responsibilities all underflow, across the ranks (module
    docstring); a centre with no mass (entmax15) keeps its place.

    Parameters
    ----------
    X : Tensor, shape (N_r, D)
        This rank's shard, N_r >= 0.
    C : Tensor, shape (K, D)
        The same on every rank.
    temperature : float
        T > 0, the same on every rank.
    kind : {'softmax', 'entmax15', 'hard'}
    group : torch.distributed.ProcessGroup, optional
    budget : int, optional

    Returns
    -------
    Tensor, shape (K, D)
        The same on every rank.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    >>> soft_step(X, torch.tensor([[0.0], [2.0]], dtype=torch.float64), 1e-3, "entmax15")
    tensor([[0.3333],
            [1.6667]], dtype=torch.float64)
    """

    call, T = _prepared(_tensor_shard(X, "C"), C, "C", group, kind if kind in KINDS else "hard",
                        _temperature(temperature, kind), budget)
    return krbf_torch._returned(_step(call, call.C, T, kind), call.dtype)


def kmeans(X, C0, n_iter, *, group=None, budget=None, progress=False):
    """Lloyd's algorithm over the union of the shards: ``n_iter`` steps from C0. (K, D).

    The same as ``kmeans_rbf.torch.kmeans`` on the concatenated shards (no restarts, no
    early stop), computed with one all-reduce of K (D + 1) + 3 float64 per step; the
    result is the same on every rank.

    Parameters
    ----------
    X : Tensor, shape (N_r, D)
        This rank's shard, N_r >= 0.
    C0 : Tensor, shape (K, D)
        The same on every rank (checked: module docstring).
    n_iter : int
        >= 0, the same on every rank.
    group : torch.distributed.ProcessGroup, optional
    budget : int, optional
    progress : bool or callable, optional
        A progress bar on rank 0 (``kmeans_rbf.out_of_core``); off by default.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]])
    >>> kmeans(X, torch.tensor([[0.0], [1.0]]), n_iter=5)
    tensor([[0.5000],
            [9.5000]])
    """
    call, schedule = _prepared(_tensor_shard(X, "C0"), C0, "C0", group, "hard", _iterations(n_iter), budget, progress)
    trajectory = _fit(call, _in_memory(call.data), schedule, "hard", "kmeans")
    return krbf_torch._returned(trajectory[-1], call.dtype)


def anneal(X, C0, temperatures, kind="softmax", steps_per_temperature=1, *, group=None, budget=None, progress=False):
    """Soft steps over a temperature schedule, over the union of the shards; the trajectory.

    ``steps_per_temperature`` soft steps (``soft_step``) at each temperature in turn, as
    ``kmeans_rbf.reference.anneal``.

    Parameters
    ----------
    X : Tensor, shape (N_r, D)
        This rank's shard, N_r >= 0.
    C0 : Tensor, shape (K, D)
        The same on every rank.
    temperatures : sequence of float
        Each > 0; the same on every rank.
    kind : {'softmax', 'entmax15'}
    steps_per_temperature : int
        >= 1.
    group, budget, progress
        As for ``kmeans``.

    Returns
    -------
    Tensor, shape (1 + len(temperatures) * steps_per_temperature, K, D)
        ``[C0, C after step 1, ...]``, the same on every rank.

    Examples
    --------
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]], dtype=torch.float64)
    >>> anneal(X, torch.tensor([[4.0], [6.0]], dtype=torch.float64), [100.0, 1.0, 0.01])[-1]
    tensor([[0.5000],
            [9.5000]], dtype=torch.float64)
    """
    call, schedule = _prepared(_tensor_shard(X, "C0"), C0, "C0", group, kind if kind in KINDS else "softmax",
                               _schedule(temperatures, kind, steps_per_temperature), budget, progress)
    trajectory = _fit(call, _in_memory(call.data), schedule, kind, "anneal")
    return krbf_torch._returned(torch.stack(trajectory), call.dtype)


def _in_memory(X):
    """One pass over an in-memory shard: the whole shard as one piece."""
    return lambda: [(X, "X")]


# --- the loop of a fit (shared with kmeans_rbf.out_of_core) ---------------------------------


def _fit(call, passes, schedule, kind, name, data_name="X"):
    """Steps over the union of the shards: ``[C0, C1, ...]`` (working dtype).

    ``data_name`` is the caller's name for the data, in errors.

    ``passes()`` gives one pass over this rank's data as ``(piece, label)`` pairs: 2-D
    tensors of the caller's dtype on any device, the label naming the piece in errors.
    Each step reads one pass; the pieces' statistics are combined, then all-reduced.
    """
    C = call.C
    trajectory = [C]
    total = None if call.n_rows is None else call.n_rows * len(schedule)
    budget = call.budget
    with (_NoBar() if call.bar is None else _Bar(call.bar, total, name)) as bar:
        for step, temperature in enumerate(schedule):
            shift = streaming.default_shift(C)

            def local(C=C, temperature=temperature, shift=shift):
                stats = _empty(C)
                for piece, label in passes():
                    if piece.shape[0]:
                        piece_stats = _piece_statistics(piece, C, call.dtype, temperature, kind, shift, budget, label)
                        stats = streaming.combine(stats, piece_stats, temperature)
                    bar.update(piece.shape[0])
                return stats

            stats = _reduced(call.world, local, C, temperature, kind)
            if int(stats.n_points) == 0:
                _raise_empty(call.world, data_name)
            C = streaming.centres(stats, C, shift)
            trajectory.append(C)
            bar.stepped(step + 1, len(schedule), temperature, float(stats.energy / stats.n_points))
    return trajectory


def _piece_statistics(piece, C, dtype, temperature, kind, shift, budget, label):
    """A piece's statistics; its errors name it (``label``) unless it is the shard X itself."""
    if piece.dtype not in (dtype, C.dtype):  # C.dtype: a half-precision shard already in float32
        centres = "C" if label == "X" else "the centres"
        raise TypeError(f"{label} and {centres} must have the same dtype; got {piece.dtype} and {dtype}")
    try:
        piece = piece.to(device=C.device, dtype=C.dtype)
        return streaming.sufficient_statistics(piece, C, temperature, kind, shift=shift, budget=budget)
    except (ValueError, TypeError, OverflowError) as error:
        if label == "X":
            raise
        raise type(error)(f"{label}: {error}") from None


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, rows):
        pass

    def stepped(self, step, steps, temperature, energy):
        pass


class _Bar(_NoBar):
    """A tqdm-like bar counting this rank's points read, with the step and free energy."""

    def __init__(self, factory, total, name):
        self.bar = factory(total=total, desc=name, unit="pt", unit_scale=True)
        self.read = 0

    def __exit__(self, *exc):
        self.bar.close()
        return False

    def update(self, rows):
        self.read += rows
        self.bar.update(rows)

    def stepped(self, step, steps, temperature, energy):
        if self.bar.total is None:  # an iterable of unknown length: known after one pass
            self.bar.total = self.read * steps
            self.bar.refresh()
        postfix = {"step": f"{step}/{steps}"}
        if temperature is not None:
            postfix["T"] = f"{temperature:.3g}"
        postfix["F"] = f"{energy:.6g}"  # the free energy (J for kind='hard') before the step
        self.bar.set_postfix(postfix)


def _bar_factory(progress, rank):
    """The factory of a fit's bar, or None: on rank 0 only; tqdm if installed (None),
    required (True), or the given callable."""
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise TypeError(
            f"progress must be None, a bool or a callable returning a tqdm-like bar; got {type(progress).__name__}"
        )
    if progress is False or rank != 0:
        return None
    if progress is None or progress is True:
        try:
            from tqdm import tqdm
        except ImportError:
            if progress is None:
                return None
            raise ImportError("progress=True needs tqdm: pip install tqdm (or kmeans-rbf[progress])") from None
        return tqdm
    return progress


# --- DistributedDataParallel ----------------------------------------------------------------


def global_mean(local_mean, n_points, *, group=None):
    r"""A per-point mean over this rank's points, made the mean over every rank's, for DDP.

    With ``local_mean = (1/N_r) sum_{i in shard r} l_i`` on each rank (any
    differentiable per-point loss) and ``N = sum_r N_r``, returns on every rank

        loss_r = G + (W N_r / N) local_mean - stop_gradient((W N_r / N) local_mean),

    ``G = (1/N) sum_r N_r local_mean_r`` (all-reduced, detached) and W the world size.
    Its value is G, the mean over all points, the same on every rank; its gradient is
    ``W N_r / N`` times the local mean's, so that DDP's average over the ranks,
    ``(1/W) sum_r (W N_r / N) grad local_mean_r = (1/N) sum_i grad l_i``, is the
    gradient of the global mean whatever the shard sizes. (DDP averaging the local
    means' gradients unscaled gives ``(1/W) sum_r grad local_mean_r``: the same only
    when every shard has N / W points.) One all-reduce of two float64 per call.

    Parameters
    ----------
    local_mean : Tensor, shape ()
        The mean over this rank's points (0 with a graph where N_r = 0).
    n_points : int
        N_r >= 0.
    group : torch.distributed.ProcessGroup, optional

    Examples
    --------
    >>> w = torch.tensor(2.0, requires_grad=True)
    >>> loss = global_mean((w * torch.tensor([1.0, 3.0])).mean(), 2)   # one process
    >>> loss.backward(); loss.item(), w.grad.item()
    (4.0, 2.0)
    """
    world = _World(group)
    try:
        n_points, error = validation.validate_count(n_points, "n_points"), None
        if not isinstance(local_mean, torch.Tensor) or local_mean.ndim != 0:
            raise TypeError(f"local_mean must be a 0-d tensor; got {type(local_mean).__name__}")
    except Exception as caught:  # noqa: BLE001 - raised on every rank, by the all-reduce
        n_points, error = 0, caught
    return _global_mean(world, local_mean, n_points, error)


def _global_mean(world, local_mean, n_points, error):
    """``global_mean``, carrying a local error in the same all-reduce (raised everywhere)."""
    if world.size == 1:
        if error is not None:
            raise error
        if n_points == 0:
            raise ValueError("X is empty: it has no rows")
        return local_mean
    total = 0.0 if error is not None else float(local_mean.detach()) * n_points
    packed = torch.tensor([0.0 if error is None else 1.0, float(n_points), total], dtype=torch.float64,
                          device=world.device)
    world.all_reduce(packed)
    if bool(packed[0] > 0):
        world.raise_gathered(error)
    N = float(packed[1])
    if N == 0:
        raise ValueError("X is empty on every rank: the shards have no points")
    scale = world.size * n_points / N
    scaled = scale * local_mean
    value = torch.as_tensor(float(packed[2]) / N, dtype=local_mean.dtype, device=local_mean.device)
    return value + (scaled - scaled.detach())


class RBFClustering(krbf_nn.RBFClustering):
    r"""``kmeans_rbf.nn.RBFClustering`` for ``DistributedDataParallel``: globally consistent updates.

    Under DDP each rank runs the forward pass on its own batch; DDP averages the
    gradients over the ranks and every rank's optimiser takes the same step. The plain
    layer's loss is the mean over the rank's own points, so DDP's update is that of the
    *average of the per-rank means*: the single-process update on the union of the data
    only when every rank has the same number of points. This layer's loss is the mean
    over the points of every rank (``global_mean``: one all-reduce of two numbers per
    forward), so that

        globally consistent: after ``loss.backward()`` and an optimiser step, the centres
        are identical on every rank and equal to those of the single-process layer after
        the same step on the union of the ranks' batches,

    for any batch sizes (a rank may have none: a (0, D) batch), up to the order of the
    floating-point sums. The responsibilities are those of the rank's own points
    (N_r, K); the loss value is the global one, the same on every rank. Every other
    argument, the maths and the validation are those of ``kmeans_rbf.nn.RBFClustering``;
    an error on one rank (e.g. a batch with another number of features) is raised on
    every rank instead of leaving the others waiting.

    The identical starting point is DDP's doing (it broadcasts rank 0's parameters when
    it wraps the module); ``assert_same_across_ranks(layer.centres)`` checks it at any
    time. Other per-point losses added to this one should be made global the same way
    (``global_mean``).

    Parameters
    ----------
    n_clusters, n_features, temperature, kind, loss, centres, dtype, device
        As for ``kmeans_rbf.nn.RBFClustering``.
    group : torch.distributed.ProcessGroup, optional
        The group DDP reduces over (default: the default group; one process if none).

    Examples
    --------
    On one process it is the plain layer:

    >>> layer = RBFClustering(2, 1, temperature=0.5, centres=[[0.0], [10.0]])
    >>> layer(torch.tensor([[0.0], [1.0], [9.0], [10.0]])).loss.item()
    0.5

    Under DDP (each rank with its own batch, of any size)::

        model = DistributedDataParallel(distributed.RBFClustering(K, D, temperature=0.5))
        optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
        model(X_local).loss.backward()            # the global loss, the same on every rank
        optimiser.step()                          # the same centres on every rank
    """

    def __init__(self, n_clusters, n_features, *, temperature, kind="entmax15", loss="objective",
                 centres=None, dtype=None, device=None, group=None):
        super().__init__(n_clusters, n_features, temperature=temperature, kind=kind, loss=loss,
                         centres=centres, dtype=dtype, device=device)
        _World(group)  # validates the argument
        self.group = group

    def forward(self, X):
        """Responsibilities of this rank's points (N_r, K) and the global loss (0-d)."""
        world = _World(self.group)
        error, n_points = None, 0
        try:
            if isinstance(X, torch.Tensor) and X.ndim == 2 and X.shape[0] == 0:
                _validate_shard(X, self.centres, "C")
                r = X.new_zeros((0, self.n_clusters))
                value = (self.centres * 0).sum().to(X.dtype)  # in the graph: DDP expects a gradient
            else:
                r, value = super().forward(X)
                n_points = X.shape[0]
        except Exception as caught:  # noqa: BLE001 - the other ranks are waiting in the all-reduce
            error, r, value = caught, None, None
        loss = _global_mean(world, value, n_points, error)
        return krbf_nn.ClusteringOutput(r, loss)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.group is None else f", group={self.group!r}")


def assert_same_across_ranks(tensor, name="tensor", *, group=None):
    """Raise ValueError on every rank unless ``tensor`` is the same, bit for bit, on every rank.

    Compares SHA-256 fingerprints of the bytes, shape and dtype (one all_gather of an
    int64 per rank; the tensor is copied to the CPU to hash). A no-op on one process.

    Examples
    --------
    >>> assert_same_across_ranks(torch.zeros(2), "centres")   # one process: nothing to compare
    """
    world = _World(group)
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    if world.size == 1:
        return
    prints = world.all_gather(torch.tensor([_fingerprint(tensor)], dtype=torch.int64, device=world.device))
    prints = prints.flatten().tolist()
    differing = [rank for rank, value in enumerate(prints) if value != prints[0]]
    if differing:
        raise ValueError(f"{name} differs across ranks: rank(s) {differing} differ from rank 0")
