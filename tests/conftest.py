"""Shared fixtures: Hypothesis profiles and the backends under test.

Profiles (choose with ``pytest --hypothesis-profile NAME``):

* ``ci`` (default): derandomised, so every run tries the same examples and a failure
  reproduces by re-running the same command; few examples, fast.
* ``thorough``: randomised and many examples, for a search before a release.

A failing example is printed with a ``@reproduce_failure`` blob to paste above the test.
Derandomised is not history-free: Hypothesis mixes constants from the source of every
loaded local module into what it generates, so a subset of the tests (``-k``) may draw
other examples than the full run; the full run is the same every time, and the blob
reproduces an example anywhere.
"""

import types

import pytest
import torch
from hypothesis import HealthCheck, settings

from kmeans_rbf import probabilistic, reference, torch_probabilistic
from kmeans_rbf import torch as krbf_torch
from kmeans_rbf.backends import NumpyCalls

# The tests use tiny tensors, for which waking torch's intra-op threads costs more than
# the arithmetic (measured: 0.7 ms per entmax15 responsibilities call with one thread,
# 32-48 ms with two on a busy two-core machine).
torch.set_num_threads(1)

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile("ci")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TORCH_DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


def _functions(*modules):
    """The public functions of several modules as one namespace (base package and mixture)."""
    return types.SimpleNamespace(**{f: getattr(m, f) for m in modules for f in m.__all__})


# Every implementation in float64, called with NumPy arrays and returning NumPy: the
# reference, and torch on each device. Each has the base package's functions and the
# mixture's (kmeans_rbf.probabilistic / torch_probabilistic).
BACKENDS = [NumpyCalls(_functions(reference, probabilistic), name="reference")] + [
    NumpyCalls(_functions(krbf_torch, torch_probabilistic), torch.float64, device, name=f"torch-{device}")
    for device in DEVICES
]


@pytest.fixture(scope="session", params=BACKENDS, ids=repr)
def implementation(request):
    """Every correct implementation in float64: the reference and torch on each device.

    A claim test takes this fixture; its bite test calls the same test with a broken
    variant in its place (``support.assert_bites``).
    """
    return request.param



@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """Every notebook of notebooks/, executed once per session into a temporary directory.

    A namespace with ``output``, the directory of the figures, the manifest and the logs, and
    ``runs``, ``{name: kmeans_rbf.notebooks.Execution}``. ``tests/test_notebooks.py`` checks
    each notebook; ``tests/test_report.py`` builds the report from the same run.
    """
    import pathlib

    from kmeans_rbf import notebooks

    output = tmp_path_factory.mktemp("notebook-output")
    root = pathlib.Path(__file__).resolve().parents[1]
    return types.SimpleNamespace(output=output, runs=notebooks.run_notebooks(output, root))
