"""Drawing helpers shared by the notebooks of ``notebooks/`` (matplotlib).

One look for the whole companion: a colour per kind (hard, softmax, entmax-1.5) and per
centre, the responsibilities of a grid of points over the plane as a picture, the exact
Voronoi edges of a set of centres, and a colour per verdict of the oracle and the registry.
Everything here draws; the numbers drawn are computed by the package
(``kmeans_rbf.reference``) in the notebooks.

Examples
--------
>>> import numpy as np
>>> points, shape, extent = grid((-1.0, 1.0, -1.0, 1.0), 3)
>>> points.shape, shape, extent
((9, 2), (3, 3), (-1.0, 1.0, -1.0, 1.0))
>>> voronoi_edges(np.array([[-1.0, 0.0], [1.0, 0.0]]), (-2.0, 2.0, -2.0, 2.0))
[((0, 1), array([[ 0., -2.],
       [ 0.,  2.]]))]
"""

import numpy as np

__all__ = [
    "KIND_COLOURS",
    "KIND_LABELS",
    "CENTRE_COLOURS",
    "STATUS_COLOURS",
    "grid",
    "extent_around",
    "responsibility_image",
    "voronoi_edges",
    "draw_voronoi_edges",
    "draw_data",
]

KIND_COLOURS = {"hard": "#222222", "softmax": "#1f77b4", "entmax15": "#d62728", "sparsemax": "#9467bd"}
KIND_LABELS = {"hard": "hard (K-Means)", "softmax": "softmax", "entmax15": "entmax-1.5", "sparsemax": "sparsemax"}
# Colour-blind-safe (Okabe-Ito) colours for centres 0, 1, 2, ...
CENTRE_COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"]
# Registry statuses and oracle verdicts.
STATUS_COLOURS = {
    "proved": "#1a9850", "verified": "#91cf60", "refuted": "#d73027", "open": "#fee08b",
    "passed": "#1a9850", "failed": "#d73027", "refused": "#fdae61", "not provided": "#e0e0e0",
}


def extent_around(points, padding=0.15):
    """``(xmin, xmax, ymin, ymax)`` around 2-D ``points``, widened by ``padding`` of the span.

    Examples
    --------
    >>> extent_around(np.array([[0.0, 0.0], [10.0, 2.0]]), padding=0.1)
    (-1.0, 11.0, -1.0, 3.0)
    """
    points = np.asarray(points, dtype=np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    pad = padding * np.maximum(high - low, 1e-12)
    pad = np.full(2, pad.max())
    return (float(low[0] - pad[0]), float(high[0] + pad[0]), float(low[1] - pad[1]), float(high[1] + pad[1]))


def grid(extent, resolution):
    """A ``resolution`` x ``resolution`` grid of points over ``extent = (xmin, xmax, ymin, ymax)``.

    Returns
    -------
    points : ndarray, shape (resolution**2, 2): row-major, y increasing down the rows of the
        image that ``reshape(shape)`` gives (draw with ``origin="lower"``).
    shape : (resolution, resolution)
    extent : the extent, as floats (for ``imshow(..., extent=extent, origin="lower")``).
    """
    xmin, xmax, ymin, ymax = (float(v) for v in extent)
    xs, ys = np.linspace(xmin, xmax, resolution), np.linspace(ymin, ymax, resolution)
    gx, gy = np.meshgrid(xs, ys)
    return np.c_[gx.ravel(), gy.ravel()], gx.shape, (xmin, xmax, ymin, ymax)


def responsibility_image(r, shape, colours=CENTRE_COLOURS):
    """An RGB image mixing the centres' colours by the responsibilities of each pixel.

    ``pixel = sum_k r_k colour_k``: a one-hot row shows its centre's colour, a soft row a
    blend. ``r`` has shape (P, K) with ``P = shape[0] * shape[1]``.

    Examples
    --------
    >>> responsibility_image(np.array([[1.0, 0.0]]), (1, 1), ["#ff0000", "#0000ff"]).tolist()
    [[[1.0, 0.0, 0.0]]]
    """
    from matplotlib.colors import to_rgb

    palette = np.array([to_rgb(colours[k % len(colours)]) for k in range(r.shape[1])])
    return np.clip(np.asarray(r) @ palette, 0.0, 1.0).reshape(*shape, 3)


def voronoi_edges(C, extent):
    """The edges of the Voronoi diagram of 2-D centres ``C`` inside ``extent``, exactly.

    The edge of cells j and k is the part of their bisector where j and k are nearest:
    along the bisector ``p(t) = (c_j + c_k)/2 + t u`` every condition ``d_j <= d_l`` and every
    side of ``extent = (xmin, xmax, ymin, ymax)`` is linear in t, so the edge is the segment
    of the t where all hold (empty if the cells do not meet inside the extent).

    Returns
    -------
    edges : list of ``((j, k), ends)``, ``ends`` an array (2, 2) of the segment's end points.
    """
    C = np.asarray(C, dtype=np.float64)
    xmin, xmax, ymin, ymax = extent
    edges = []
    for j in range(len(C)):
        for k in range(j + 1, len(C)):
            normal = C[k] - C[j]
            if not np.any(normal):
                continue  # coincident centres share their cell
            middle = (C[j] + C[k]) / 2
            u = np.array([-normal[1], normal[0]]) / np.linalg.norm(normal)
            # Conditions a t + b <= 0: d_j - d_l = -2 p.(c_j - c_l) + |c_j|^2 - |c_l|^2, and the box.
            conditions = [(-2 * u @ (C[j] - C[l]), -2 * middle @ (C[j] - C[l]) + C[j] @ C[j] - C[l] @ C[l])
                          for l in range(len(C)) if l not in (j, k)]
            conditions += [(-u[0], xmin - middle[0]), (u[0], middle[0] - xmax),
                           (-u[1], ymin - middle[1]), (u[1], middle[1] - ymax)]
            low, high = -np.inf, np.inf
            for a, b in conditions:
                if a > 0:
                    high = min(high, -b / a)
                elif a < 0:
                    low = max(low, -b / a)
                elif b > 0:
                    low, high = np.inf, -np.inf
            if low < high:
                edges.append(((j, k), middle + np.array([[low], [high]]) * u))
    return edges


def draw_voronoi_edges(axes, C, extent, **style):
    """Draw the Voronoi edges of ``C`` (see :func:`voronoi_edges`); returns the edges.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> figure, axes = plt.subplots()
    >>> C = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 2.0]])
    >>> len(draw_voronoi_edges(axes, C, (-1.0, 3.0, -1.0, 3.0)))   # three edges meet at a vertex
    3
    >>> draw_data(axes, np.array([[0.5, 0.5]]), C)
    >>> plt.close(figure)
    """
    style = {"color": "black", "linewidth": 1.2, **style}
    edges = voronoi_edges(C, extent)
    for index, (_, ends) in enumerate(edges):
        axes.plot(ends[:, 0], ends[:, 1], **({"label": "Voronoi edges"} if index == 0 else {}), **style)
    return edges


def draw_data(axes, X, C, *, point_size=14, label_centres=True):
    """The data (if any) as small grey dots and the centres as large coloured crosses, numbered."""
    X, C = np.asarray(X), np.asarray(C)
    if len(X):
        axes.scatter(X[:, 0], X[:, 1], s=point_size, c="#444444", edgecolors="white", linewidths=0.4, zorder=3, label="data")
    for k, centre in enumerate(C):
        colour = CENTRE_COLOURS[k % len(CENTRE_COLOURS)]
        axes.scatter(*centre, s=160, marker="X", c=colour, edgecolors="black", linewidths=1.0, zorder=4,
                     label="centres" if k == 0 else None)
        if label_centres:
            axes.annotate(f"$c_{k}$", centre, xytext=(6, 6), textcoords="offset points", fontsize=11, zorder=5)
