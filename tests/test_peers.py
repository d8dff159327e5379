"""The peer libraries, through their built-in adapters: what docs/findings.md records.

The matrix of ``kmeans-rbf verify`` at the default depth is the record; a change in any
cell (a library fixed, a new defect, a check that got stricter or looser) fails here and
must be looked at and written down. The record holds for the library versions named in
docs/findings.md.
"""

import importlib.metadata

import pytest

from kmeans_rbf.oracle import adapters
from kmeans_rbf.oracle.runner import verify

# adapter -> (distribution, version the record is for, checks that fail at ci depth)
RECORD = {
    "reference": ("kmeans-rbf", None, set()),
    "torch": ("torch", None, set()),
    # S2 in docs/findings.md: max_iter >= 1 and N >= K are required.
    "sklearn": ("scikit-learn", "1.9.1", {"kmeans.zero-iterations", "lloyd_step.more-centres-than-points"}),
    "sklearn-float32": ("scikit-learn", "1.9.1", {"kmeans.zero-iterations", "lloyd_step.more-centres-than-points"}),
    # kmeans2 requires iter >= 1.
    "scipy": ("scipy", "1.17.1", {"kmeans.zero-iterations"}),
    # Empty clusters are refilled by a perturbed copy of a centre (F2), N = K ignores the
    # initial centres (F1), N < K and niter = 0 raise.
    "faiss": ("faiss-cpu", "1.15.1", {"kmeans.zero-iterations", "lloyd_step.empty-cluster",
                                      "lloyd_step.more-centres-than-points", "lloyd_step.reference"}),
    "entmax": ("entmax", "1.3", set()),
    # Empty clusters move to the origin.
    "fast-pytorch-kmeans": ("fast-pytorch-kmeans", "0.2.2", {"lloyd_step.empty-cluster", "lloyd_step.more-centres-than-points"}),
    # Crashes on N = 1 or K = 1.
    "kmeans-pytorch": ("kmeans-pytorch", "0.3", {"assign.nearest"}),
}


def test_every_built_in_adapter_is_recorded_and_installed():
    # The test extra installs every peer: a missing one is an installation error here,
    # not something to skip.
    assert set(RECORD) == set(adapters.BUILT_IN)
    missing = [name for name in adapters.BUILT_IN if not adapters.installed(name)]
    assert not missing, f"not installed: {missing} (pip install -e '.[test]' brings them)"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECORD))
def test_verify_matrix_matches_the_record(name):
    distribution, version, failing = RECORD[name]
    if version is not None:
        installed = importlib.metadata.version(distribution)
        assert installed == version, (
            f"docs/findings.md records {distribution} {version}; {installed} is installed: "
            "re-run kmeans-rbf verify and update the findings and this record"
        )
    report = verify(name)
    failed = {result.id for result in report.checks if result.status == "failed"}
    assert failed == failing, {r.id: r.message for r in report.checks if r.id in failed ^ failing}
