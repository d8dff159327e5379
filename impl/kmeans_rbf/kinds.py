"""The kinds of responsibilities, spelled once (``theory/conventions.md``, "The maps").

* ``hard``: one-hot on the nearest centre, ties to the lowest index (K-Means);
* ``softmax``: ``softmax(-d/T)``, the paper's RBF responsibilities;
* ``entmax15``: 1.5-entmax of ``-d/T``, sparse and exactly hard once every gap is >= 2T.

``MAPS`` are the maps from logits to the simplex that the package implements on their own
(``softmax``, ``entmax15`` and, as an extra, ``sparsemax``).

Default kinds. Functions that define K-Means as well as its soft relatives
(``responsibilities``, ``objective``, ``gradient``) default to ``kind="hard"``, so that with
no temperature they are K-Means. Functions that exist for the soft maps (``free_energy``,
``free_energy_gradient``, ``soft_step``, ``anneal``) default to ``kind="softmax"``, the
paper's map; their hard kind (where offered) is the T -> 0 limit, e.g. ``F_0 = J``.

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
