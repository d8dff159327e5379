"""kmeans_rbf.distributed on two gloo processes: the same results as one process.

One pool of two worker processes (``distributed_workers.Pool``: spawned, a gloo process
group on a free port, a deadline per job) serves the whole module; each test sends its
shards to the two ranks and compares what comes back with ``kmeans_rbf.torch`` run here,
in one process, on the union of the shards:

* float64 centres within 1e-12 relative (``max |a - b| / max |b|``; measured: 0 to 1.2e-15,
  the order of the float64 sums being all that differs), hard labels identical
  (``assign`` of the union's points), and the result identical, bit for bit, on both ranks;
* uneven shards: rank 0 with several chunks and a partial one, rank 1 with fewer points
  than one chunk; and a rank with no points at all (allowed: its statistics are zero);
* bad input on one rank, or ranks that disagree: the same error on both ranks, no hang.

Each test says in a comment starting ``Catches:`` which broken variant makes it fail, and
the ``*_bites`` tests run it with that variant applied in the workers
(``distributed_workers.VARIANTS``). Tests without the pool (one process: the documented
fallback) are at the end.
"""

import functools

import numpy as np
import pytest
import torch
import torch.distributed as dist

from distributed_workers import Pool, job_call, job_ddp_bad_batch, job_ddp_steps, job_on_gpu, relative_error
from kmeans_rbf import distributed, nn, out_of_core, reference, streaming
from kmeans_rbf import torch as krbf

RTOL = 1e-12  # the tolerance for float64

K, D = 4, 2
ROWS = 16  # rows per chunk of the workers' streaming, with BUDGET
BUDGET = ROWS * streaming._bytes_per_row(K, D, torch.float64)
assert streaming.chunk_rows(K, D, torch.float64, BUDGET) == ROWS

# (rank 0's points, rank 1's): rank 0 has two full chunks and a partial one, rank 1 fewer
# points than one chunk; or rank 1 has none.
SHARDS = {"uneven": (41, 9), "empty-rank": (50, 0)}


@pytest.fixture(scope="module")
def pool():
    workers = Pool(2)
    yield workers
    workers.close()


def blobs(n_points, seed=0):
    """Four blobs of unequal sizes in the plane (float64), shuffled, and four of the points as C0."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [5.0, 5.0]])
    labels = rng.choice(4, size=n_points, p=[0.4, 0.3, 0.2, 0.1])
    X = means[labels] + 0.8 * rng.standard_normal((n_points, 2))
    return torch.tensor(X), torch.tensor(X[[0, 1, 2, 3]] + 0.1)


def shards_of(X, sizes):
    n0, n1 = sizes
    assert n0 + n1 == len(X)
    return [X[:n0].clone(), X[n0:].clone()]


def assert_one_process_result(outcomes, expected, X=None, name="centres"):
    """Both ranks: the same tensor, bit for bit, within RTOL of ``expected``; the same labels."""
    values = [outcome.unwrap() for outcome in outcomes]
    assert torch.equal(values[0], values[1]), f"{name} differ between the ranks: {values[0]} and {values[1]}"
    assert values[0].dtype == expected.dtype
    error = relative_error(values[0], expected)
    assert error <= RTOL, f"{name}: relative error {error:.3g} against one process (allowed {RTOL})"
    if X is not None:  # hard labels of the union's points: identical
        for got, want in zip(values[0].reshape(-1, *expected.shape[-2:]), expected.reshape(-1, *expected.shape[-2:])):
            assert torch.equal(krbf.assign(X, got), krbf.assign(X, want)), f"{name}: labels differ"
    return error


def on_shards(pool, function, shards, *args, variant=None, module="distributed", **kwargs):
    kwargs.setdefault("budget", BUDGET)
    return pool.run(job_call, [(module, function, (shard, *args), kwargs) for shard in shards], variant)


def assert_bites_on_ranks(check, variant, *args):
    """``check`` (a test's body, taking ``variant``) must fail by assertion with ``variant``."""
    try:
        check(*args, variant=variant)
    except AssertionError:
        return
    name = getattr(check, "func", check).__name__
    raise AssertionError(f"{name} passed with the broken variant {variant!r}")


# --- steps ---------------------------------------------------------------------------------


STEP_CASES = [("hard", None), ("softmax", 0.7), ("entmax15", 0.7)]


def check_step(pool, kind, temperature, sizes, variant=None):
    X, C = blobs(sum(sizes))
    shards = shards_of(X, sizes)
    if kind == "hard":
        outcomes = on_shards(pool, "lloyd_step", shards, C, variant=variant)
        expected = krbf.lloyd_step(X, C)
    else:
        outcomes = on_shards(pool, "soft_step", shards, C, temperature, kind, variant=variant)
        expected = krbf.soft_step(X, C, temperature, kind)
    return assert_one_process_result(outcomes, expected, X if kind == "hard" else None)


@pytest.mark.parametrize("sizes", SHARDS.values(), ids=SHARDS.keys())
@pytest.mark.parametrize("kind, temperature", STEP_CASES, ids=[kind for kind, _ in STEP_CASES])
def test_step_equals_one_process(pool, kind, temperature, sizes):
    # One lloyd_step / soft_step over the two shards is one process's step on the union.
    # Catches: each rank stepping on its own shard and the ranks averaging their centres
    # (the mean of the shards' means; wrong whenever the shards' cells differ in size).
    check_step(pool, kind, temperature, sizes)


def test_step_bites(pool):
    for kind, temperature in STEP_CASES:
        assert_bites_on_ranks(functools.partial(check_step, pool, kind, temperature), "averaged_centres", SHARDS["uneven"])


def underflow_problem():
    """A far centre whose softmax weights all underflow, nearest to points on both ranks.

    C = [(0, 0), (40, 0)] and T = 0.01: a point (x, y) near the origin has regret
    1600 - 80 x for the far centre, so its weight exp(-(1600 - 80 x) / T) is 0 in float64
    for every point, and the reference moves that centre onto the points of least regret
    (the largest x), weighted exp(-80 (x_max - x) / T). The point of largest x is on rank
    1 (x = 2.5) and rank 0's best (x = 2.4999) is 0.8 behind it in the exponent: both
    ranks' sums count, rank 0's only after rescaling by exp(-0.8).
    """
    rng = np.random.default_rng(1)
    rank0 = np.concatenate([rng.uniform(-1, 1, (20, 2)), [[2.4999, 0.0], [2.49, 0.01]]])
    rank1 = np.concatenate([rng.uniform(-1, 1, (5, 2)), [[2.5, 0.0]]])
    C = torch.tensor([[0.0, 0.0], [40.0, 0.0]], dtype=torch.float64)
    return [torch.tensor(rank0), torch.tensor(rank1)], C, 0.01


def check_softmax_underflow(pool, variant=None):
    shards, C, T = underflow_problem()
    X = torch.cat(shards)
    expected = krbf.soft_step(X, C, T, "softmax")
    far = reference.soft_step(X.numpy(), C.numpy(), T, "softmax")[1]
    assert abs(far[0] - 2.4999) < 1e-3 and not np.isclose(far[0], 2.5, rtol=0, atol=1e-6)  # both ranks count
    outcomes = pool.run(job_call, [("distributed", "soft_step", (shard, C, T, "softmax"), {}) for shard in shards],
                        variant)
    return assert_one_process_result(outcomes, expected)


def test_softmax_step_with_underflow_equals_one_process(pool):
    # The offsets path: every weight of the far centre underflows; each rank's sums are
    # relative to its own least regret until the MIN all-reduce and the rescaling.
    # Catches: the offsets all-reduced but the sums not rescaled to them (the far centre
    # lands on the unweighted mix of the two ranks' least-regret points).
    check_softmax_underflow(pool)


def test_softmax_underflow_bites(pool):
    assert_bites_on_ranks(functools.partial(check_softmax_underflow, pool), "unaligned")


# --- fits -----------------------------------------------------------------------------------


def check_kmeans(pool, sizes, variant=None):
    X, C0 = blobs(sum(sizes), seed=2)
    outcomes = on_shards(pool, "kmeans", shards_of(X, sizes), C0, 8, variant=variant)
    return assert_one_process_result(outcomes, krbf.kmeans(X, C0, 8), X)


@pytest.mark.parametrize("sizes", SHARDS.values(), ids=SHARDS.keys())
def test_kmeans_equals_one_process(pool, sizes):
    # Eight Lloyd steps over the shards: one process's kmeans on the union; its labels.
    # Catches: averaging the ranks' centres instead of summing their statistics.
    check_kmeans(pool, sizes)


def test_kmeans_bites(pool):
    assert_bites_on_ranks(functools.partial(check_kmeans, pool), "averaged_centres", SHARDS["uneven"])


ANNEAL = [8.0, 2.0, 0.5, 0.05]


def check_anneal(pool, kind, sizes, variant=None):
    X, C0 = blobs(sum(sizes), seed=3)
    outcomes = on_shards(pool, "anneal", shards_of(X, sizes), C0, ANNEAL, kind, 2, variant=variant)
    return assert_one_process_result(outcomes, krbf.anneal(X, C0, ANNEAL, kind, 2), name="trajectory")


@pytest.mark.parametrize("sizes", SHARDS.values(), ids=SHARDS.keys())
@pytest.mark.parametrize("kind", ["softmax", "entmax15"])
def test_anneal_equals_one_process(pool, kind, sizes):
    # The whole trajectory of eight soft steps over a falling temperature.
    # Catches: averaging the ranks' centres instead of summing their statistics.
    check_anneal(pool, kind, sizes)


def test_anneal_bites(pool):
    assert_bites_on_ranks(functools.partial(check_anneal, pool, "entmax15"), "averaged_centres", SHARDS["uneven"])


def test_empty_rank_bites(pool):
    # Catches: a rank without points calling the streaming statistics (which need a row).
    assert_bites_on_ranks(functools.partial(check_step, pool, "hard", None), "empty_shard_unsupported", SHARDS["empty-rank"])


def test_sufficient_statistics_are_those_of_the_union(pool):
    # The all-reduced statistics: n_points, masses and the free energy of the union.
    # Catches: n_points or the energy left out of the all-reduce (each rank's own).
    X, C = blobs(50, seed=4)
    outcomes = on_shards(pool, "sufficient_statistics", shards_of(X, SHARDS["uneven"]), C, 0.7, "softmax")
    stats = [outcome.unwrap() for outcome in outcomes]
    whole = streaming.sufficient_statistics(X, C, 0.7, "softmax")
    for got in stats:
        assert int(got.n_points) == 50
        assert relative_error(got.masses, whole.masses) <= RTOL
        assert relative_error(got.energy, whole.energy) <= RTOL
        assert relative_error(got.sums, whole.sums) <= RTOL


def test_out_of_core_fit_over_each_ranks_file(pool, tmp_path):
    # Each rank memory-maps its own .npy file; the fit is one process's kmeans on the union.
    # Catches: an out-of-core loop that does not all-reduce (each rank fits its own file).
    X, C0 = blobs(50, seed=5)
    paths = []
    for rank, shard in enumerate(shards_of(X, SHARDS["uneven"])):
        paths.append(str(tmp_path / f"rank{rank}.npy"))
        np.save(paths[-1], shard.numpy())
    outcomes = pool.run(job_call, [("out_of_core", "kmeans", (path, C0, 8), {"progress": False, "budget": BUDGET})
                                   for path in paths])
    assert_one_process_result(outcomes, krbf.kmeans(X, C0, 8), X)


# --- bad input: the same error on every rank, and no hang -------------------------------------


def _bad_cases():
    X, C = blobs(30, seed=6)
    a, b = X[:20], X[20:]
    nan = torch.cat([b] * 4)  # 40 rows: the NaN is in rank 1's third chunk
    nan[-1, 0] = float("nan")
    return {
        # (per-rank arguments of distributed.<function>, function, error, message)
        "features": ([(a, C), (torch.cat([b, b[:, :1]], dim=1), C)], "lloyd_step", ValueError,
                     "X and C must have the same number of features; X has 3, C has 2"),
        "nan-in-a-later-chunk": ([(a, C), (nan, C)], "lloyd_step", ValueError, "X contains NaN"),
        "centres-differ": ([(a, C, 3), (b, C + 1e-9, 3)], "kmeans", ValueError,
                           "C0 must be the same on every rank; rank 1's differs"),
        "centres-shape": ([(a, C), (b, C[:3])], "lloyd_step", ValueError, "C must have the same shape on every rank"),
        "dtype": ([(a, C), (b.float(), C.float())], "lloyd_step", TypeError, "same dtype on every rank"),
        "temperature": ([(a, C, 1.0), (b, C, 2.0)], "soft_step", ValueError, "temperature"),
        "n_iter": ([(a, C, 3), (b, C, 4)], "kmeans", ValueError, "number of steps (and shift) must be the same"),
        "kind": ([(a, C, 1.0, "softmax"), (b, C, 1.0, "sparsemax")], "soft_step", ValueError, "kind must be one of"),
        "all-empty": ([(a[:0], C), (b[:0], C)], "lloyd_step", ValueError, "X is empty on every rank"),
    }


BAD = _bad_cases()


def check_bad_input(pool, name, variant=None):
    per_rank, function, error, message = BAD[name]
    outcomes = pool.run(job_call, [("distributed", function, args, {"budget": BUDGET}) for args in per_rank], variant,
                        timeout=30)
    for rank, outcome in enumerate(outcomes):
        assert outcome.error is not None, f"rank {rank} did not raise, it returned {outcome.value}"
        assert outcome.error[0] == error.__name__ and message in outcome.error[1], f"rank {rank}: {outcome.error}"


@pytest.mark.parametrize("name", BAD)
def test_bad_input_raises_on_every_rank(pool, name):
    # How: each call starts with one all_gather of a few int64 per rank (failure flag,
    # shape, dtype, kind, hashes of the hyperparameters and of the centres); an error
    # during a step travels in the step's all-reduce.
    # Catches: no comparison of the ranks' calls (centres, shapes, dtypes, temperatures
    # and steps that differ would silently give each rank other centres, or a hang), and
    # a failing rank that raises alone (the other waits in a collective: the job's
    # deadline fails the test; slow, see test_unshared_errors_bite).
    check_bad_input(pool, name)


def test_bad_input_bites(pool):
    for name in ("centres-differ", "temperature", "dtype"):
        assert_bites_on_ranks(functools.partial(check_bad_input, pool), "unchecked_agreement", name)


@pytest.mark.slow
def test_unshared_errors_bite(pool):
    # A rank that raises alone leaves the other in a collective until gloo's timeout
    # (20 s); the pool restarts afterwards (~3 s).
    assert_bites_on_ranks(functools.partial(check_bad_input, pool), "unshared_errors", "features")


# --- RBFClustering under DistributedDataParallel ----------------------------------------------
#
# "Globally consistent" means, precisely: after each loss.backward() and optimiser step
# under DDP, (1) the centres are identical, bit for bit, on every rank, and (2) they equal,
# within 1e-12 relative, the centres of the single-process kmeans_rbf.nn.RBFClustering after
# the same steps (same optimiser, learning rate and initial centres) on the union of the
# ranks' batches. Also (3) the loss each rank sees is that single-process loss.


DDP_CASES = [("softmax", "objective", 2.0), ("entmax15", "free_energy", 1.0), ("hard", "objective", None)]
DDP_SHARDS = {"uneven": (7, 3), "empty-rank": (10, 0)}


def check_ddp(pool, kind, loss, temperature, sizes, variant=None, layer="distributed", init_sync=True):
    X, C0 = blobs(sum(sizes), seed=7)
    shards = shards_of(X, sizes)
    initial = [C0, C0 + 0.5]  # DDP broadcasts rank 0's when it wraps the layer
    outcomes = pool.run(job_ddp_steps, [(layer, initial[rank], shards[rank], kind, loss, temperature, 0.5, 3, init_sync)
                                        for rank in range(2)], variant)
    (centres0, losses0), (centres1, losses1) = [outcome.unwrap() for outcome in outcomes]
    assert torch.equal(centres0, centres1), f"the centres differ between the ranks:\n{centres0}\n{centres1}"
    single = nn.RBFClustering(K, D, temperature=temperature, kind=kind, loss=loss, centres=C0)
    optimiser = torch.optim.SGD(single.parameters(), lr=0.5)
    centres, losses = [single.centres.detach().clone()], []
    for _ in range(3):
        optimiser.zero_grad()
        out = single(X)
        out.loss.backward()
        optimiser.step()
        centres.append(single.centres.detach().clone())
        losses.append(out.loss.detach())
    error = relative_error(centres0, torch.stack(centres))
    assert error <= RTOL, f"centres: relative error {error:.3g} against one process on the union"
    assert torch.equal(losses0, losses1)
    assert relative_error(losses0, torch.stack(losses)) <= RTOL, f"losses {losses0} against {losses}"
    return error


@pytest.mark.parametrize("sizes", DDP_SHARDS.values(), ids=DDP_SHARDS.keys())
@pytest.mark.parametrize("kind, loss, temperature", DDP_CASES, ids=[f"{k}-{l}" for k, l, _ in DDP_CASES])
def test_rbf_clustering_under_ddp_is_globally_consistent(pool, kind, loss, temperature, sizes):
    # Three SGD steps under DDP with 7 and 3 points (or 10 and 0) per rank.
    # Catches: the plain layer (each rank's loss the mean over its own points: DDP then
    # averages the two shards' means, the wrong update for shards of unequal size), and
    # initial centres that are not broadcast (DDP(init_sync=False): the ranks diverge).
    check_ddp(pool, kind, loss, temperature, sizes)


def test_ddp_bites(pool):
    case = (pool, "softmax", "objective", 2.0, DDP_SHARDS["uneven"])
    try:
        check_ddp(*case, layer="plain")
    except AssertionError as error:
        assert "relative error" in str(error)  # identical on both ranks, but not the union's update
    else:
        raise AssertionError("the plain layer under DDP passed with uneven shards")
    with pytest.raises(AssertionError, match="differ between the ranks"):
        check_ddp(*case, init_sync=False)


def test_assert_same_across_ranks(pool):
    # Equal tensors pass; a difference in the last bit raises on both ranks, naming rank 1.
    # Catches: a comparison by value within a tolerance, or a check that raises on one rank.
    C = torch.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=torch.float64)
    nudged = C.clone()
    nudged[1, 1] = torch.nextafter(nudged[1, 1], torch.tensor(1.0, dtype=torch.float64))
    outcomes = pool.run(job_call, [("distributed", "assert_same_across_ranks", (C, "centres"), {})] * 2)
    assert [outcome.unwrap() for outcome in outcomes] == [None, None]
    outcomes = pool.run(job_call, [("distributed", "assert_same_across_ranks", (c, "centres"), {}) for c in (C, nudged)])
    for outcome in outcomes:
        assert outcome.error == ("ValueError", "centres differs across ranks: rank(s) [1] differ from rank 0")
    # A 0-d tensor (a loss) too.
    losses = [torch.tensor(0.5), torch.tensor(0.25)]
    outcomes = pool.run(job_call, [("distributed", "assert_same_across_ranks", (loss, "loss"), {}) for loss in losses])
    for outcome in outcomes:
        assert outcome.error == ("ValueError", "loss differs across ranks: rank(s) [1] differ from rank 0")


def test_ddp_bad_batch_raises_on_every_rank(pool):
    # Catches: a layer whose forward raises on the rank with the bad batch only (the
    # other would wait in the forward's all-reduce, then in DDP's).
    X, C0 = blobs(10, seed=8)
    outcomes = pool.run(job_ddp_bad_batch, [(C0, X[:5]), (C0, torch.cat([X[5:], X[5:, :1]], dim=1))], timeout=30)
    for outcome in outcomes:
        assert outcome.error is not None and outcome.error[0] == "ValueError"
        assert "X and C must have the same number of features; X has 3, C has 2" in outcome.error[1]


# --- NCCL, on two GPUs -------------------------------------------------------------------------------


@pytest.mark.skipif(not (dist.is_nccl_available() and torch.cuda.device_count() >= 2),
                    reason="NCCL needs two CUDA devices (one per rank)")
def test_nccl_on_two_gpus():
    # The same code on the GPU: the collectives on the centres' device, the checks'
    # all_gather on the current CUDA device. Catches: a tensor of a collective left on
    # the CPU (NCCL refuses it) or a GPU-specific difference in the result.
    X, C0 = blobs(50, seed=10)
    gpus = Pool(2, backend="nccl")
    try:
        outcomes = gpus.run(job_on_gpu, [("kmeans", shard, C0, 8) for shard in shards_of(X, SHARDS["uneven"])])
        assert_one_process_result(outcomes, krbf.kmeans(X, C0, 8), X)
        outcomes = gpus.run(job_on_gpu, [("anneal", shard, C0, ANNEAL, "softmax") for shard in shards_of(X, (50, 0))])
        assert_one_process_result(outcomes, krbf.anneal(X, C0, ANNEAL, "softmax"), name="trajectory")
    finally:
        gpus.close()


# --- one process: the documented fallback (no process group initialised) ------------------------


def test_one_process_is_kmeans_rbf_torch():
    # Without a process group the functions are kmeans_rbf.torch's, bit for bit, and keep
    # the dtype. Catches: a fallback that drops a step, or returns the working dtype.
    X, C = blobs(60, seed=9)
    assert torch.equal(distributed.lloyd_step(X, C), krbf.lloyd_step(X, C))
    assert torch.equal(distributed.soft_step(X, C, 0.5, "entmax15"), krbf.soft_step(X, C, 0.5, "entmax15"))
    assert torch.equal(distributed.kmeans(X, C, 5), krbf.kmeans(X, C, 5))
    assert torch.equal(distributed.anneal(X, C, [2.0, 0.2], "softmax", 2), krbf.anneal(X, C, [2.0, 0.2], "softmax", 2))
    half = distributed.kmeans(X.half(), C.half(), 3)
    assert half.dtype == torch.float16 and torch.equal(half, krbf.kmeans(X.half(), C.half(), 3))
    layer = distributed.RBFClustering(K, D, temperature=1.0, kind="softmax", centres=C)
    plain = nn.RBFClustering(K, D, temperature=1.0, kind="softmax", centres=C)
    assert torch.equal(layer(X).loss, plain(X).loss)
    assert torch.equal(out_of_core.kmeans(X, C, 5, progress=False), krbf.kmeans(X, C, 5))


def test_world_size_without_a_process_group_raises(monkeypatch):
    # Catches: a silent one-process fit where torchrun started several processes.
    monkeypatch.setenv("WORLD_SIZE", "2")
    X, C = blobs(10)
    with pytest.raises(RuntimeError, match="torch.distributed is not initialised but WORLD_SIZE=2"):
        distributed.kmeans(X, C, 1)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda X, C: distributed.kmeans(X.numpy(), C, 1), TypeError, "X must be a torch.Tensor"),
        (lambda X, C: distributed.kmeans(X, C, -1), ValueError, "n_iter must be >= 0"),
        (lambda X, C: distributed.kmeans(X, C, 1, group="world"), TypeError, "group must be a torch.distributed"),
        (lambda X, C: distributed.kmeans(X, C, 1, budget=0), ValueError, "budget must be >= 1"),
        (lambda X, C: distributed.kmeans(X, C, 1, progress="yes"), TypeError, "progress must be"),
        (lambda X, C: distributed.lloyd_step(X[:0], C), ValueError, "X is empty"),
        (lambda X, C: distributed.soft_step(X, C, None, "softmax"), ValueError, "temperature is required"),
        (lambda X, C: distributed.anneal(X, C, [1.0], "hard"), ValueError, "kind must be one of 'softmax', 'entmax15'"),
        (lambda X, C: distributed.lloyd_step(X, C[:, :1]), ValueError, "same number of features"),
        (lambda X, C: distributed.global_mean(torch.ones(2), 2), TypeError, "local_mean must be a 0-d tensor"),
        (lambda X, C: distributed.RBFClustering(K, D, temperature=1.0)(X[:0].float()), ValueError, "X is empty"),
    ],
)
def test_bad_arguments_in_one_process(call, error, match):
    # Catches: an argument the distributed functions forget to check (the torch module's
    # messages, naming the argument).
    X, C = blobs(10)
    with pytest.raises(error, match=match):
        call(X, C)
