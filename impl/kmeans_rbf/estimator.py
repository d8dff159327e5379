"""A scikit-learn estimator for soft k-means, built on the NumPy reference.

Every computation is delegated to :mod:`kmeans_rbf.reference` (float64 ground truth);
this module only adds the scikit-learn API: parameter and input validation,
initialisation, the iteration loop with its stopping rule, and fitted attributes.
"""

import math
import numbers

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.cluster import kmeans_plusplus
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, check_scalar, validate_data

from . import _validation as validation
from . import reference

__all__ = ["SoftKMeans", "AUTO_TEMPERATURE_FRACTION"]

#: ``temperature="auto"`` resolves to this fraction of the mean per-feature variance of X.
AUTO_TEMPERATURE_FRACTION = 0.01

#: ``temperature="auto"`` on data without spread (every feature constant): all points
#: coincide, so every temperature gives the same centres; this value is used then.
_FALLBACK_TEMPERATURE = 1.0


class SoftKMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Soft k-means (k-means as an RBF network) at a fixed temperature.

    With squared distances ``d_ik = ||x_i - c_k||^2`` and responsibilities
    ``r_i = map(-d_i / T)`` (``map`` one of ``hard``, ``softmax``, ``entmax15``; see
    ``theory/conventions.md``), ``fit`` iterates from the initial centres ``C0``

    * ``kind="hard"``: the Lloyd step, every centre moves to the mean of its Voronoi
      cell (:func:`kmeans_rbf.reference.lloyd_step`; an empty cell keeps its centre);
    * ``kind="softmax"`` / ``"entmax15"``: the soft step
      ``c_k <- sum_i r_ik x_i / n_k`` with ``n_k = sum_i r_ik``
      (:func:`kmeans_rbf.reference.soft_step`; a centre with ``n_k = 0`` keeps its place).

    The soft step is the M-step of EM for an isotropic Gaussian mixture with equal
    priors and fixed per-feature variance ``T / 2`` (the E-step computes ``r``), i.e.
    exact block-coordinate descent on the free energy
    ``F_T(C) = (1/N) sum_i min_{p in simplex} [p . d_i - T H(p)]`` (Shannon entropy H for
    softmax, Tsallis 1.5-entropy for entmax15): ``F_T`` never increases along the
    iterations, and the Lloyd step does the same for the K-Means objective
    ``J(C) = (1/N) sum_i min_k d_ik``, the ``T -> 0`` limit. Each fit is a single run
    from one initialisation (no restarts: compare the ``score`` of several seeds
    yourself). The reported ``objective_`` is the RBF objective
    ``L_T(C) = (1/N) sum_i sum_k r_ik(C) d_ik`` at the final centres (``J`` for hard),
    which satisfies ``J <= L_T <= J + T H_max`` (claim ``sandwich``).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of centres K. Must be ``<= n_samples``.
    temperature : float > 0 or "auto", default="auto"
        Temperature T of the soft assignment, in units of *squared distance*. Not used
        by ``kind="hard"`` (None is allowed there; other values are still validated, as
        in :mod:`kmeans_rbf.reference`). ``"auto"`` uses
        ``T = 0.01 * mean_j Var(X[:, j])``, chosen because

        * it is scale-equivariant: fitting ``a * X`` gives ``a * cluster_centers_``,
          as T must scale like ``a**2`` (a fixed number such as 1.0 would be huge for
          data in kilometres squared and tiny for data in millimetres);
        * it is far below the first phase transition of deterministic annealing,
          ``T_c = 2 lambda_max(Cov X) >= 2 mean_j Var(X[:, j])``, above which all centres
          collapse onto the data mean (claim ``annealing-critical-temperature``): ``T <= T_c / 200``;
        * in the mixture reading each cluster has per-feature variance ``T / 2``, i.e. a
          standard deviation of 7% of the data's; a cluster is resolved (splits) once its
          own largest variance exceeds that, so K up to ~14 evenly spread clusters is
          resolved even in one dimension, many more in higher dimension;
        * it is still soft where it matters: entmax15 spreads a point over the centres
          whose squared distance is within ``2 T`` of the nearest one (a thin band along
          the Voronoi boundaries) and is exactly hard elsewhere (claims ``entmax-exact-below-margin``, ``entmax-support``).

        Larger T gives smoother responsibilities and, past a cluster's own critical
        temperature, merged centres. Constant data (zero variance) fall back to
        ``T = 1.0``. The value used is stored in ``temperature_``.
    kind : {"hard", "softmax", "entmax15"}, default="entmax15"
        The map from logits ``-d_i / T`` to responsibilities.
    init : {"k-means++", "random"} or array-like of shape (n_clusters, n_features), \
            default="k-means++"
        Initial centres: :func:`sklearn.cluster.kmeans_plusplus`, K distinct rows of X
        drawn by ``random_state``, or the given array.
    max_iter : int, default=300
        Maximum number of steps (>= 1).
    tol : float >= 0, default=1e-6
        Stop once the largest squared displacement of a centre in one step,
        ``max_k ||c_k^new - c_k||^2``, is ``<= tol * mean_j Var(X[:, j])`` (relative to the
        data's scale, like :class:`sklearn.cluster.KMeans`, which uses the sum over
        centres instead of the maximum). ``tol=0`` stops only at an exact fixed point.
    random_state : int, RandomState instance or None, default=None
        Seeds the "k-means++" and "random" initialisations.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features), float64
        Final centres C.
    labels_ : ndarray of shape (n_samples,), int64
        Index of the nearest final centre of each training point (ties to the lowest
        index); for every T > 0 this is also the argmax of the responsibilities.
    n_iter_ : int
        Number of steps run (1 to ``max_iter``).
    objective_ : float
        RBF objective ``L_T`` of the training data at ``cluster_centers_`` (``J`` for
        ``kind="hard"``): a mean over points, not a sum.
    temperature_ : float or None
        The temperature used (``"auto"`` resolved); None for ``kind="hard"``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when X has string column names.

    Notes
    -----
    ``transform`` returns the responsibilities ``r`` of shape (n_samples, n_clusters) at
    the fitted temperature (one-hot for ``kind="hard"``), *not* the distances to the
    centres returned by :meth:`sklearn.cluster.KMeans.transform`: the soft assignment is
    what this estimator is about, and the rows lie on the simplex, so they can be used
    directly as soft cluster memberships. Squared distances are
    ``kmeans_rbf.reference.squared_distances(X, est.cluster_centers_)``.

    ``score(X)`` is ``-L_T`` on X (higher is better, as for ``KMeans.score``), a mean
    over points where ``KMeans.score`` returns a sum.

    Everything is computed in float64 (float32 input is converted), so the estimator
    does not preserve float32.

    Examples
    --------
    Two pairs of points, with T = 10 below half the smallest margin between a point's
    two nearest centres (48 / 2 = 24), so entmax15 is exactly hard on the data and the
    centres are the pair means; a new point near the midpoint 5 is shared:

    >>> import numpy as np
    >>> from kmeans_rbf.estimator import SoftKMeans
    >>> X = np.array([[0.0], [2.0], [8.0], [10.0]])
    >>> est = SoftKMeans(n_clusters=2, temperature=10.0, init=[[0.0], [10.0]]).fit(X)
    >>> est.cluster_centers_
    array([[1.], [9.]])
    >>> est.labels_, est.n_iter_, est.objective_
    (array([0, 0, 1, 1]), 2, 1.0)
    >>> est.predict([[4.0], [5.0], [6.0]])   # the tie at 5 goes to the lowest index
    array([0, 0, 1])
    >>> est.transform([[0.0], [5.0], [5.25]]).round(12)   # d = (18.0625, 14.0625) at 5.25
    array([[1.  , 0.  ],
           [0.5 , 0.5 ],
           [0.36, 0.64]])
    >>> est.score(X)
    -1.0
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        temperature="auto",
        kind="entmax15",
        init="k-means++",
        max_iter=300,
        tol=1e-6,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.temperature = temperature
        self.kind = kind
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    # --- validation ----------------------------------------------------------------------

    def _validate_parameters(self):
        _validate_int(self.n_clusters, "n_clusters", minimum=1)
        _validate_int(self.max_iter, "max_iter", minimum=1)
        check_scalar(self.tol, "tol", numbers.Real, min_val=0)
        if math.isnan(self.tol) or math.isinf(self.tol):
            raise ValueError(f"tol must be a finite number >= 0; got {self.tol!r}")
        validation.validate_kind(self.kind)
        if not (isinstance(self.temperature, str) and self.temperature == "auto"):
            if isinstance(self.temperature, str):
                raise ValueError(
                    f"temperature must be 'auto' or a finite number > 0; "
                    f"got {self.temperature!r}"
                )
            validation.validate_temperature(self.temperature, self.kind)
        if isinstance(self.init, str) and self.init not in ("k-means++", "random"):
            raise ValueError(
                "init must be 'k-means++', 'random' or an array of shape "
                f"(n_clusters, n_features); got {self.init!r}"
            )

    def _resolve_temperature(self, X):
        if self.kind == "hard":
            return None
        if isinstance(self.temperature, str):  # "auto"
            value = AUTO_TEMPERATURE_FRACTION * float(np.mean(np.var(X, axis=0)))
            return value if value > 0 else _FALLBACK_TEMPERATURE
        return validation.validate_temperature(self.temperature, self.kind)

    def _initial_centres(self, X, random_state):
        n_samples, n_features = X.shape
        if isinstance(self.init, str) and self.init == "k-means++":
            centres, _ = kmeans_plusplus(X, self.n_clusters, random_state=random_state)
            return centres
        if isinstance(self.init, str):  # "random"
            rows = random_state.choice(n_samples, size=self.n_clusters, replace=False)
            return X[rows].copy()
        centres = check_array(
            self.init, dtype=np.float64, copy=True, ensure_2d=False, input_name="init"
        )
        if centres.shape != (self.n_clusters, n_features):
            raise ValueError(
                f"init has shape {centres.shape}; it must be (n_clusters, n_features) = "
                f"({self.n_clusters}, {n_features})"
            )
        return centres

    # --- fit -----------------------------------------------------------------------------

    def fit(self, X, y=None):
        """Fit the centres to X by Lloyd or soft steps from the initial centres.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (converted to float64; must be finite).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : SoftKMeans
            The fitted estimator.
        """
        self._validate_parameters()
        X = validate_data(self, X, dtype=np.float64)
        n_samples = X.shape[0]
        if n_samples < self.n_clusters:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}."
            )
        random_state = check_random_state(self.random_state)
        temperature = self._resolve_temperature(X)
        centres = self._initial_centres(X, random_state)
        tolerance = self.tol * float(np.mean(np.var(X, axis=0)))

        for n_iter in range(1, self.max_iter + 1):
            if self.kind == "hard":
                new_centres = reference._lloyd_step(X, centres)
            else:
                new_centres = reference._soft_step(X, centres, temperature, self.kind)
            shift = float(np.max(np.sum((new_centres - centres) ** 2, axis=1)))
            centres = new_centres
            if shift <= tolerance:
                break

        d = reference._squared_distances(X, centres)
        self.cluster_centers_ = centres
        self.labels_ = reference._assign(d)
        self.n_iter_ = n_iter
        self.temperature_ = temperature
        self.objective_ = reference._objective(
            d, reference._responsibilities(d, temperature, self.kind)
        )
        self._fitted_kind = self.kind
        self._n_features_out = self.n_clusters
        return self

    # --- fitted methods ------------------------------------------------------------------

    def _distances(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return reference._squared_distances(X, self.cluster_centers_)

    def predict(self, X):
        """Index of the nearest centre of each point (ties to the lowest index).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
        """
        return reference._assign(self._distances(X))

    def transform(self, X):
        """Responsibilities of the centres for each point, at the fitted temperature.

        Unlike ``KMeans.transform`` (distances), this returns the soft assignment
        ``r_ik`` (one-hot for ``kind="hard"``); each row sums to 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        r : ndarray of shape (n_samples, n_clusters), float64
        """
        return reference._responsibilities(
            self._distances(X), self.temperature_, self._fitted_kind
        )

    def score(self, X, y=None):
        """Opposite of the RBF objective ``L_T`` of X at the fitted centres.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        score : float
            ``-(1/N) sum_i sum_k r_ik d_ik`` (``-J`` for ``kind="hard"``); higher is better.
        """
        d = self._distances(X)
        r = reference._responsibilities(d, self.temperature_, self._fitted_kind)
        return -reference._objective(d, r)


def _validate_int(value, name, minimum):
    if isinstance(value, bool):  # bool is an Integral, but never a count
        raise TypeError(f"{name} must be an instance of int, not bool.")
    return check_scalar(value, name, numbers.Integral, min_val=minimum)
