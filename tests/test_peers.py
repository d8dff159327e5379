"""The peer libraries, through their built-in adapters: what docs/findings.md records.

The record is, per adapter, the checks that fail and the checks that refuse at the default
depth of ``kmeans-rbf verify`` (every other check passes or is not provided); a change in
any of them (a library fixed, a new defect, a check that got stricter or looser) fails here
and must be looked at and written down. The record holds for the library versions named in
docs/findings.md.
"""

import importlib.metadata

import pytest

from kmeans_rbf.oracle import adapters
from kmeans_rbf.oracle.runner import verify

# scikit-learn (S2 in docs/findings.md): N >= K and max_iter >= 1 for KMeans, N >= 2 for
# GaussianMixture, refused with a ValueError; S1: a cell emptied by the relocation of an
# empty cluster gets a centre outside the data (caught where the search reaches it).
_SKLEARN_KMEANS = {
    "lloyd_step.reference": "refused",
    "lloyd_step.empty-cluster": "refused",
    "lloyd_step.more-centres-than-points": "failed",  # S1
    "kmeans.reference": "failed",  # S1
    "kmeans.zero-iterations": "refused",
    "kmeans_fit.labels-and-inertia": "failed",  # S1
    "scale.lloyd_step": "failed",  # S1 on square-64 (32 empty cells)
    "scale.kmeans": "refused",
    "scale.kmeans_fit": "refused",
    "scale.soft_step": "refused",
}
# fast-pytorch-kmeans: empty clusters move to the origin (FP1), fit_predict's labels are
# those before the last update (FP2), distances by the expansion (FP3, near-ties at 1e6).
_FAST_PYTORCH_KMEANS = {
    "lloyd_step.reference": "failed",
    "lloyd_step.empty-cluster": "failed",
    "lloyd_step.more-centres-than-points": "failed",
    "kmeans_fit.labels-and-inertia": "failed",
    "scale.assign": "failed",
    "scale.lloyd_step": "failed",
}

# adapter -> (distribution, version the record is for, {check: "failed" | "refused"} at ci depth)
RECORD = {
    "reference": ("kmeans-rbf", None, {}),
    "torch": ("torch", None, {}),
    "sklearn": ("scikit-learn", "1.9.1", {
        **_SKLEARN_KMEANS,
        "soft_step.extreme-temperature": "refused",  # GaussianMixture needs N >= 2
        "responsibilities.extreme-temperature": "failed",  # S3: the GMM's log-normaliser rounding
        "soft_step.reference": "failed",  # S10: the M-step's n_k + 10 eps
        "scale.assign": "failed",  # S5: pairwise_distances_argmin by the expansion
        "scale.responsibilities": "failed",  # S4: the GMM's expansion far from the origin
        "scale.objective": "failed",  # S5: KMeans.score labels by the expansion
    }),
    "sklearn-float32": ("scikit-learn", "1.9.1", {
        **_SKLEARN_KMEANS,
        "responsibilities.extreme-temperature": "failed",  # S3
        "soft_step.reference": "failed",  # S10
        "soft_step.extreme-temperature": "refused",  # GaussianMixture needs N >= 2
        "scale.soft_step": "failed",  # S11: the float32 M-step breaks down at offsets
        "scale.responsibilities": "failed",  # S4
        "scale.objective": "failed",  # S5
    }),
    "scipy": ("scipy", "1.17.1", {
        "kmeans.zero-iterations": "refused",  # P1: kmeans2 requires iter >= 1
        "kmeans_fit.labels-and-inertia": "failed",  # P3: labels from before the last update
        "scale.objective": "failed",  # P4: vq's distances by the expansion from D = 5
    }),
    # F3: N < K raises a RuntimeError (not a refusal class); F1: N = K ignores C0 and
    # niter; F2: an empty cluster is refilled by splitting a non-empty one.
    "faiss": ("faiss-cpu", "1.15.1", {
        "lloyd_step.reference": "failed",
        "lloyd_step.empty-cluster": "failed",
        "lloyd_step.more-centres-than-points": "failed",
        "kmeans.reference": "failed",
        "kmeans.zero-iterations": "failed",
        "kmeans_fit.labels-and-inertia": "failed",
        "scale.lloyd_step": "failed",
        "scale.kmeans": "failed",
        "scale.kmeans_fit": "failed",
    }),
    "entmax": ("entmax", "1.3", {}),
    "entmax-float16": ("entmax", "1.3", {}),
    "fast-pytorch-kmeans": ("fast-pytorch-kmeans", "0.2.2", _FAST_PYTORCH_KMEANS),
    # FP1 also in a run; FP5: in float16, 2 x.c overflows for |x| above about 181.
    "fast-pytorch-kmeans-float16": ("fast-pytorch-kmeans", "0.2.2", {**_FAST_PYTORCH_KMEANS, "kmeans.reference": "failed"}),
    # KP1: crashes on N = 1 or K = 1.
    "kmeans-pytorch": ("kmeans-pytorch", "0.3", {"assign.nearest": "failed", "scale.assign": "failed"}),
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
    distribution, version, recorded = RECORD[name]
    if version is not None:
        installed = importlib.metadata.version(distribution)
        assert installed == version, (
            f"docs/findings.md records {distribution} {version}; {installed} is installed: "
            "re-run kmeans-rbf verify and update the findings and this record"
        )
    report = verify(name)
    seen = {result.id: result.status for result in report.checks if result.status in ("failed", "refused")}
    changed = {check for check in seen.keys() | recorded.keys() if seen.get(check) != recorded.get(check)}
    assert not changed, {r.id: (r.status, recorded.get(r.id, "passed or not provided"), r.message)
                         for r in report.checks if r.id in changed}
