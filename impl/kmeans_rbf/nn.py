"""A clustering layer for torch models: learnable centres, responsibilities and a loss.

``RBFClustering`` wraps the functions of ``kmeans_rbf.torch`` in an ``nn.Module`` whose
only parameter is the (K, D) matrix of centres. Its forward pass returns the
responsibilities of the points and the RBF objective (or the free energy) as a loss to
add to a model's training loss. The mathematics and every numerical choice are those of
``kmeans_rbf.torch`` (which follows ``kmeans_rbf.reference``): this module calls its
private twins and computes nothing itself.
"""

from typing import NamedTuple

import torch
from torch import nn

from . import _validation as validation
from . import torch as krbf_torch

__all__ = ["ClusteringOutput", "RBFClustering", "LOSSES"]

LOSSES = ("objective", "free_energy")


class ClusteringOutput(NamedTuple):
    """What ``RBFClustering.forward`` returns.

    Attributes
    ----------
    responsibilities : Tensor, shape (N, K)
        ``r_ik = map(-d_i / T)_k``; every row lies on the simplex. Differentiable (except
        for kind='hard', which is piecewise constant).
    loss : Tensor, shape ()
        The RBF objective ``L_T`` or the free energy ``F_T`` (see ``RBFClustering``).
    """

    responsibilities: torch.Tensor
    loss: torch.Tensor


def _validate_loss(loss):
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}; got {loss!r}")
    return loss


def _validate_dtype(dtype):
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype.is_complex:
        raise TypeError(f"dtype must be a real floating-point torch.dtype; got {dtype!r}")
    return dtype


class RBFClustering(nn.Module):
    r"""Soft K-Means as a layer: learnable centres, responsibilities and a clustering loss.

    With data ``X`` (N, D), centres ``C`` (K, D) (the parameter ``centres``), squared
    distances ``d_ik = ||x_i - c_k||^2`` and temperature ``T > 0``, the forward pass returns

    * the responsibilities ``r_i = map(-d_i / T)`` with map ``'hard'`` (one-hot on the
      nearest centre, ties to the lowest index), ``'softmax'`` or ``'entmax15'``
      (1.5-entmax: sparse, exactly hard once a point's two smallest distances differ by
      at least 2T);
    * a 0-d loss:

      - ``loss='objective'``: the RBF objective ``L_T(C) = (1/N) sum_i sum_k r_ik(C) d_ik``.
        Its gradient flows through r as well as through d:
        ``grad_{c_k} L_T = (2/N) sum_i g_ik (c_k - x_i)`` with ``g_ik = r_ik - (J_i a_i)_k``,
        ``a_i = d_i / T`` and ``J_i`` the Jacobian of the map (softmax:
        ``diag(r) - r r^T``; entmax15: ``diag(s) - s s^T / sum s``, ``s = sqrt(r)``).
        For kind='hard' it is the K-Means objective ``J(C) = (1/N) sum_i min_k d_ik``.
      - ``loss='free_energy'``: ``F_T(C) = (1/N) sum_i min_{p in simplex} [p . d_i - T H(p)]``
        with H the Shannon entropy (softmax; ``F_T = -(T/N) sum_i log sum_k exp(-d_ik/T)``)
        or the Tsallis 1.5-entropy (entmax15); for kind='hard', ``F = J``. By the envelope
        theorem ``grad_{c_k} F_T = (2/N) sum_i r_ik (c_k - x_i)``, so a gradient step with
        per-centre step size ``N / (2 n_k)``, ``n_k = sum_i r_ik``, is exactly the soft
        step ``c_k <- sum_i r_ik x_i / n_k`` (the EM M-step). Plain SGD with learning rate
        ``lr`` moves ``c_k`` by the fraction ``2 lr n_k / N`` of the way to that mean, so
        its fixed points are the soft-step fixed points.

    Both losses are means over the points, hence independent of the batch size. Gradients
    also flow to ``X``, so the layer can sit on top of an encoder.

    Parameters
    ----------
    n_clusters : int
        K >= 1.
    n_features : int
        D >= 1.
    temperature : float or None
        T > 0, finite. None only for kind='hard'. May be changed between calls
        (annealing): ``layer.temperature = 0.1`` validates the new value. It is a
        hyperparameter, not part of ``state_dict()``.
    kind : {'hard', 'softmax', 'entmax15'}
    loss : {'objective', 'free_energy'}
    centres : array_like or Tensor of shape (K, D), optional
        Initial centres (copied; finite). Without it the centres are drawn from the
        standard normal with torch's global generator (see ``reset_parameters``). That
        initialisation is scale-dependent: it suits data of unit scale around the
        origin only. Usually initialise from data, with ``RBFClustering.from_data``.
    dtype : torch.dtype, optional
        Of the centres. Default: that of ``centres`` if it is a floating-point tensor,
        else torch's default dtype. float16 and bfloat16 are computed in float32 and the
        outputs rounded back, as in ``kmeans_rbf.torch``.
    device : torch.device or str, optional

    Attributes
    ----------
    centres : nn.Parameter, shape (K, D)

    Notes
    -----
    ``forward(X)`` takes X of shape (N, D), floating point, finite, of the dtype and on the
    device of ``centres``, and returns ``ClusteringOutput(responsibilities, loss)`` of the
    dtype and device of X: responsibilities (N, K) and a 0-d loss. Invariants: every row of
    the responsibilities sums to 1, and its largest entry is at the nearest centre
    (``argmax_k r_ik = argmin_k d_ik``, ties aside), so the decoded partition is the Voronoi
    partition of the centres at every temperature.

    Inputs are validated as in ``kmeans_rbf.torch``, with the same messages; there the
    centres are called ``C``. As there, a temperature outside the normal range of the
    working dtype (float32 for float32 and half precision) raises ValueError at forward,
    and a half-precision result that overflows its dtype (float16: above 65504) raises
    OverflowError rather than return inf.

    Examples
    --------
    Two clusters on a line; at T = 0.5 every point is at least 2T closer to one centre
    than to the other, so entmax15 is exactly hard:

    >>> import torch
    >>> from kmeans_rbf.nn import RBFClustering
    >>> X = torch.tensor([[0.0], [1.0], [9.0], [10.0]])
    >>> layer = RBFClustering(2, 1, temperature=0.5, centres=[[0.0], [10.0]])
    >>> layer
    RBFClustering(n_clusters=2, n_features=1, temperature=0.5, kind='entmax15', loss='objective')
    >>> out = layer(X)
    >>> out.responsibilities.detach()
    tensor([[1., 0.],
            [1., 0.],
            [0., 1.],
            [0., 1.]])
    >>> out.loss.item()                   # (0 + 1 + 1 + 0) / 4
    0.5
    >>> out.loss.backward()
    >>> layer.centres.grad                # (2/N) sum_i r_ik (c_k - x_i)
    tensor([[-0.5000],
            [ 0.5000]])

    One SGD step with lr = 1/2 on this exactly-hard loss moves each centre half-way
    (``2 lr n_k / N = 1/2``) to the mean of its cell:

    >>> with torch.no_grad():
    ...     layer.centres -= 0.5 * layer.centres.grad
    >>> layer.centres.detach()
    tensor([[0.2500],
            [9.7500]])

    Annealing: change the temperature between calls.

    >>> layer.temperature = 200.0
    >>> layer(torch.tensor([[5.0]])).responsibilities.detach()
    tensor([[0.5000, 0.5000]])
    """

    def __init__(
        self,
        n_clusters,
        n_features,
        *,
        temperature,
        kind="entmax15",
        loss="objective",
        centres=None,
        dtype=None,
        device=None,
    ):
        super().__init__()
        self._n_clusters = validation.validate_count(n_clusters, "n_clusters", minimum=1)
        self._n_features = validation.validate_count(n_features, "n_features", minimum=1)
        self._kind = validation.validate_kind(kind)
        self._loss = _validate_loss(loss)
        self.temperature = temperature  # validated by the property setter
        dtype = _validate_dtype(dtype)
        if centres is None:
            initial = torch.empty(
                self._n_clusters,
                self._n_features,
                dtype=dtype if dtype is not None else torch.get_default_dtype(),
                device=device,
            )
        else:
            initial = self._initial_centres(centres, dtype, device)
        self.centres = nn.Parameter(initial)
        if centres is None:
            self.reset_parameters()

    def _initial_centres(self, centres, dtype, device):
        if isinstance(centres, torch.Tensor):
            if centres.is_complex():
                raise TypeError("centres must be real; got a complex tensor")
            if dtype is None:
                dtype = centres.dtype if centres.is_floating_point() else torch.get_default_dtype()
            initial = centres.detach().to(dtype=dtype, device=device, copy=True)
        else:
            dtype = dtype if dtype is not None else torch.get_default_dtype()
            try:
                initial = torch.tensor(centres, dtype=dtype, device=device)
            except (TypeError, ValueError, RuntimeError) as error:
                raise TypeError(f"centres must be an array of real numbers: {error}") from None
        validation.validate_points(initial, "centres")
        expected = (self._n_clusters, self._n_features)
        if tuple(initial.shape) != expected:
            raise ValueError(
                f"centres must have shape (n_clusters, n_features) = {expected}; "
                f"got {tuple(initial.shape)}"
            )
        return initial

    @classmethod
    def from_data(
        cls, X, n_clusters, *, temperature, kind="entmax15", loss="objective", generator=None
    ):
        """A layer whose centres are K distinct rows of X, chosen at random.

        Rows are taken in the order of a random permutation of the points (``torch.randperm``
        with ``generator``), skipping rows equal to one already taken: a point is chosen
        with probability proportional to its multiplicity (Forgy's initialisation), and no
        two centres coincide. The layer has the dtype and device of X.

        Parameters
        ----------
        X : Tensor, shape (N, D)
            Floating point, finite, with at least ``n_clusters`` distinct rows.
        n_clusters : int
        temperature, kind, loss
            As for ``RBFClustering``.
        generator : torch.Generator, optional
            On the device of X; default torch's global generator.

        Examples
        --------
        >>> X = torch.tensor([[0.0], [0.0], [0.0], [1.0]])
        >>> layer = RBFClustering.from_data(X, 2, temperature=0.1)
        >>> sorted(layer.centres.flatten().tolist())
        [0.0, 1.0]
        """
        X = krbf_torch._floating_tensor(X, "X")
        validation.validate_points(X, "X")
        n_clusters = validation.validate_count(n_clusters, "n_clusters", minimum=1)
        with torch.no_grad():
            distinct, label = torch.unique(X.detach(), dim=0, return_inverse=True)
            if distinct.shape[0] < n_clusters:
                raise ValueError(
                    f"X has {distinct.shape[0]} distinct rows; n_clusters={n_clusters} "
                    "distinct centres cannot be chosen from it"
                )
            order = torch.randperm(X.shape[0], generator=generator, device=X.device)
            # first_seen[j]: the position in `order` of the first point equal to distinct[j].
            first_seen = torch.full(
                (distinct.shape[0],), X.shape[0], dtype=torch.long, device=X.device
            ).scatter_reduce(
                0, label[order], torch.arange(X.shape[0], device=X.device), reduce="amin"
            )
            chosen = torch.argsort(first_seen)[:n_clusters]
            initial = distinct[chosen]
        return cls(
            n_clusters,
            X.shape[1],
            temperature=temperature,
            kind=kind,
            loss=loss,
            centres=initial,
            dtype=X.dtype,
            device=X.device,
        )

    def reset_parameters(self, generator=None):
        """Draw the centres from the standard normal (torch.nn.init.normal_).

        Scale-dependent: it suits standardised data. Prefer ``from_data``, or copy
        centres in with ``centres=``.
        """
        with torch.no_grad():
            nn.init.normal_(self.centres, generator=generator)

    # --- hyperparameters ---------------------------------------------------------------

    @property
    def n_clusters(self):
        return self._n_clusters

    @property
    def n_features(self):
        return self._n_features

    @property
    def kind(self):
        return self._kind

    @property
    def loss(self):
        return self._loss

    @property
    def temperature(self):
        """T > 0 as a float (None for kind='hard' without one); settable, validated."""
        return self._temperature

    @temperature.setter
    def temperature(self, value):
        self._temperature = validation.validate_temperature(value, self._kind)

    # --- forward -----------------------------------------------------------------------

    def forward(self, X):
        """Responsibilities (N, K) and loss (0-d) of the points X (N, D); see the class doc."""
        X, C, dtype = krbf_torch._data_and_centres(X, self.centres)
        krbf_torch._validate_representable(self._temperature, dtype)
        r, value = krbf_torch._layer(X, C, self._temperature, self._kind, self._loss)
        return ClusteringOutput(krbf_torch._returned(r, dtype), krbf_torch._returned(value, dtype))

    def extra_repr(self):
        return (
            f"n_clusters={self._n_clusters}, n_features={self._n_features}, "
            f"temperature={self._temperature!r}, kind={self._kind!r}, loss={self._loss!r}"
        )
