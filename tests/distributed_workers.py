"""A pool of gloo processes for the tests of ``kmeans_rbf.distributed``, and broken variants.

``Pool(size)`` spawns ``size`` processes (torch.multiprocessing, spawn: a fresh
interpreter each, as torchrun would give), each of which joins a gloo process group on a
free TCP port of 127.0.0.1 and then runs jobs until told to stop. Starting a process
costs about 2 s (importing torch), so a test module starts one pool and shares it
(``pool`` fixture of tests/test_distributed.py).

``relative_error`` is shared with tests/test_out_of_core.py; the broken variants break
the engine with ``support.patched``.

``pool.run(function, per_rank, variant=None)`` runs ``function(*per_rank[r])`` on rank r,
with the broken variant ``variant`` (one of ``VARIANTS``) applied in the workers, and
returns one ``Outcome`` per rank: the value, or the error's type and message. Each job
has a deadline (``timeout``): a hang (a collective that one rank never joins) fails the
test instead of blocking the run, and the pool is restarted for the next job. The
process group's own timeout (``GLOO_TIMEOUT``) is shorter than the job's, so a hung
collective usually ends as an error on its own; a rank whose collective failed so (or
any other error of torch.distributed) has an unusable process group, and the pool is
restarted after that job too.

The functions run on the workers are the module-level ``job_*`` functions here (a
spawned worker imports them by name).
"""

import contextlib
import datetime
import os
import queue
import socket
import traceback
import warnings
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from support import patched

GLOO_TIMEOUT = datetime.timedelta(seconds=20)
JOB_TIMEOUT = 40.0
START_TIMEOUT = 120.0


class Outcome(NamedTuple):
    """What a job returned on one rank: ``value``, or ``error`` = (type name, message)."""

    value: object = None
    error: tuple = None

    def unwrap(self):
        if self.error is not None:
            raise AssertionError(f"the job raised {self.error[0]}: {self.error[1]}")
        return self.value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, size, port, jobs, results, backend):
    torch.set_num_threads(1)  # two processes on two cores
    warnings.simplefilter("error")  # as in the test run (pyproject.toml: filterwarnings)
    try:
        if backend == "nccl":
            torch.cuda.set_device(rank)
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size,
                                timeout=GLOO_TIMEOUT)
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the start
        results.put((rank, "failed", traceback.format_exc()))
        return
    results.put((rank, "ready", None))
    while True:
        job = jobs.get()
        if job is None:  # leave at once: a clean shutdown of torch and gloo takes seconds
            results.close()
            results.join_thread()
            os._exit(0)
        function, args, variant = job
        try:
            with VARIANTS[variant]() if variant else contextlib.nullcontext():
                value = function(*args)
            results.put((rank, "ok", value))
        except Exception as error:  # noqa: BLE001 - every outcome goes back to the test
            # A failed collective (a timeout, a peer gone) leaves the process group unusable.
            broken = isinstance(error, dist.DistError) or "gloo" in str(error).lower()
            results.put((rank, "broken" if broken else "error", (type(error).__name__, str(error))))


class Pool:
    """``size`` worker processes in one process group (gloo; NCCL: one GPU each); restarted after a hang."""

    def __init__(self, size=2, backend="gloo"):
        self.size, self.backend = size, backend
        self.processes = []
        self.starts = 0

    def _start(self):
        context = mp.get_context("spawn")
        self.results = context.Queue()
        self.jobs = [context.Queue() for _ in range(self.size)]
        port = free_port()
        self.processes = [
            context.Process(target=_worker, args=(rank, self.size, port, self.jobs[rank], self.results, self.backend),
                            daemon=True)
            for rank in range(self.size)
        ]
        for process in self.processes:
            process.start()
        self.starts += 1
        states = self._collect(START_TIMEOUT, "start")
        failed = [value for _, state, value in states if state != "ready"]
        if failed:
            self.close()
            raise RuntimeError("a worker failed to join the process group:\n" + failed[0])

    def _collect(self, timeout, what):
        outcomes = []
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
        while len(outcomes) < self.size:
            left = (deadline - datetime.datetime.now()).total_seconds()
            try:
                outcomes.append(self.results.get(timeout=min(max(left, 0.01), 1.0)))
                continue
            except queue.Empty:
                pass
            dead = [rank for rank, process in enumerate(self.processes) if not process.is_alive()]
            if dead or left <= 0:
                self.close()
            if dead:
                raise RuntimeError(f"{what}: worker(s) {dead} died (e.g. gloo aborted); the pool will restart")
            if left <= 0:
                raise TimeoutError(
                    f"{what}: {self.size - len(outcomes)} of {self.size} ranks did not finish within {timeout} s "
                    "(a hang: a rank waits in a collective the others never join); the pool will restart"
                )
        return sorted(outcomes, key=lambda outcome: outcome[0])

    def run(self, function, per_rank, variant=None, timeout=JOB_TIMEOUT):
        """``function(*per_rank[r])`` on every rank r: a list of ``Outcome``, by rank."""
        assert len(per_rank) == self.size
        assert variant is None or variant in VARIANTS, variant
        if not self.processes:
            self._start()
        for rank in range(self.size):
            self.jobs[rank].put((function, tuple(per_rank[rank]), variant))
        outcomes = self._collect(timeout, function.__name__)
        if any(state == "broken" for _, state, _ in outcomes):
            self.close()  # restarted by the next job
        return [Outcome(value=value) if state == "ok" else Outcome(error=value) for _, state, value in outcomes]

    def close(self):
        for rank, process in enumerate(self.processes):
            if process.is_alive():
                try:
                    self.jobs[rank].put(None)
                except (OSError, ValueError):
                    pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        self.processes = []


def relative_error(actual, expected):
    """``max |actual - expected| / max |expected|``: the issue's measure (float64: <= 1e-12)."""
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    return float((actual - expected).abs().max() / expected.abs().max())


# --- jobs: what the workers run ----------------------------------------------------------------


def job_call(module_name, function_name, args=(), kwargs=None):
    """``kmeans_rbf.<module_name>.<function_name>(*args, **kwargs)``."""
    import importlib

    module = importlib.import_module(f"kmeans_rbf.{module_name}")
    return getattr(module, function_name)(*args, **(kwargs or {}))


def job_on_gpu(function_name, X, C, *args):
    """``kmeans_rbf.distributed.<function_name>`` with X and C on this rank's GPU; the result on the CPU."""
    from kmeans_rbf import distributed

    device = torch.device("cuda", torch.cuda.current_device())
    return getattr(distributed, function_name)(X.to(device), C.to(device), *args).cpu()


def job_ddp_steps(layer_name, C0, X, kind, loss, temperature, lr, n_steps, init_sync=True):
    """``n_steps`` SGD steps of an RBFClustering under DDP on this rank's batch X.

    ``layer_name`` is 'distributed' (kmeans_rbf.distributed.RBFClustering) or 'plain'
    (kmeans_rbf.nn.RBFClustering). Returns the centres after each step and the losses.
    """
    from torch.nn.parallel import DistributedDataParallel

    from kmeans_rbf import distributed, nn

    layer_class = distributed.RBFClustering if layer_name == "distributed" else nn.RBFClustering
    layer = layer_class(*C0.shape, temperature=temperature, kind=kind, loss=loss, centres=C0)
    model = DistributedDataParallel(layer, init_sync=init_sync)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr)
    centres, losses = [layer.centres.detach().clone()], []
    for _ in range(n_steps):
        optimiser.zero_grad()
        out = model(X)
        out.loss.backward()
        optimiser.step()
        centres.append(layer.centres.detach().clone())
        losses.append(out.loss.detach().clone())
    return torch.stack(centres), torch.stack(losses)


def job_ddp_bad_batch(C0, X):
    """A forward under DDP where this rank's batch may be bad: the error, on every rank."""
    from torch.nn.parallel import DistributedDataParallel

    from kmeans_rbf import distributed

    model = DistributedDataParallel(distributed.RBFClustering(*C0.shape, temperature=1.0, centres=C0))
    return model(X).loss


# --- broken variants, applied in the workers ---------------------------------------------------


def unaligned():
    # The bug: every rank's softmax sums added as they are, each relative to its own least
    # regret (the offsets all-reduced, but the sums not rescaled to them).
    from kmeans_rbf import distributed

    return patched(distributed, _aligned=lambda stats, offsets, temperature: stats._replace(offsets=offsets))


def averaged_centres():
    # The bug: each rank takes its own step, and the ranks average their centres (the
    # mean of the shards' means: right only when every shard has the same cells' sizes).
    from kmeans_rbf import distributed, streaming

    real = distributed._reduced

    def averaging(world, local, C, temperature, kind):
        stats = local() if world.size > 1 else real(world, local, C, temperature, kind)
        shift = streaming.default_shift(C)
        mine = streaming.centres(stats, C, shift).to(torch.float64)
        world.all_reduce(mine)
        mine /= world.size
        K = C.shape[0]
        ones = torch.ones(K, dtype=torch.float64)
        return stats._replace(sums=mine - shift.to(torch.float64), masses=ones, offsets=torch.zeros(K, dtype=torch.float64))

    return patched(distributed, _reduced=averaging)


def unchecked_agreement():
    # The bug: no comparison of the ranks' calls (shapes, hyperparameters, centres).
    from kmeans_rbf import distributed

    return patched(distributed, _agree=lambda table, centres_name: None)


def empty_shard_unsupported():
    # The bug: a rank without points calls the streaming statistics anyway (which need a row).
    from kmeans_rbf import distributed, streaming

    def local_statistics(X, C, temperature, kind, shift, budget):
        return streaming.sufficient_statistics(X, C, temperature, kind, shift=shift, budget=budget)

    return patched(distributed, _local_statistics=local_statistics)


def unshared_errors():
    # The bug: a rank that fails raises at once, without telling the others (who then
    # wait in the next collective until the process group's timeout: a hang).
    from kmeans_rbf import distributed

    real = distributed._prepared

    def prepared(shard, C, centres_name, group, kind, *args, **kwargs):
        shard(C)  # raises here, on the failing rank only
        return real(shard, C, centres_name, group, kind, *args, **kwargs)

    return patched(distributed, _prepared=prepared)


VARIANTS = {
    "unaligned": unaligned,
    "averaged_centres": averaged_centres,
    "unchecked_agreement": unchecked_agreement,
    "empty_shard_unsupported": empty_shard_unsupported,
    "unshared_errors": unshared_errors,
}
