"""Built-in adapters: each exposes the oracle's protocol for one implementation.

``kmeans-rbf verify NAME`` loads ``kmeans_rbf.oracle.adapters:NAME``. Inputs are NumPy
arrays in the adapter's ``dtype``; outputs may be anything ``numpy.asarray`` accepts.

An adapter exposes exactly what its library offers, translated faithfully: conventions are
translated (and each translation is said in the adapter's docstring), behaviour is not
fixed. Where a library lacks a capability the adapter does not have the method; where it
lacks one *kind* of a capability (scikit-learn has softmax responsibilities but no
1.5-entmax) the adapter declares the kinds it offers in ``kinds`` (per capability), and
the method raises ``NotImplementedError`` for any other kind, saying so. Where a
library refuses an input (``max_iter=0``, fewer points than clusters) its exception is let
through: that is the library's behaviour, for the oracle to see.

Peers and what they need (``docs/findings.md`` records what each gets wrong):

* ``sklearn``, ``sklearn-float32``: scikit-learn (a dependency of the project).
* ``scipy``: SciPy's ``scipy.cluster.vq`` (a dependency).
* ``entmax``: the ``entmax`` package (a dependency).
* ``faiss``: ``pip install faiss-cpu`` (float32 only).
* ``fast-pytorch-kmeans``: ``pip install fast-pytorch-kmeans psutil`` (psutil is imported
  but not declared by fast-pytorch-kmeans 0.2.2).
* ``kmeans-pytorch``: ``pip install kmeans-pytorch tqdm`` (tqdm is imported but not
  declared by kmeans-pytorch 0.3).
"""

import contextlib
import io

import numpy as np

__all__ = ["BUILT_IN", "installed"]


def _squared_distances(X, C):
    """``d_ik = ||x_i - c_k||^2`` by differences (no expansion), in the inputs' dtype."""
    X, C = np.asarray(X), np.asarray(C)
    return np.sum((X[:, None, :] - C[None, :, :]) ** 2, axis=2)


class _Reference:
    """kmeans_rbf.reference, the ground truth (it should pass every check).

    * every capability is the reference's function of that name, except
    * kmeans_fit: ``kmeans`` then ``assign`` on the final centres, and the inertia, the sum of
      the squared distances of the points to them (the reference has no such function).
    """

    name = "kmeans_rbf.reference"
    dtype = np.float64
    kinds = {"responsibilities": ("hard", "softmax", "entmax15"), "soft_step": ("softmax", "entmax15")}

    _FUNCTIONS = ("assign", "lloyd_step", "kmeans", "responsibilities", "soft_step", "entmax15", "sparsemax",
                  "objective", "gradient")

    def __init__(self):
        from .. import reference

        self._use(reference)

    def _use(self, module):
        self._module = module
        for function in self._FUNCTIONS:
            setattr(self, function, getattr(module, function))

    def kmeans_fit(self, X, C0, n_iter):
        C = self.kmeans(X, C0, n_iter)
        d = self._module.squared_distances(X, C)
        labels = self._module.assign(X, C)
        return C, labels, d[np.arange(len(labels)), labels].sum()


class _Torch(_Reference):
    """kmeans_rbf.torch in float64 on the CPU, called with torch tensors (``tensors = True``:
    the oracle sends tensors and requires tensors of the same dtype and device back)."""

    name = "kmeans_rbf.torch"
    tensors = True
    device = "cpu"

    def __init__(self):
        from .. import torch as krbf_torch

        self._use(krbf_torch)

    def kmeans_fit(self, X, C0, n_iter):
        import torch

        C = self.kmeans(X, C0, n_iter)
        labels = self._module.assign(X, C)
        d = self._module.squared_distances(X, C)
        return C, labels, d[torch.arange(len(labels)), labels].sum()


class _SKLearn:
    """scikit-learn: ``KMeans`` (Lloyd), ``pairwise_distances_argmin`` and a
    ``GaussianMixture`` set up as the exact soft k-means model.

    * kmeans: ``KMeans(algorithm="lloyd", init=C0, n_init=1, max_iter=n_iter, tol=0)``;
      ``cluster_centers_``. scikit-learn requires ``max_iter >= 1`` and ``N >= K``: on
      ``n_iter = 0`` or fewer points than clusters it raises, and so does the adapter.
      Empty clusters are relocated by scikit-learn (to the points farthest from their
      centres); the adapter lets it.
    * lloyd_step: the same with ``max_iter=1``.
    * assign: ``sklearn.metrics.pairwise_distances_argmin(X, C)``.
    * responsibilities, softmax: ``GaussianMixture(covariance_type="spherical")`` whose
      fitted attributes are set to weights ``1/K``, means ``C`` and every variance
      ``T/2``; ``predict_proba(X)``. Its log-densities are
      ``-(1/2)(D log(2 pi) + ||x - c_k||^2 / (T/2)) - (D/2) log(T/2) + log(1/K)``: every
      term but ``-d_ik / T`` is the same for all k, so the posterior is exactly
      ``softmax(-d/T)``. scikit-learn has no 1.5-entmax: kind "entmax15" raises
      ``NotImplementedError``.
    * objective, hard: ``-KMeans.score(X) / N`` on a ``KMeans`` whose fitted attributes
      are set by hand (``cluster_centers_ = C``, ``n_features_in_``, and the private
      ``_n_threads`` that ``score`` reads). ``score`` is documented as the opposite of the
      K-Means objective, a *sum* over points (the inertia): dividing by N is the
      translation to the mean. There is no soft objective in scikit-learn: kinds
      "softmax" and "entmax15" raise ``NotImplementedError``.
    """

    dtype = np.float64
    kinds = {"responsibilities": ("softmax",), "objective": ("hard",)}

    def __init__(self):
        import sklearn
        from sklearn.cluster import KMeans
        from sklearn.metrics import pairwise_distances_argmin
        from sklearn.mixture import GaussianMixture

        self._KMeans, self._argmin, self._GaussianMixture = KMeans, pairwise_distances_argmin, GaussianMixture
        self.name = f"scikit-learn {sklearn.__version__} ({np.dtype(self.dtype).name})"

    def _x(self, a):
        return np.ascontiguousarray(a, dtype=self.dtype)

    def assign(self, X, C):
        return self._argmin(self._x(X), self._x(C))

    def kmeans(self, X, C0, n_iter):
        C0 = self._x(C0)
        model = self._KMeans(n_clusters=len(C0), init=C0, n_init=1, max_iter=n_iter, tol=0.0, algorithm="lloyd")
        return model.fit(self._x(X)).cluster_centers_

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)

    def responsibilities(self, X, C, temperature, kind):
        if kind != "softmax":
            raise NotImplementedError(f"scikit-learn offers no {kind} responsibilities (only softmax, as a GMM)")
        X, C = self._x(X), self._x(C)
        K, D = C.shape
        model = self._GaussianMixture(n_components=K, covariance_type="spherical")
        variance = np.full(K, temperature / 2.0, dtype=self.dtype)
        model.weights_ = np.full(K, 1.0 / K, dtype=self.dtype)
        model.means_ = C
        model.covariances_ = variance
        model.precisions_cholesky_ = 1.0 / np.sqrt(variance)
        model.precisions_ = model.precisions_cholesky_**2
        model.converged_, model.n_iter_, model.lower_bound_ = True, 0, -np.inf
        model.n_features_in_ = D
        return model.predict_proba(X)

    def objective(self, X, C, temperature, kind):
        if kind != "hard":
            raise NotImplementedError(f"scikit-learn offers no {kind} objective (only the hard K-Means score)")
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        X, C = self._x(X), self._x(C)
        model = self._KMeans(n_clusters=len(C), init=C, n_init=1)
        model.cluster_centers_ = C
        model.n_features_in_ = C.shape[1]
        model._n_threads = _openmp_effective_n_threads()
        return -model.score(X) / len(X)


class _SKLearnFloat32(_SKLearn):
    """The scikit-learn adapter in float32: KMeans, pairwise_distances_argmin and
    GaussianMixture keep float32 inputs in float32 (see ``_SKLearn``)."""

    dtype = np.float32


class _SciPy:
    """SciPy's ``scipy.cluster.vq``.

    * assign: ``vq(X, C)[0]``.
    * kmeans: ``kmeans2(X, C0, iter=n_iter, minit="matrix", missing="warn")[0]``.
      ``missing="warn"`` is the default: an empty cluster keeps its centre and SciPy emits
      ``UserWarning("One of the clusters is empty...")`` (only ``"raise"``, an exception,
      is the alternative). SciPy requires ``iter >= 1``: on ``n_iter = 0`` it raises
      ``ValueError``, and so does the adapter.
    * lloyd_step: the same with ``iter=1``.

    SciPy has no objective for given centres (``kmeans`` reports the mean *unsquared*
    distance of a run of its own), no soft responsibilities and no entmax.
    """

    dtype = np.float64

    def __init__(self):
        import scipy
        from scipy.cluster.vq import kmeans2, vq

        self._kmeans2, self._vq = kmeans2, vq
        self.name = f"scipy {scipy.__version__} ({np.dtype(self.dtype).name})"

    def assign(self, X, C):
        return self._vq(X, C)[0]

    def kmeans(self, X, C0, n_iter):
        return self._kmeans2(X, C0, iter=n_iter, minit="matrix", missing="warn")[0]

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)


class _Faiss:
    """faiss (CPU): ``faiss.Kmeans`` and an ``IndexFlatL2``, float32 only.

    * kmeans: ``faiss.Kmeans(D, K, niter=n_iter, max_points_per_centroid=M)`` then
      ``train(X, init_centroids=C0)``; ``centroids``. ``M = max(256, ceil(N/K))`` (256 is
      faiss's default) so that faiss never subsamples the data: with the default, a
      training set of more than 256 K points is subsampled and the result is not Lloyd's
      on X. faiss splits a big cluster to refill an empty one; the adapter lets it.
      faiss requires ``N >= K`` and raises otherwise; so does the adapter.
    * lloyd_step: the same with ``niter=1``.
    * assign: ``IndexFlatL2`` holding C, ``search(X, 1)`` (what ``Kmeans.assign`` does
      after training).
    """

    dtype = np.float32

    def __init__(self):
        import faiss

        self._faiss = faiss
        self.name = f"faiss {faiss.__version__} (float32)"

    def _x(self, a):
        return np.ascontiguousarray(a, dtype=np.float32)

    def assign(self, X, C):
        X, C = self._x(X), self._x(C)
        index = self._faiss.IndexFlatL2(C.shape[1])
        index.add(C)
        _, labels = index.search(X, 1)
        return labels[:, 0]

    def kmeans(self, X, C0, n_iter):
        X, C0 = self._x(X), self._x(C0)
        K, D = C0.shape
        most = max(256, -(-len(X) // K))
        model = self._faiss.Kmeans(D, K, niter=n_iter, max_points_per_centroid=most)
        model.train(X, init_centroids=C0)
        return model.centroids

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)


class _Entmax:
    """The ``entmax`` package (Peters, Niculae & Martins), in float64 on the CPU.

    * entmax15: ``entmax.entmax15(torch.as_tensor(Z), dim=-1)``.
    * responsibilities: the adapter computes ``d_ik = ||x_i - c_k||^2`` itself, in NumPy
      by differences, and the logits ``-d/T``; kind "entmax15" maps them with
      ``entmax.entmax15``. The package has no softmax: its documentation says
      ``entmax_bisect`` does not work at alpha = 1 and recommends ``torch.softmax``, so
      kind "softmax" uses ``torch.softmax`` (the distances and the softmax are then not
      the package's code; only entmax15 is).
    """

    dtype = np.float64

    def __init__(self):
        import entmax
        import torch

        self._entmax, self._torch = entmax, torch
        self.name = f"entmax {getattr(entmax, '__version__', '?')} (float64)"

    def entmax15(self, Z):
        return self._entmax.entmax15(self._torch.as_tensor(np.asarray(Z, dtype=np.float64)), dim=-1)

    def responsibilities(self, X, C, temperature, kind):
        logits = self._torch.as_tensor(-_squared_distances(X, C) / temperature, dtype=self._torch.float64)
        if kind == "entmax15":
            return self._entmax.entmax15(logits, dim=-1)
        if kind == "softmax":
            return self._torch.softmax(logits, dim=-1)
        raise ValueError(f"unknown kind {kind!r}")


class _FastPytorchKMeans:
    """fast-pytorch-kmeans: ``fast_pytorch_kmeans.KMeans`` in float64 on the CPU.

    * kmeans: ``KMeans(K, max_iter=n_iter, tol=0).fit(X, centroids=C0)``; ``centroids``.
      (It stops early only when the centres did not move at all, a fixed point: the
      result is that of n_iter iterations.) ``max_iter=0`` runs no iteration and leaves
      the centres at C0.
    * lloyd_step: the same with ``max_iter=1``.
    * assign: ``predict(X)`` on a ``KMeans`` whose documented attribute ``centroids`` is
      set to C.
    """

    dtype = np.float64

    def __init__(self):
        import fast_pytorch_kmeans
        import torch

        self._module, self._torch = fast_pytorch_kmeans, torch
        from importlib.metadata import version

        self.name = f"fast-pytorch-kmeans {version('fast-pytorch-kmeans')} (float64)"

    def _t(self, a):
        return self._torch.as_tensor(np.asarray(a, dtype=self.dtype))

    def assign(self, X, C):
        model = self._module.KMeans(n_clusters=len(C))
        model.centroids = self._t(C)
        return model.predict(self._t(X))

    def kmeans(self, X, C0, n_iter):
        model = self._module.KMeans(n_clusters=len(C0), max_iter=n_iter, tol=0.0)
        model.fit(self._t(X), centroids=self._t(C0))
        return model.centroids

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)


class _KMeansPytorch:
    """kmeans-pytorch (``kmeans_pytorch``), whose computations are float32.

    Only ``assign`` is faithful: ``kmeans_predict(X, C)``. Its ``kmeans`` draws its own
    initial centres (``np.random.choice``) and iterates until the centres move less than
    ``tol``: it takes neither C0 nor a number of iterations, so ``lloyd_step`` and
    ``kmeans`` are not offered. ``kmeans_predict`` converts X to float32 (``X.float()``),
    hence the adapter's dtype. It prints "predicting on cpu.." on every call; the
    adapter sends that line to a buffer (output only, no behaviour).
    """

    dtype = np.float32

    def __init__(self):
        import kmeans_pytorch
        import torch

        self._module, self._torch = kmeans_pytorch, torch
        from importlib.metadata import version

        self.name = f"kmeans-pytorch {version('kmeans-pytorch')} (float32)"

    def assign(self, X, C):
        X = self._torch.as_tensor(np.asarray(X, dtype=np.float32))
        C = self._torch.as_tensor(np.asarray(C, dtype=np.float32))
        with contextlib.redirect_stdout(io.StringIO()):
            return self._module.kmeans_predict(X, C, device=self._torch.device("cpu"))


_FACTORIES = {
    "reference": _Reference,
    "torch": _Torch,
    "sklearn": _SKLearn,
    "sklearn-float32": _SKLearnFloat32,
    "scipy": _SciPy,
    "faiss": _Faiss,
    "entmax": _Entmax,
    "fast-pytorch-kmeans": _FastPytorchKMeans,
    "kmeans-pytorch": _KMeansPytorch,
}


def __getattr__(name):
    # Adapters are built on first use, so that naming one imports only its library.
    if name in _FACTORIES:
        return _FACTORIES[name]()
    raise AttributeError(name)


# Built-in adapter name -> the module its library must provide.
BUILT_IN = {
    "reference": "kmeans_rbf",
    "torch": "torch",
    "sklearn": "sklearn",
    "sklearn-float32": "sklearn",
    "scipy": "scipy",
    "faiss": "faiss",
    "entmax": "entmax",
    "fast-pytorch-kmeans": "fast_pytorch_kmeans",
    "kmeans-pytorch": "kmeans_pytorch",
}

# Modules a library imports without declaring them as dependencies: without them it is
# on disk but cannot be imported.
_UNDECLARED = {
    "fast-pytorch-kmeans": ("psutil",),  # fast-pytorch-kmeans 0.2.2
    "kmeans-pytorch": ("tqdm",),  # kmeans-pytorch 0.3
}


def installed(name):
    """Whether the library behind the built-in adapter ``name`` can be imported."""
    import importlib.util

    modules = (BUILT_IN[name], *_UNDECLARED.get(name, ()))
    return all(importlib.util.find_spec(module) is not None for module in modules)
