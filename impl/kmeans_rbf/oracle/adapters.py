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
through, whatever its class: that is the library's behaviour, for the oracle to see. A
map whose library takes an axis keyword has it in its signature and passes it through;
a library that works on torch tensors gets them (``tensors = True``), so that the dtype
and device of what it returns are checked as they are.

Peers and what they need (``docs/findings.md`` records what each gets wrong):

* ``sklearn``, ``sklearn-float32``: scikit-learn (a dependency of the project).
* ``scipy``: SciPy's ``scipy.cluster.vq``, ``scipy.special`` and ``scipy.spatial`` (a dependency).
* ``entmax``, ``entmax-float16``: the ``entmax`` package (a dependency).
* ``faiss``: ``pip install faiss-cpu`` (float32 only).
* ``fast-pytorch-kmeans``, ``fast-pytorch-kmeans-float16``: ``pip install
  fast-pytorch-kmeans psutil`` (psutil is imported but not declared by
  fast-pytorch-kmeans 0.2.2).
* ``kmeans-pytorch``: ``pip install kmeans-pytorch tqdm`` (tqdm is imported but not
  declared by kmeans-pytorch 0.3).
"""

import contextlib
import io

import numpy as np

from ..backends import dtype_name

__all__ = ["BUILT_IN", "installed"]


def _require_kind(library, capability, kind, offered):
    """Raise ``NotImplementedError`` for a kind the library does not offer, saying so."""
    if kind not in offered:
        raise NotImplementedError(f"{library} offers no {kind} {capability} (only {', '.join(offered)})")


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
      centres); the adapter lets it. (With ``tol=0`` scikit-learn stops early only when
      the labels no longer change: a fixed point, where later steps change nothing.)
    * lloyd_step: the same with ``max_iter=1``.
    * kmeans_fit: the same ``KMeans``; ``(cluster_centers_, labels_, inertia_)``, all three
      scikit-learn's: ``labels_`` are documented as the labels of each point and
      ``inertia_`` as the sum of squared distances of samples to their closest cluster
      centre (a sum, as the protocol asks).
    * assign: ``sklearn.metrics.pairwise_distances_argmin(X, C)``.
    * responsibilities, softmax: ``GaussianMixture(covariance_type="spherical")`` whose
      fitted attributes are set to weights ``1/K``, means ``C`` and every variance
      ``T/2``; ``predict_proba(X)``. Its log-densities are
      ``-(1/2)(D log(2 pi) + ||x - c_k||^2 / (T/2)) - (D/2) log(T/2) + log(1/K)``: every
      term but ``-d_ik / T`` is the same for all k, so the posterior is exactly
      ``softmax(-d/T)``. scikit-learn has no 1.5-entmax nor sparsemax: other kinds raise
      ``NotImplementedError``.
    * soft_step, softmax: one EM iteration of the same mixture, ``GaussianMixture(
      covariance_type="spherical", weights_init=1/K, means_init=C, precisions_init=2/T,
      max_iter=1, init_params="random", random_state=0).fit(X)``; ``means_``. The E-step
      is the posterior above (``weights_init``, ``means_init`` and ``precisions_init``
      replace whatever ``init_params`` computed), and the M-step's means are
      ``sum_i r_ik x_i / (n_k + 10 eps)``: scikit-learn's soft k-means step, its ``10 eps``
      included. ``GaussianMixture`` requires ``N >= 2`` and ``N >= K``; it raises
      otherwise, and so does the adapter.
    * objective, hard: ``-KMeans.score(X) / N`` on a ``KMeans`` whose fitted attributes
      are set by hand (``cluster_centers_ = C``, ``n_features_in_``, and the private
      ``_n_threads`` that ``score`` reads). ``score`` is documented as the opposite of the
      K-Means objective, a *sum* over points (the inertia): dividing by N is the
      translation to the mean. There is no soft objective in scikit-learn.
    """

    dtype = np.float64
    kinds = {"responsibilities": ("softmax",), "soft_step": ("softmax",), "objective": ("hard",)}

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

    def _fit(self, X, C0, n_iter):
        C0 = self._x(C0)
        model = self._KMeans(n_clusters=len(C0), init=C0, n_init=1, max_iter=n_iter, tol=0.0, algorithm="lloyd")
        return model.fit(self._x(X))

    def kmeans(self, X, C0, n_iter):
        return self._fit(X, C0, n_iter).cluster_centers_

    def kmeans_fit(self, X, C0, n_iter):
        model = self._fit(X, C0, n_iter)
        return model.cluster_centers_, model.labels_, model.inertia_

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)

    def responsibilities(self, X, C, temperature, kind):
        _require_kind("scikit-learn", "responsibilities", kind, self.kinds["responsibilities"])
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

    def soft_step(self, X, C, temperature, kind):
        _require_kind("scikit-learn", "soft step", kind, self.kinds["soft_step"])
        X, C = self._x(X), self._x(C)
        K = len(C)
        model = self._GaussianMixture(
            n_components=K, covariance_type="spherical", weights_init=np.full(K, 1.0 / K, dtype=self.dtype),
            means_init=C, precisions_init=np.full(K, 2.0 / temperature, dtype=self.dtype), max_iter=1,
            init_params="random", random_state=0,
        )
        return model.fit(X).means_

    def objective(self, X, C, temperature, kind):
        _require_kind("scikit-learn", "objective", kind, self.kinds["objective"])
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
    """SciPy: ``scipy.cluster.vq``, and ``scipy.special.softmax`` of the distances of
    ``scipy.spatial.distance.cdist``.

    * assign: ``vq(X, C)[0]``.
    * kmeans: ``kmeans2(X, C0, iter=n_iter, minit="matrix", missing="warn")[0]``.
      ``missing="warn"`` is the default: an empty cluster keeps its centre and SciPy emits
      ``UserWarning("One of the clusters is empty...")`` (only ``"raise"``, an exception,
      is the alternative). SciPy requires ``iter >= 1``: on ``n_iter = 0`` it raises
      ``ValueError``, and so does the adapter.
    * lloyd_step: the same with ``iter=1``.
    * kmeans_fit: the same ``kmeans2``, which returns the centres and the labels; the
      labels are SciPy's as returned. SciPy gives no inertia for them, so the adapter
      computes it from SciPy's centres and labels: ``sum_i ||x_i - c_{label_i}||^2``, by
      differences, in float64.
    * objective, hard: the mean over points of the squares of ``vq(X, C)[1]`` (vq returns
      each point's *unsquared* distance to its nearest centre; squaring and the mean are
      the translation). SciPy's ``kmeans`` reports the mean unsquared distance of a run of
      its own, not an objective for given centres; there is no soft objective.
    * responsibilities, softmax: ``scipy.special.softmax(-cdist(X, C, "sqeuclidean") / T,
      axis=1)``: SciPy's squared distances and SciPy's softmax (which subtracts the row's
      maximum); the division by T is the adapter's. SciPy has no entmax nor sparsemax.
    """

    dtype = np.float64
    kinds = {"responsibilities": ("softmax",), "objective": ("hard",)}

    def __init__(self):
        import scipy
        from scipy.cluster.vq import kmeans2, vq
        from scipy.spatial.distance import cdist
        from scipy.special import softmax

        self._kmeans2, self._vq, self._cdist, self._softmax = kmeans2, vq, cdist, softmax
        self.name = f"scipy {scipy.__version__} ({np.dtype(self.dtype).name})"

    def assign(self, X, C):
        return self._vq(X, C)[0]

    def kmeans(self, X, C0, n_iter):
        return self._kmeans2(X, C0, iter=n_iter, minit="matrix", missing="warn")[0]

    def kmeans_fit(self, X, C0, n_iter):
        C, labels = self._kmeans2(X, C0, iter=n_iter, minit="matrix", missing="warn")
        inertia = np.sum((np.asarray(X, dtype=np.float64) - np.asarray(C, dtype=np.float64)[labels]) ** 2)
        return C, labels, inertia

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)

    def objective(self, X, C, temperature, kind):
        _require_kind("SciPy", "objective", kind, self.kinds["objective"])
        return np.mean(self._vq(X, C)[1] ** 2)

    def responsibilities(self, X, C, temperature, kind):
        _require_kind("SciPy", "responsibilities", kind, self.kinds["responsibilities"])
        return self._softmax(-self._cdist(X, C, "sqeuclidean") / temperature, axis=1)


class _Faiss:
    """faiss (CPU): ``faiss.Kmeans`` and an ``IndexFlatL2``, float32 only.

    * kmeans: ``faiss.Kmeans(D, K, niter=n_iter, max_points_per_centroid=M)`` then
      ``train(X, init_centroids=C0)``; ``centroids``. ``M = max(256, ceil(N/K))`` (256 is
      faiss's default) so that faiss never subsamples the data: with the default, a
      training set of more than 256 K points is subsampled and the result is not Lloyd's
      on X. faiss splits a big cluster to refill an empty one; the adapter lets it.
      faiss requires ``N >= K`` and raises ``RuntimeError`` otherwise; so does the adapter.
    * lloyd_step: the same with ``niter=1``.
    * kmeans_fit: the same training, then ``Kmeans.assign(X)``, which searches the final
      centroids in ``Kmeans.index`` and returns each point's squared distance and label:
      ``(centroids, labels, sum of those distances)`` (faiss returns the distances; their
      sum, in float64, is the adapter's). ``train``'s own return value is not used: it is
      the objective of the last iteration's assignment, made *before* the last update.
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

    def _trained(self, X, C0, n_iter):
        X, C0 = self._x(X), self._x(C0)
        K, D = C0.shape
        most = max(256, -(-len(X) // K))
        model = self._faiss.Kmeans(D, K, niter=n_iter, max_points_per_centroid=most)
        model.train(X, init_centroids=C0)
        return model

    def kmeans(self, X, C0, n_iter):
        return self._trained(X, C0, n_iter).centroids

    def kmeans_fit(self, X, C0, n_iter):
        model = self._trained(X, C0, n_iter)
        distances, labels = model.assign(self._x(X))
        return model.centroids, labels, np.sum(distances, dtype=np.float64)

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)


class _Entmax:
    """The ``entmax`` package (Peters, Niculae & Martins), on torch tensors (``tensors =
    True``: the oracle sends float64 tensors on the CPU and requires the same back).

    * entmax15, sparsemax: ``entmax.entmax15(Z, dim=dim)``, ``entmax.sparsemax(Z,
      dim=dim)``; the package's ``dim`` keyword is the method's, passed through (the
      oracle checks the maps along every axis with it).
    * responsibilities, kinds entmax15 and sparsemax: the package's map of that kind
      along the centres (``dim=-1``) of logits the adapter computes: ``d_ik = ||x_i -
      c_k||^2`` by differences and ``-(d_ik - min_l d_il) / T``, in float64 for float64
      tensors and in float32 for half precision, then cast to the tensors' dtype. The
      distances are not the package's code, so they are computed accurately and shifted
      so that each row's largest logit is 0 (the maps are shift invariant): what is
      checked is the package's map in the tensors' dtype, not a float16 overflow of the
      adapter's (at T = 1e-12 every unshifted float16 logit is -inf). The package has no
      softmax (its documentation says ``entmax_bisect`` does not work at alpha = 1 and
      recommends ``torch.softmax``) and no hard map, so those kinds are not offered: they
      would check torch, not entmax.
    """

    dtype = np.float64
    tensors = True
    device = "cpu"
    kinds = {"responsibilities": ("entmax15", "sparsemax")}

    def __init__(self):
        import entmax

        self._entmax = entmax
        self.name = f"entmax {getattr(entmax, '__version__', '?')} ({dtype_name(self.dtype)} tensors)"

    def entmax15(self, Z, dim=-1):
        return self._entmax.entmax15(Z, dim=dim)

    def sparsemax(self, Z, dim=-1):
        return self._entmax.sparsemax(Z, dim=dim)

    def responsibilities(self, X, C, temperature, kind):
        _require_kind("the entmax package", "responsibilities", kind, self.kinds["responsibilities"])
        import torch

        wide = torch.promote_types(X.dtype, torch.float32)
        d = ((X.to(wide)[:, None, :] - C.to(wide)[None, :, :]) ** 2).sum(dim=-1)
        logits = (-(d - d.min(dim=-1, keepdim=True).values) / temperature).to(X.dtype)
        return getattr(self._entmax, kind)(logits, dim=-1)


class _EntmaxFloat16(_Entmax):
    """The entmax adapter on float16 tensors: the package computes in the tensors' dtype
    (see ``_Entmax``)."""

    dtype = "float16"


class _FastPytorchKMeans:
    """fast-pytorch-kmeans: ``fast_pytorch_kmeans.KMeans`` on float64 torch tensors on the
    CPU (``tensors = True``; the library asserts that its inputs are tensors).

    * kmeans: ``KMeans(K, max_iter=n_iter, tol=0).fit(X, centroids=C0)``; ``centroids``.
      (It stops early only when the centres did not move at all, a fixed point: the
      result is that of n_iter iterations.) ``max_iter=0`` runs no iteration and leaves
      the centres at C0.
    * lloyd_step: the same with ``max_iter=1``.
    * kmeans_fit: the same ``KMeans``; ``fit_predict(X, centroids=C0)`` returns the labels
      (documented as "the combination of fit() and predict()") and ``centroids`` the
      centres. The library gives no inertia, so the adapter computes it from those
      centres and labels: ``sum_i ||x_i - c_{label_i}||^2``, by differences in float64
      (a float16 sum over many points would overflow: that rounding would be the
      adapter's, not the library's), returned as a Python float.
    * assign: ``predict(X)`` on a ``KMeans`` whose documented attribute ``centroids`` is
      set to C.
    """

    dtype = np.float64
    tensors = True
    device = "cpu"

    def __init__(self):
        import fast_pytorch_kmeans

        self._module = fast_pytorch_kmeans
        from importlib.metadata import version

        self.name = f"fast-pytorch-kmeans {version('fast-pytorch-kmeans')} ({dtype_name(self.dtype)} tensors)"

    def assign(self, X, C):
        model = self._module.KMeans(n_clusters=len(C))
        model.centroids = C
        return model.predict(X)

    def _fitted(self, X, C0, n_iter):
        model = self._module.KMeans(n_clusters=len(C0), max_iter=n_iter, tol=0.0)
        labels = model.fit_predict(X, centroids=C0)
        return model, labels

    def kmeans(self, X, C0, n_iter):
        return self._fitted(X, C0, n_iter)[0].centroids

    def kmeans_fit(self, X, C0, n_iter):
        model, labels = self._fitted(X, C0, n_iter)
        C = model.centroids
        return C, labels, float(((X.double() - C.double()[labels]) ** 2).sum())

    def lloyd_step(self, X, C):
        return self.kmeans(X, C, 1)


class _FastPytorchKMeansFloat16(_FastPytorchKMeans):
    """The fast-pytorch-kmeans adapter on float16 tensors (the library accepts
    ``torch.half`` and computes in it; see ``_FastPytorchKMeans``). bfloat16 is not
    offered: the library asserts "input must be floating point" on it."""

    dtype = "float16"


class _KMeansPytorch:
    """kmeans-pytorch (``kmeans_pytorch``), whose computations are float32.

    Only ``assign`` is faithful: ``kmeans_predict(X, C)``. Its ``kmeans`` draws its own
    initial centres (``np.random.choice``) and iterates until the centres move less than
    ``tol``: it takes neither C0 nor a number of iterations, so ``lloyd_step``,
    ``kmeans`` and ``kmeans_fit`` are not offered. ``kmeans_predict`` converts X to
    float32 (``X.float()``), hence the adapter's dtype. It prints "predicting on cpu.." on
    every call; the adapter sends that line to a buffer (output only, no behaviour).
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
    "entmax-float16": _EntmaxFloat16,
    "fast-pytorch-kmeans": _FastPytorchKMeans,
    "fast-pytorch-kmeans-float16": _FastPytorchKMeansFloat16,
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
    "entmax-float16": "entmax",
    "fast-pytorch-kmeans": "fast_pytorch_kmeans",
    "fast-pytorch-kmeans-float16": "fast_pytorch_kmeans",
    "kmeans-pytorch": "kmeans_pytorch",
}

# Modules a library imports without declaring them as dependencies: without them it is
# on disk but cannot be imported.
_UNDECLARED = {
    "fast-pytorch-kmeans": ("psutil",),  # fast-pytorch-kmeans 0.2.2
    "fast-pytorch-kmeans-float16": ("psutil",),
    "kmeans-pytorch": ("tqdm",),  # kmeans-pytorch 0.3
}


def installed(name):
    """Whether the library behind the built-in adapter ``name`` can be imported."""
    import importlib.util

    modules = (BUILT_IN[name], *_UNDECLARED.get(name, ()))
    return all(importlib.util.find_spec(module) is not None for module in modules)
