"""A zoo of implementations for testing the oracle itself.

``BROKEN``: realistic bugs, each with the oracle checks that must fail on it.
``DIFFERENT``: correct implementations that differ legitimately from the reference (tie
breaking, empty-cluster relocation, float32 arithmetic); every check must pass on them.
Each is a class whose instances follow the oracle's adapter protocol.
"""

import time

import numpy as np

from kmeans_rbf import reference as R


class Correct:
    """The reference, method by method: the base every zoo entry changes one thing of."""

    dtype = np.float64

    def assign(self, X, C):
        return R.assign(X, C)

    def lloyd_step(self, X, C):
        return R.lloyd_step(X, C)

    def kmeans(self, X, C0, n_iter):
        C = np.asarray(C0, dtype=np.float64)
        for _ in range(n_iter):
            C = self.lloyd_step(X, C)
        return C

    def responsibilities(self, X, C, temperature, kind):
        return R.responsibilities(X, C, temperature, kind)

    def entmax15(self, Z):
        return R.entmax15(Z)

    def objective(self, X, C, temperature, kind):
        return R.objective(X, C, temperature, kind)

    def gradient(self, X, C, temperature, kind):
        return R.gradient(X, C, temperature, kind)


def _d(X, C):
    return R.squared_distances(X, C)


def _means_with_nan(X, labels, K):
    with np.errstate(invalid="ignore"):  # the bug itself: 0/0 for an empty cluster
        return np.stack([X[labels == k].sum(axis=0) / np.sum(labels == k) for k in range(K)])


# --- broken: each class is one bug --------------------------------------------------------


class FarthestCentre(Correct):
    """argmax for argmin."""

    def assign(self, X, C):
        return np.argmax(_d(X, C), axis=1)


class OneBasedLabels(Correct):
    """Labels 1..K, as in MATLAB."""

    def assign(self, X, C):
        return R.assign(X, C) + 1


class FirstFeatureOnly(Correct):
    """Distances over the first feature only (a slicing bug)."""

    def assign(self, X, C):
        return R.assign(np.asarray(X)[:, :1], np.asarray(C)[:, :1])

    def lloyd_step(self, X, C):
        labels = self.assign(X, C)
        return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])


class EmptyClusterNaN(Correct):
    """The mean of an empty cluster: 0/0."""

    def lloyd_step(self, X, C):
        return _means_with_nan(X, R.assign(X, C), len(C))


class EmptyClusterToOrigin(Correct):
    """An empty cluster's centre reset to zeros (seen in real libraries)."""

    def lloyd_step(self, X, C):
        labels = R.assign(X, C)
        return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else np.zeros(X.shape[1]) for k in range(len(C))])


class SumsNotMeans(Correct):
    """Cluster sums instead of means."""

    def lloyd_step(self, X, C):
        labels = R.assign(X, C)
        return np.stack([X[labels == k].sum(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])


class OneIterationTooMany(Correct):
    """range(n_iter + 1)."""

    def kmeans(self, X, C0, n_iter):
        return super().kmeans(X, C0, n_iter + 1)


class LooseEarlyStop(Correct):
    """Stops once no centre moves by more than 0.5 (a tolerance in absolute units)."""

    def kmeans(self, X, C0, n_iter):
        C = np.asarray(C0, dtype=np.float64)
        for _ in range(n_iter):
            new = self.lloyd_step(X, C)
            if np.max(np.abs(new - C)) < 0.5:
                return C
            C = new
        return C


class NoMaxShift(Correct):
    """softmax as exp(z) / sum exp(z) without subtracting the row maximum: 0/0 at low T."""

    def responsibilities(self, X, C, temperature, kind):
        if kind != "softmax":
            return super().responsibilities(X, C, temperature, kind)
        with np.errstate(under="ignore", invalid="ignore", over="ignore"):  # the bug's NaN
            E = np.exp(-_d(X, C) / temperature)
            return E / E.sum(axis=1, keepdims=True)


class InverseTemperature(Correct):
    """exp(-d * T): the temperature used as a precision."""

    def responsibilities(self, X, C, temperature, kind):
        return R.softmax(-_d(X, C) * temperature) if kind == "softmax" else R.entmax15(-_d(X, C) * temperature)


class UnsquaredDistances(Correct):
    """Logits -||x - c|| / T: the distance, not its square."""

    def responsibilities(self, X, C, temperature, kind):
        z = -np.sqrt(_d(X, C)) / temperature
        return R.softmax(z) if kind == "softmax" else R.entmax15(z)


class SparsemaxForEntmax(Correct):
    """sparsemax in place of 1.5-entmax."""

    def entmax15(self, Z):
        return R.sparsemax(Z)

    def responsibilities(self, X, C, temperature, kind):
        if kind == "entmax15":
            return R.sparsemax(-_d(X, C) / temperature)
        return super().responsibilities(X, C, temperature, kind)


class BisectionEntmax(Correct):
    """1.5-entmax by 8 steps of bisection on tau, a plausible shortcut."""

    def entmax15(self, Z):
        Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
        u = (Z - Z.max(axis=-1, keepdims=True)) / 2
        low, high = np.full(len(Z), -1.0), np.zeros(len(Z))
        for _ in range(8):
            tau = (low + high) / 2
            mass = np.sum(np.maximum(u - tau[:, None], 0) ** 2, axis=-1)
            low, high = np.where(mass > 1, tau, low), np.where(mass > 1, high, tau)
        p = np.maximum(u - ((low + high) / 2)[:, None], 0) ** 2
        return p


class EntmaxNaNOnMinusInf(Correct):
    """Shifts by the row mean, which is -inf when an entry is -inf."""

    def entmax15(self, Z):
        Z = np.asarray(Z, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # the bug: -inf - (-inf)
            shifted = Z - Z.mean(axis=-1, keepdims=True)
        return R._entmax15(shifted)


class SummedObjective(Correct):
    """sum over points instead of the mean."""

    def objective(self, X, C, temperature, kind):
        return len(X) * R.objective(X, C, temperature, kind)


class FreeEnergyForObjective(Correct):
    """F_T returned where L_T is asked (they agree only at T -> 0)."""

    def objective(self, X, C, temperature, kind):
        return R.free_energy(X, C, temperature, kind if kind != "hard" else "hard")


class FrozenResponsibilities(Correct):
    """The gradient at frozen r: the term through the responsibilities is missing."""

    def gradient(self, X, C, temperature, kind):
        return R.free_energy_gradient(X, C, temperature, kind)


class MissingFactorTwo(Correct):
    """d||x - c||^2 / dc taken as (c - x)."""

    def gradient(self, X, C, temperature, kind):
        return R.gradient(X, C, temperature, kind) / 2


class SilentFloat32(Correct):
    """Declares float64 but computes the gradient in float32."""

    def gradient(self, X, C, temperature, kind):
        X32, C32 = np.asarray(X, dtype=np.float32), np.asarray(C, dtype=np.float32)
        return R.gradient(X32.astype(np.float64), C32.astype(np.float64), temperature, kind).astype(np.float32)


class CrashesOnOneCentre(Correct):
    """np.partition(d, 1) needs at least two centres."""

    def assign(self, X, C):
        d = _d(X, C)
        np.partition(d, 1, axis=1)
        return R.assign(X, C)


class HangsOnEmptyCluster(Correct):
    """Retries until no cluster is empty: forever, if one stays empty."""

    def lloyd_step(self, X, C):
        while len(np.unique(R.assign(X, C))) < len(C):
            time.sleep(0.01)
        return R.lloyd_step(X, C)


# name -> (class, the checks that must fail)
BROKEN = {
    "farthest-centre": (FarthestCentre, {"assign.nearest"}),
    "one-based-labels": (OneBasedLabels, {"assign.nearest"}),
    "first-feature-only": (FirstFeatureOnly, {"assign.nearest", "lloyd_step.reference"}),
    "empty-cluster-nan": (EmptyClusterNaN, {"lloyd_step.empty-cluster"}),
    "empty-cluster-to-origin": (EmptyClusterToOrigin, {"lloyd_step.empty-cluster"}),
    "sums-not-means": (SumsNotMeans, {"lloyd_step.reference"}),
    "one-iteration-too-many": (OneIterationTooMany, {"kmeans.reference"}),
    "loose-early-stop": (LooseEarlyStop, {"kmeans.reference"}),
    "no-max-shift": (NoMaxShift, {"responsibilities.extreme-temperature"}),
    "inverse-temperature": (InverseTemperature, {"responsibilities.reference"}),
    "unsquared-distances": (UnsquaredDistances, {"responsibilities.reference"}),
    "sparsemax-for-entmax": (SparsemaxForEntmax, {"entmax15.reference", "responsibilities.reference"}),
    "bisection-entmax": (BisectionEntmax, {"entmax15.reference"}),
    "entmax-nan-on-minus-inf": (EntmaxNaNOnMinusInf, {"entmax15.adversarial"}),
    "summed-objective": (SummedObjective, {"objective.reference"}),
    "free-energy-for-objective": (FreeEnergyForObjective, {"objective.reference"}),
    "frozen-responsibilities": (FrozenResponsibilities, {"gradient.reference"}),
    "missing-factor-two": (MissingFactorTwo, {"gradient.reference"}),
    "silent-float32": (SilentFloat32, {"gradient.reference"}),
    "crashes-on-one-centre": (CrashesOnOneCentre, {"assign.nearest"}),
}


# --- correct but different ------------------------------------------------------------------


class HighestIndexTies(Correct):
    """Ties go to the highest index (argmin on the reversed centres)."""

    def assign(self, X, C):
        d = _d(X, C)
        return d.shape[1] - 1 - np.argmin(d[:, ::-1], axis=1)

    def lloyd_step(self, X, C):
        labels = self.assign(X, C)
        return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])


class RelocateToFarthestPoint(Correct):
    """An empty cluster takes the point farthest from its own centre (as in scikit-learn)."""

    def lloyd_step(self, X, C):
        X = np.asarray(X, dtype=np.float64)
        labels = R.assign(X, C)
        d = _d(X, C)
        own = d[np.arange(len(X)), labels]
        means = []
        for k in range(len(C)):
            if np.any(labels == k):
                means.append(X[labels == k].mean(axis=0))
            else:
                means.append(X[np.argmax(own)])
        return np.stack(means)


class Float32Arithmetic(Correct):
    """Everything computed in float32 (and declared so)."""

    dtype = np.float32

    def _f32(self, function, *arrays_then_rest):
        return function(*arrays_then_rest)

    def assign(self, X, C):
        X, C = np.asarray(X, np.float32), np.asarray(C, np.float32)
        d = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1)

    def lloyd_step(self, X, C):
        X, C = np.asarray(X, np.float32), np.asarray(C, np.float32)
        labels = self.assign(X, C)
        return np.stack([X[labels == k].mean(axis=0) if np.any(labels == k) else C[k] for k in range(len(C))])

    def kmeans(self, X, C0, n_iter):
        C = np.asarray(C0, np.float32)
        for _ in range(n_iter):
            C = self.lloyd_step(X, C)
        return C


DIFFERENT = {
    "highest-index-ties": HighestIndexTies,
    "relocate-to-farthest-point": RelocateToFarthestPoint,
    "float32-arithmetic": Float32Arithmetic,
}
