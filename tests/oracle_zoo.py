"""The zoo that tests the oracle itself: which check must catch each broken variant.

``BROKEN``: realistic bugs (``variants.py``), each with the oracle checks that must fail on
it. ``DIFFERENT``: correct implementations that differ legitimately from the reference (tie
breaking, empty-cluster relocation, float32 arithmetic): every check must pass on them.
The variants follow the oracle's adapter protocol as they are; a worker process loads one
by its spec, e.g. ``variants:HANGS_ON_EMPTY_CLUSTER``.
"""

import variants as v

# name -> (variant, the checks that must fail)
BROKEN = {
    "farthest-centre": (v.FARTHEST_CENTRE, {"assign.nearest"}),
    "one-based-labels": (v.ONE_BASED_LABELS, {"assign.nearest"}),
    "first-feature-only": (v.FIRST_FEATURE_ONLY, {"assign.nearest", "lloyd_step.reference"}),
    "empty-cluster-nan": (v.EMPTY_CLUSTER_NAN, {"lloyd_step.empty-cluster"}),
    "empty-cluster-to-origin": (v.EMPTY_CLUSTER_TO_ORIGIN, {"lloyd_step.empty-cluster"}),
    "sums-not-means": (v.SUMS_NOT_MEANS, {"lloyd_step.reference"}),
    "one-iteration-too-many": (v.ONE_ITERATION_TOO_MANY, {"kmeans.reference"}),
    "loose-early-stop": (v.LOOSE_EARLY_STOP, {"kmeans.reference"}),
    "no-max-shift": (v.SOFTMAX_WITHOUT_SHIFT, {"responsibilities.extreme-temperature"}),
    "inverse-temperature": (v.TEMPERATURE_INVERTED, {"responsibilities.reference"}),
    "unsquared-distances": (v.UNSQUARED_DISTANCES, {"responsibilities.reference"}),
    "sparsemax-for-entmax": (v.SPARSEMAX_FOR_ENTMAX, {"entmax15.reference", "responsibilities.reference"}),
    "bisection-entmax": (v.BISECTION_ENTMAX, {"entmax15.reference"}),
    "entmax-nan-on-minus-inf": (v.ENTMAX_NAN_ON_MINUS_INF, {"entmax15.adversarial"}),
    "summed-objective": (v.OBJECTIVE_SUMMED, {"objective.reference"}),
    "free-energy-for-objective": (v.FREE_ENERGY_FOR_OBJECTIVE, {"objective.reference"}),
    "frozen-responsibilities": (v.FROZEN_RESPONSIBILITIES, {"gradient.reference"}),
    "missing-factor-two": (v.MISSING_FACTOR_TWO, {"gradient.reference"}),
    "silent-float32": (v.SILENT_FLOAT32, {"gradient.reference"}),
    "crashes-on-one-centre": (v.CRASHES_ON_ONE_CENTRE, {"assign.nearest"}),
}

DIFFERENT = {
    "highest-index-ties": v.HIGHEST_INDEX_TIES,
    "relocate-to-farthest-point": v.RELOCATE_TO_FARTHEST_POINT,
    "float32-arithmetic": v.FLOAT32_ARITHMETIC,
}
