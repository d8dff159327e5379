"""Benchmark of kmeans_rbf.torch against peers timed in the same run: ratios, not seconds.

The machine is shared and has two cores, so every figure is a ratio to a peer measured
in the same run, interleaved with it round by round, and the table reports the median
(and the spread) of the per-round ratios; absolute times are given for orientation only.

Sections (``--sections``, default all but ``scaling``):

* ``steps``: one ``lloyd_step`` and one ``soft_step`` (softmax, entmax15) against one
  scikit-learn Lloyd iteration, N = 200,000, K = 64, D = 32, float32, two threads.
  scikit-learn's per-iteration time is its marginal time, ``(t(k + m) - t(k)) / m``
  with ``max_iter = k`` and ``k + m``, ``tol = 0`` and the same initial centres, so its
  set-up and validation are not counted (ours are).
* ``float64``: the same in float64.
* ``entmax``: ``entmax15`` forward and backward (the gradient of ``<p, w>`` for a fixed
  random w, through the map only) on a (200000, 64) float32 matrix against the entmax
  package, and the largest difference between the two.
* ``memory``: the memory one soft step allocates beyond the data at N = 2,000,000,
  K = 256, D = 32, float32 (the (N, K) matrix alone would be 2 GiB), from torch's
  profiler (peak of the live allocations) and from the peak resident set size.
* ``scaling`` (minutes): time of one soft step over N (1e4 to 1e7 points read from a
  memory-mapped ``.npy``), K (8 to 1024) and D (2 to 1024), in ns per N K D.

The steps use the fused CPU kernels (``kmeans_rbf.fused``, built before the timing); the
same steps with the eager kernels (``fused.use_fused(False)``) are timed too, to show what
the fusion buys. ``--compile`` also times the steps with the chunk kernels compiled
(``torch.compile``, ``kmeans_rbf.streaming.use_compile``, which takes precedence over the
fused kernels), after a warm-up call that compiles them.

Run ``python benchmarks/run.py`` (``--help`` for the options); it prints the command
that reproduces it. The figures recorded in benchmarks/README.md come from it;
``--json benchmarks/results.json`` also writes every printed row as a record, which
``kmeans-rbf report`` shows.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

from kmeans_rbf import fused, streaming
from kmeans_rbf import torch as krbf

SECTIONS = ("steps", "float64", "entmax", "memory", "scaling")

RECORDS = []  # every printed row, for --json


def record(section, name, **figures):
    RECORDS.append({"section": section, "name": name, **{k: float(v) if isinstance(v, np.floating) else v
                                                         for k, v in figures.items()}})


# --- data ----------------------------------------------------------------------------


def blobs(n, k, d, dtype, seed=0):
    """Gaussian blobs (k centres in [-10, 10]^d, standard deviation 2) and k data points as
    initial centres: a clustering problem with structure, like the ones k-means is for."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10, 10, size=(k, d))
    X = means[rng.integers(0, k, size=n)] + 2.0 * rng.standard_normal((n, d))
    C0 = X[rng.choice(n, k, replace=False)]
    return X.astype(dtype), C0.astype(dtype)


def temperature_for(X, C0):
    """T = the median gap between the two smallest distances of 10,000 points: half the
    points are within one temperature of a tie, so the soft maps are genuinely soft."""
    d = krbf.squared_distances(torch.from_numpy(X[:10000]), torch.from_numpy(C0))
    two = torch.topk(d, 2, dim=1, largest=False).values
    return float(torch.median(two[:, 1] - two[:, 0]))


# --- timing ----------------------------------------------------------------------------


def best_of(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def sklearn_iteration(X, C0, threads, k=3, m=5):
    """scikit-learn's marginal time of one Lloyd iteration (module doc)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    def fit(iterations):
        start = time.perf_counter()
        KMeans(len(C0), init=C0, n_init=1, max_iter=iterations, tol=0, algorithm="lloyd").fit(X)
        return time.perf_counter() - start

    with threadpool_limits(threads):
        return (fit(k + m) - fit(k)) / m


def interleaved(peer, candidates, rounds, repeats):
    """Per round: the peer, then each candidate (best of ``repeats``). Ratios per round."""
    ratios = {name: [] for name in candidates}
    times = {name: [] for name in candidates}
    peers = []
    for _ in range(rounds):
        reference = peer()
        peers.append(reference)
        for name, function in candidates.items():
            elapsed = best_of(function, repeats)
            times[name].append(elapsed)
            ratios[name].append(elapsed / reference)
    return peers, times, ratios


def summary(values):
    values = np.asarray(values)
    return np.median(values), np.quantile(values, 0.25), np.quantile(values, 0.75)


def print_rows(section, peer_name, peers, times, ratios, targets=None):
    peer_median = np.median(peers)
    print(f"  {peer_name}: median {1e3 * peer_median:.1f} ms")
    print(f"  {'':28} {'median ms':>10} {'ratio':>7} {'(quartiles)':>16} {'target':>8}")
    for name in times:
        median, low, high = summary(ratios[name])
        target = "" if targets is None or name not in targets else f"<= {targets[name]:.1f}"
        print(f"  {name:28} {1e3 * np.median(times[name]):10.1f} {median:7.2f} {f'({low:.2f}, {high:.2f})':>16} {target:>8}")
        record(section, name, peer=peer_name, peer_ms=1e3 * peer_median, median_ms=1e3 * np.median(times[name]),
               ratio=median, ratio_quartiles=[float(low), float(high)],
               target=None if targets is None or name not in targets else f"<= {targets[name]}")


# --- sections --------------------------------------------------------------------------


def under(setting, value, function):
    """``function`` run with ``setting(value)`` in force (``fused.use_fused``,
    ``streaming.use_compile``: each returns the previous value)."""

    def call():
        previous = setting(value)
        try:
            function()
        finally:
            setting(previous)

    return call


def steps_section(dtype, rounds, compile_too, label):
    torch.set_num_threads(2)
    N, K, D = 200_000, 64, 32
    X, C0 = blobs(N, K, D, dtype)
    T = temperature_for(X, C0)
    Xt, Ct = torch.from_numpy(X), torch.from_numpy(C0)
    print(f"\n[{label}] N = {N}, K = {K}, D = {D}, {np.dtype(dtype).name}, 2 threads, T = {T:.4g}")
    candidates = {
        "lloyd_step": lambda: krbf.lloyd_step(Xt, Ct),
        "soft_step softmax": lambda: krbf.soft_step(Xt, Ct, T, "softmax"),
        "soft_step entmax15": lambda: krbf.soft_step(Xt, Ct, T, "entmax15"),
    }
    for function in candidates.values():
        function()
    targets = {"lloyd_step": 1.0, "soft_step softmax": 2.0, "soft_step entmax15": 3.0}
    if fused.enabled():  # what the fused kernels buy: the same steps with the eager ones
        for name in targets:
            candidates[f"{name} (eager kernels)"] = under(fused.use_fused, False, candidates[name])
    else:
        print("  (the fused kernels could not be built: the steps use the eager kernels)")
    if compile_too:
        previous = streaming.use_compile(True)
        start = time.perf_counter()
        for name in list(targets):
            candidates[name]()
        print(f"  compilation (first calls): {time.perf_counter() - start:.0f} s")
        streaming.use_compile(previous)
        for name in list(targets):
            candidates[f"{name} (compiled)"] = under(streaming.use_compile, True, candidates[name])
            targets[f"{name} (compiled)"] = targets[name]
    peers, times, ratios = interleaved(lambda: sklearn_iteration(X, C0, 2), candidates, rounds, 3)
    print_rows(label, "scikit-learn Lloyd iteration (marginal)", peers, times, ratios, targets)
    with torch.no_grad():  # what the certified repair cost: the share of re-decided points
        dist = krbf._distances(Xt[:20000], Ct)
    print(f"  points re-decided exactly (nearest centre, first 20,000): {dist.rows.numel() / 200:.2f} %")
    record(label, "points re-decided exactly", percent=dist.rows.numel() / 200)


def entmax_section(rounds):
    import entmax

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    Z = torch.from_numpy((rng.standard_normal((200_000, 64)) * 2).astype(np.float32))
    weights = torch.from_numpy(rng.standard_normal((200_000, 64)).astype(np.float32))

    def forward_backward(function):
        # The map and its backward only: the gradient of <p, weights> through the map.
        def call():
            z = Z.detach().requires_grad_(True)
            p = function(z)
            (grad,) = torch.autograd.grad(p, z, weights)
            return p.detach(), grad
        return call

    ours = forward_backward(krbf.entmax15)
    peer = forward_backward(lambda z: entmax.entmax15(z, dim=-1))
    p_ours, g_ours = ours()
    p_peer, g_peer = peer()
    print("\n[entmax15] (200000, 64) float32, forward + backward, 2 threads")
    peers, times, ratios = interleaved(lambda: best_of(peer, 1), {"kmeans_rbf.torch.entmax15": ours}, rounds, 2)
    print_rows("entmax", "entmax package entmax15", peers, times, ratios)
    speedup = 1 / np.asarray(ratios["kmeans_rbf.torch.entmax15"])
    print(f"  speed-up over the entmax package: median {np.median(speedup):.1f}x (target >= 5x, stretch 10x)")
    print(f"  max |p - p_entmax| = {float((p_ours - p_peer).abs().max()):.2e}, "
          f"max |grad - grad_entmax| = {float((g_ours - g_peer).abs().max()):.2e} "
          f"(float32 unit roundoff {2.0**-24:.1e})")
    record("entmax", "speed-up over the entmax package", median=np.median(speedup), target=">= 5",
           max_p_difference=float((p_ours - p_peer).abs().max()), max_grad_difference=float((g_ours - g_peer).abs().max()))


def resident(field):
    """VmRSS or VmHWM (the peak since the last reset) of this process, bytes (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def rss_growth(function):
    """How far the resident set size rose above its level before ``function`` (Linux)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak (VmHWM) to the current size
    before = resident("VmRSS")
    function()
    return resident("VmHWM") - before


def profiled_peak(function):
    """Peak of the bytes allocated and not yet freed while ``function`` runs (torch profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        function()
    changes = sorted(
        (event.time_range.start, event.self_cpu_memory_usage) for event in prof.events() if event.self_cpu_memory_usage
    )
    live = peak = 0
    for _, change in changes:
        live += change
        peak = max(peak, live)
    return peak


def memory_section():
    torch.set_num_threads(2)
    N, K, D = 2_000_000, 256, 32
    X, C0 = blobs(N, K, D, np.float32)
    Xt, Ct = torch.from_numpy(X), torch.from_numpy(C0)
    T = temperature_for(X, C0)
    print(f"\n[memory] one soft step, N = {N}, K = {K}, D = {D}, float32 (data {X.nbytes / 2**20:.0f} MiB; "
          f"the (N, K) matrix would be {N * K * 4 / 2**30:.0f} GiB)")
    step = {kind: (lambda kind=kind: krbf.soft_step(Xt, Ct, T, kind)) for kind in ("softmax", "entmax15")}
    for kind in step:
        # The profiler sees the calling thread's allocations only: the chunks run there
        # (no worker threads; with workers each has budget / workers of the same buffers).
        streaming.release_workspace()
        enabled = krbf._WORKERS["enabled"]
        krbf._WORKERS["enabled"] = False
        try:
            peak = profiled_peak(step[kind])
        finally:
            krbf._WORKERS["enabled"] = enabled
        streaming.release_workspace()
        rss = rss_growth(step[kind])  # with the worker threads
        print(f"  {kind:9} allocated at most {peak / 2**20:6.1f} MiB (profiler, one thread); resident set "
              f"grew by at most {rss / 2**20:6.1f} MiB (two workers) (target < 256 MiB)")
        record("memory", f"soft_step {kind}", profiler_peak_mib=peak / 2**20, resident_growth_mib=rss / 2**20,
               target="< 256 MiB")


def scaling_section(data_dir, rounds):
    torch.set_num_threads(2)
    print("\n[scaling] one softmax soft step, float32, 2 threads: time / (N K D) should be flat")
    print(f"  {'N':>10} {'K':>6} {'D':>6} {'ms':>10} {'ns per N K D':>14}")
    base_n, base_k, base_d = 100_000, 64, 32
    grid = [(n, base_k, base_d) for n in (10_000, 100_000, 1_000_000, 10_000_000)]
    grid += [(base_n, k, base_d) for k in (8, 64, 256, 1024)]
    grid += [(base_n, base_k, d) for d in (2, 32, 256, 1024)]
    with tempfile.TemporaryDirectory(dir=data_dir) as directory:
        for n, k, d in grid:
            path = os.path.join(directory, f"X_{n}_{d}.npy")
            if not os.path.exists(path):
                mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
                rng = np.random.default_rng(0)
                for start in range(0, n, 1_000_000):
                    stop = min(n, start + 1_000_000)
                    mapped[start:stop] = rng.standard_normal((stop - start, d), dtype=np.float32)
                mapped.flush()
                del mapped
            X = torch.from_numpy(np.load(path, mmap_mode="r"))
            C = X[:k].clone()
            krbf.soft_step(X, C, 1.0, "softmax")
            elapsed = min(best_of(lambda: krbf.soft_step(X, C, 1.0, "softmax"), 1) for _ in range(rounds))
            print(f"  {n:10d} {k:6d} {d:6d} {1e3 * elapsed:10.1f} {1e9 * elapsed / (n * k * d):14.3f}")
            record("scaling", f"N={n} K={k} D={d}", ms=1e3 * elapsed, ns_per_nkd=1e9 * elapsed / (n * k * d))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=["steps", "float64", "entmax", "memory"])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per comparison")
    parser.add_argument("--compile", action="store_true", help="also time the compiled chunk kernels")
    parser.add_argument("--data-dir", default=None, help="where the scaling section writes its .npy files")
    parser.add_argument("--json", default=None, help="also write the rows as records to this file")
    args = parser.parse_args(argv)
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    machine = f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    print("command: " + command)
    print(machine)
    if "steps" in args.sections:
        steps_section(np.float32, args.rounds, args.compile, "steps")
    if "float64" in args.sections:
        steps_section(np.float64, args.rounds, False, "float64")
    if "entmax" in args.sections:
        entmax_section(args.rounds)
    if "memory" in args.sections:
        memory_section()
    if "scaling" in args.sections:
        scaling_section(args.data_dir, max(1, args.rounds // 5))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"command": command, "machine": machine, "records": RECORDS}, out, indent=1)


if __name__ == "__main__":
    main()
