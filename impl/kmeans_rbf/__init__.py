"""kmeans-rbf: K-Means as a radial basis function network, verified.

``kmeans_rbf.reference`` is the NumPy ground truth (float64); ``kmeans_rbf.torch`` has the
same names for torch tensors (CPU/GPU, differentiable). See ``theory/conventions.md`` and
the theory notes for the mathematics.
"""

__version__ = "0.1.0"
