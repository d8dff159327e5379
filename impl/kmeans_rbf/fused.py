r"""Fused CPU chunk kernels: a small C++ extension, built on first use, for ``streaming``.

``kmeans_rbf.streaming`` processes the points chunk by chunk. Its eager kernels spend
a few dozen torch ops per chunk, each a full pass over a (rows, K) matrix; the fused
kernels of ``fused.cpp`` do the same work in one pass over tiles of rows held in the
registers (``scores``) or blocks of a few thousand rows that stay in the cache:

``scores``
    for two tiles of L rows at a time (a vector of the machine's width: 16 float32 or 8
    float64 with AVX-512, half that with AVX2, a quarter with SSE), centre them
    (``a_i = x_i - s``, transposed in the registers: a vector of rows per feature), sum
    ``n_i = |a_i|^2``, and for 8 centres at a time (6 without AVX-512) form the products
    ``a_i . (-2 b_k)`` by fused multiply-adds in registers, then the expansion
    ``d^_ik = (a_i . (-2 b_k) + m_k) + n_i`` and a vertical scan for each row's nearest
    centre (the first minimum), runner-up and the near-tie flag
    ``!(d_i(2) > d_i(1) + f n_i + g) || !(n_i < safe)`` with streaming's band
    ``(f, g)``: the same certification as the eager kernels, the flagged rows re-decided
    exactly by the same Python. The soft kinds also keep ``d^`` in a (K, rows) matrix.
    No GEMM call: at K = 64, D = 32 torch's GEMM of a block of rows reaches about half a
    core's FMA peak here, this loop about all of it, and the scan reads the scores
    where the product leaves them (measured single-threaded at N = 200,000: 12.6 ms for
    GEMM and scan before, 5.1 ms for this kernel).
``one_hot``
    ``sums[l_i] += float64(x_i - origin)``, ``masses[l_i] += 1`` in row order: bit for
    bit the eager ``index_add_`` (``tests/test_fused.py``), so that every kind's exactly
    one-hot chunks stay Lloyd's step bit for bit whichever path ran.
``softmax_sums``
    from the whole chunk's transposed scores: the weights ``exp(-(d_ik - d_i(1)) / T)``
    (a vector exp within 2 units in the last place, tested), their normalisers, the
    centres' largest weights (the faint centres' rescaling), masses and the sums
    product, block by block while the block is in the cache.
``entmax15_sums``
    the entmax-1.5 thresholds (Newton steps from the two largest entries' root, then the
    exact solve on the support, checked), weights, masses and sums, a few rows at a time
    in the L1 cache; rows not settled, or with an entry within the support's slack, are
    flagged apart for the reference's own responsibilities.

What it buys (``benchmarks/README.md``, N = 200,000, K = 64, D = 32, float32, two
threads, in scikit-learn Lloyd iterations): the Lloyd step from about 2 to 0.6-0.7, the
softmax step from about 3.5 to 1.6, the entmax15 step from about 7 to 1.9-2.0.

Building. ``torch.utils.cpp_extension.load`` compiles ``fused.cpp`` with the machine's
C++ compiler and ``ninja`` (a dependency) the first time a process needs it (about 25 s
on two cores), into torch's extension cache (``TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``), for this machine's instruction set (``-march=native``;
the build's name carries a digest of the CPU's flags, so a cache shared with another
kind of machine builds again). ``python -m kmeans_rbf.fused`` builds it ahead of time
(CI does, before the tests). Where it cannot be built (no compiler, no ninja, another
platform), ``streaming`` runs its eager kernels, the same results, slower, and a
RuntimeWarning says why once; ``KMEANS_RBF_FUSED=0`` turns the fused kernels off and
``KMEANS_RBF_REQUIRE_FUSED=1`` makes a failed build an error.

Examples
--------
>>> from kmeans_rbf import fused
>>> previous = fused.use_fused(False)   # the eager kernels
>>> fused.enabled()
False
>>> fused.use_fused(previous)
False
"""

import hashlib
import os
import platform
import sys
import threading
import warnings
from pathlib import Path

import torch

__all__ = ["enabled", "use_fused", "kernels", "build"]

_SOURCE = Path(__file__).with_name("fused.cpp")
_FLAGS = ["-O3", "-march=native", "-ffp-contract=off"]

_state = {
    "enabled": os.environ.get("KMEANS_RBF_FUSED", "") != "0",
    "module": None,
    "failure": None,
}
_lock = threading.Lock()


def _machine_digest(flags=tuple(_FLAGS)):
    """A digest of what the build depends on besides the source: the CPU's flags, the
    platform, torch, Python and the compiler's ``flags`` (``-march=native`` code must not
    run on another CPU)."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        pass
    key = "|".join([cpu, platform.machine(), torch.__version__, sys.version, " ".join(flags), _SOURCE.read_text()])
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def build():
    """Build (or load from torch's cache) the extension; raise if it cannot be built.

    Returns the module, whose kernels (``scores``, ``one_hot``, ``softmax_sums``,
    ``entmax15_sums``) the streamed steps call.
    """
    with _lock:
        if _state["module"] is None:
            _state["module"] = _load(_FLAGS)
        return _state["module"]


def _load(flags):
    """The extension compiled with ``flags`` (one build per digest in torch's cache; the
    tests also build it for narrower vectors than this machine's)."""
    from torch.utils import cpp_extension

    return cpp_extension.load(
        name=f"kmeans_rbf_fused_{_machine_digest(flags)}", sources=[str(_SOURCE)], extra_cflags=list(flags), verbose=False
    )


def kernels():
    """The built extension if the fused kernels are enabled and can be built, else None.

    A failed build is reported once (RuntimeWarning) and not retried in this process;
    with ``KMEANS_RBF_REQUIRE_FUSED=1`` it raises instead.
    """
    if not _state["enabled"]:
        return None
    if _state["module"] is not None:
        return _state["module"]
    if _state["failure"] is not None:
        return None
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - any build failure means: eager kernels
        if os.environ.get("KMEANS_RBF_REQUIRE_FUSED", "") not in ("", "0"):
            raise
        _state["failure"] = f"{type(error).__name__}: {error}"
        warnings.warn(
            f"kmeans_rbf: the fused CPU kernels could not be built ({_state['failure'].splitlines()[0]}); "
            "the streamed steps use the eager kernels (same results, slower)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def enabled():
    """Whether the streamed steps use the fused kernels (on the CPU, float32 and float64)."""
    return kernels() is not None


def use_fused(enabled=True):
    """Turn the fused kernels on or off; returns the previous setting.

    Off, the streamed steps run their eager kernels (torch ops on whole chunks): the
    same labels and one-hot sums bit for bit, the same soft results within rounding.
    """
    previous = _state["enabled"]
    _state["enabled"] = bool(enabled)
    return previous


if __name__ == "__main__":
    module = build()
    print(f"kmeans_rbf.fused: built {module.__name__} from {_SOURCE}")
