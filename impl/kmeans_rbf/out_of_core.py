r"""Fits over data that do not fit in memory: a memory-mapped array, a ``.npy`` file, chunks.

A step of any kind needs only sums over points (``kmeans_rbf.streaming``), so a fit can
read the data piece by piece: each step is one pass over the data, each piece adds its
sufficient statistics, and the centres move once per pass. Memory: one piece (``rows``
rows, below) and the streaming buffers of a ``budget`` (``streaming.DEFAULT_BUDGET``
bytes by default) beyond O(K D); never the data.

The data, ``data``
    * a NumPy array of shape (N, D), typically memory-mapped (``np.load(path,
      mmap_mode="r")`` or ``np.memmap``), or a torch tensor (e.g. ``torch.from_file``):
      read ``streaming.chunk_rows(K, D, dtype, budget)`` rows at a time on a GPU, twice
      that per CPU thread on the CPU (so that ``kmeans_rbf.streaming`` can share a piece
      among its worker threads), copied out of the map and moved to the centres' device;
    * a path to a ``.npy`` file: memory-mapped as above;
    * chunks: a zero-argument callable returning an iterable of (n_j, D) arrays or
      tensors (called once per pass, so it can reopen a file or a database cursor), or a
      re-iterable collection of chunks (a list). A one-shot iterator (a generator) is
      read once: it suffices for ``lloyd_step`` and ``soft_step`` but not for a fit of
      several steps, which raises TypeError up front. Chunks may have any number of rows,
      including 0.
    Its dtype must be the centres' (as everywhere in ``kmeans_rbf.torch``).

With ``group`` (``torch.distributed``), each rank reads its own data and the statistics
are all-reduced once per step: an out-of-core fit over shards on several machines, with
the checks of ``kmeans_rbf.distributed`` (the same centres and hyperparameters on every
rank, an error on one rank raised on all).

Progress. ``progress=None`` (the default) shows a bar on rank 0 if ``tqdm`` is
installed (``pip install kmeans-rbf[progress]``) and nothing otherwise; ``True``
requires tqdm; ``False`` turns it off; a callable is used as the bar's factory (called
as ``factory(total=..., desc=..., unit="pt", unit_scale=True)``, e.g.
``functools.partial(tqdm.tqdm, file=sys.stdout)`` or ``tqdm.notebook.tqdm``). The bar
counts the points read by this rank over all steps and shows the step, the temperature
and the free energy of the centres before the last step (J for ``kmeans``): a fit can be
watched converging.

The results are those of ``kmeans_rbf.torch`` on the whole (concatenated) data, up to
the order of the floating-point sums.

Examples
--------
>>> import numpy as np, tempfile, os, torch
>>> from kmeans_rbf import out_of_core
>>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
>>> np.save(path, np.array([[0.0], [1.0], [9.0], [10.0]]))
>>> C0 = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
>>> out_of_core.kmeans(path, C0, n_iter=5, progress=False)
tensor([[0.5000],
        [9.5000]], dtype=torch.float64)
>>> chunks = [np.array([[0.0], [1.0], [9.0]]), np.array([[10.0]])]
>>> out_of_core.kmeans(chunks, C0, n_iter=5, progress=False)
tensor([[0.5000],
        [9.5000]], dtype=torch.float64)
"""

import os
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from . import distributed
from . import streaming
from . import torch as krbf_torch
from .kinds import KINDS

__all__ = ["lloyd_step", "soft_step", "kmeans", "anneal"]


def _torch_dtype(numpy_dtype):
    try:
        return torch.from_numpy(np.empty(0, dtype=numpy_dtype)).dtype
    except TypeError:
        raise TypeError(f"data must be an array of floating-point numbers; got dtype {numpy_dtype}") from None


def _as_tensor(chunk, label):
    """A chunk as a tensor (NumPy arrays without a copy where they are writable)."""
    if isinstance(chunk, np.ndarray):
        if not chunk.flags.writeable or not chunk.flags.c_contiguous:
            chunk = np.array(chunk)  # out of a read-only map: a copy of this chunk only
        return torch.from_numpy(chunk)
    if isinstance(chunk, torch.Tensor):
        return chunk
    raise TypeError(f"{label} must be a NumPy array or a torch tensor; got {type(chunk).__name__}")


def _validate_chunk(chunk, label, n_features, centres_name):
    if chunk.ndim != 2:
        raise ValueError(f"{label} must be 2-D (n_points, n_features); got shape {tuple(chunk.shape)}")
    if chunk.shape[1] != n_features:
        raise ValueError(f"{label} has {chunk.shape[1]} features; {centres_name} has {n_features}")


def _array_source(data, C, budget, centres_name):
    """Passes over an (N, D) array or tensor, ``rows`` rows per piece."""
    dtype = data.dtype if isinstance(data, torch.Tensor) else _torch_dtype(data.dtype)
    _validate_chunk(data, "data", C.shape[1], centres_name)
    if dtype != C.dtype:
        raise TypeError(f"data and {centres_name} must have the same dtype; got {dtype} and {C.dtype}")
    rows = streaming.chunk_rows(*C.shape, krbf_torch._working_dtype(dtype), budget)
    if C.device.type == "cpu":  # enough chunks per piece for streaming's worker threads
        rows *= 2 * torch.get_num_threads()
    n_rows = data.shape[0]

    def passes():
        for start in range(0, n_rows, rows):
            stop = min(start + rows, n_rows)
            yield _as_tensor(data[start:stop], "data"), f"data rows {start}:{stop}"

    return passes, n_rows


def _chunks(iterable, n_features, centres_name):
    for index, chunk in enumerate(iterable):
        label = f"data chunk {index}"
        chunk = _as_tensor(chunk, label)
        _validate_chunk(chunk, label, n_features, centres_name)
        yield chunk, label


def _source(data, n_passes, budget, centres_name):
    """The shard validator of ``kmeans_rbf.distributed`` for out-of-core data."""

    def shard(C):
        source = data
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            try:
                source = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as error:
                raise ValueError(f"data: cannot memory-map {path!r} as a .npy file ({error})") from None
            if not isinstance(source, np.ndarray):
                source.close()
                raise ValueError(f"data: {path!r} is an .npz archive; pass one of its arrays as a .npy file")
        if isinstance(source, (np.ndarray, torch.Tensor)):
            return _array_source(source, C, budget, centres_name)
        if isinstance(source, Iterator):
            if n_passes > 1:
                raise TypeError(
                    f"data is an iterator, which can be read once; this fit reads the data {n_passes} "
                    "times: pass a callable that returns a fresh iterator (e.g. lambda: read_chunks(path)) "
                    "or a list of chunks"
                )
            return (lambda: _chunks(source, C.shape[1], centres_name)), None
        if callable(source):
            return (lambda: _chunks(source(), C.shape[1], centres_name)), None
        if isinstance(source, Iterable):
            return (lambda: _chunks(source, C.shape[1], centres_name)), None
        raise TypeError(
            "data must be a NumPy array, a torch tensor, a path to a .npy file, an iterable of chunks "
            f"or a callable returning one; got {type(source).__name__}"
        )

    return shard


def _run(data, C, centres_name, kind, hyper, group, progress, budget, name):
    # The number of passes is needed to refuse a one-shot iterator before reading it.
    try:
        n_passes = len(hyper()[0])
    except Exception:  # noqa: BLE001 - the same error is raised, on every rank, below
        n_passes = 1
    call, schedule = distributed._prepared(_source(data, n_passes, budget, centres_name), C, centres_name, group,
                                           kind if kind in KINDS else "hard", hyper, budget, progress)
    return distributed._fit(call, call.data, schedule, kind, name, data_name="data"), call.dtype


def lloyd_step(data, C, *, group=None, progress=None, budget=None):
    """One Lloyd step over out-of-core data (one pass); see ``kmeans_rbf.reference.lloyd_step``.

    Parameters
    ----------
    data : array, tensor, path, iterable of chunks or callable
        (N, D) in total (module docstring); a one-shot iterator is accepted (one pass).
    C : Tensor, shape (K, D)
        The data's dtype.
    group : torch.distributed.ProcessGroup, optional
        Each rank passes its own data (``kmeans_rbf.distributed``).
    progress : None, bool or callable
        The bar (module docstring).
    budget : int, optional
        Bytes for the streaming buffers; also sets the rows read at a time.

    Returns
    -------
    Tensor, shape (K, D)

    Examples
    --------
    >>> import numpy as np
    >>> lloyd_step(iter([np.array([[0.0], [1.0]]), np.array([[2.0]])]),
    ...            torch.tensor([[0.0], [2.0]], dtype=torch.float64), progress=False)
    tensor([[0.5000],
            [2.0000]], dtype=torch.float64)
    """
    trajectory, dtype = _run(data, C, "C", "hard", distributed._iterations(1), group, progress, budget, "lloyd_step")
    return krbf_torch._returned(trajectory[-1], dtype)


def soft_step(data, C, temperature=None, kind="softmax", *, group=None, progress=None, budget=None):
    """One soft step over out-of-core data (one pass); see ``kmeans_rbf.reference.soft_step``.

    Parameters
    ----------
    data, C, group, progress, budget
        As for ``lloyd_step``.
    temperature : float
        T > 0.
    kind : {'softmax', 'entmax15', 'hard'}

    Returns
    -------
    Tensor, shape (K, D)

    Examples
    --------
    >>> import numpy as np
    >>> soft_step([np.array([[0.0], [1.0], [2.0]])], torch.tensor([[0.0], [2.0]], dtype=torch.float64),
    ...           1e-3, "entmax15", progress=False)
    tensor([[0.3333],
            [1.6667]], dtype=torch.float64)
    """

    def hyper():
        T, temperatures, steps = distributed._temperature(temperature, kind)()
        return [T], temperatures, steps

    trajectory, dtype = _run(data, C, "C", kind, hyper, group, progress, budget, "soft_step")
    return krbf_torch._returned(trajectory[-1], dtype)


def kmeans(data, C0, n_iter, *, group=None, progress=None, budget=None):
    """Lloyd's algorithm over out-of-core data: ``n_iter`` passes, one step each. (K, D).

    The same as ``kmeans_rbf.torch.kmeans`` on the whole data, read ``n_iter`` times.

    Parameters
    ----------
    data : array, tensor, path, re-iterable of chunks or callable
        (N, D) in total (module docstring); not a one-shot iterator when ``n_iter > 1``.
    C0 : Tensor, shape (K, D)
        The data's dtype.
    n_iter : int
        >= 0.
    group, progress, budget
        As for ``lloyd_step``.

    Examples
    --------
    >>> import numpy as np
    >>> kmeans(lambda: iter([np.array([[0.0], [1.0]]), np.array([[9.0], [10.0]])]),
    ...        torch.tensor([[0.0], [1.0]], dtype=torch.float64), n_iter=5, progress=False)
    tensor([[0.5000],
            [9.5000]], dtype=torch.float64)
    """
    trajectory, dtype = _run(data, C0, "C0", "hard", distributed._iterations(n_iter), group, progress, budget,
                             "kmeans")
    return krbf_torch._returned(trajectory[-1], dtype)


def anneal(data, C0, temperatures, kind="softmax", steps_per_temperature=1, *, group=None, progress=None,
           budget=None):
    """Deterministic annealing over out-of-core data; the trajectory. See ``reference.anneal``.

    Parameters
    ----------
    data : array, tensor, path, re-iterable of chunks or callable
        As for ``kmeans``.
    C0 : Tensor, shape (K, D)
    temperatures : sequence of float
        Each > 0.
    kind : {'softmax', 'entmax15'}
    steps_per_temperature : int
        >= 1; each step is one pass over the data.
    group, progress, budget
        As for ``lloyd_step``.

    Returns
    -------
    Tensor, shape (1 + len(temperatures) * steps_per_temperature, K, D)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [9.0], [10.0]])
    >>> anneal(X, torch.tensor([[4.0], [6.0]], dtype=torch.float64), [100.0, 1.0, 0.01], progress=False)[-1]
    tensor([[0.5000],
            [9.5000]], dtype=torch.float64)
    """
    trajectory, dtype = _run(data, C0, "C0", kind, distributed._schedule(temperatures, kind, steps_per_temperature),
                             group, progress, budget, "anneal")
    return krbf_torch._returned(torch.stack(trajectory), dtype)

