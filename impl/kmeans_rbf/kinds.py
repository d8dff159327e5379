"""The kinds of responsibilities, spelled once (``theory/conventions.md``, "The maps").

* ``hard``: one-hot on the nearest centre, ties to the lowest index (K-Means);
* ``softmax``: ``softmax(-d/T)``, the paper's RBF responsibilities;
* ``entmax15``: 1.5-entmax of ``-d/T``, sparse and exactly hard once every gap is >= 2T.

``MAPS`` are the maps from logits to the simplex that the package implements on their own
(``softmax``, ``entmax15`` and, as an extra, ``sparsemax``).

Default kinds (``hard`` for the functions that also define K-Means, ``softmax`` for those
that exist for the soft maps) and why: ``theory/conventions.md``, "Responsibilities".

Examples
--------
>>> KINDS
('hard', 'softmax', 'entmax15')
>>> SOFT_KINDS
('softmax', 'entmax15')
"""

__all__ = ["KINDS", "SOFT_KINDS", "MAPS"]

KINDS = ("hard", "softmax", "entmax15")
SOFT_KINDS = ("softmax", "entmax15")
MAPS = ("softmax", "entmax15", "sparsemax")
