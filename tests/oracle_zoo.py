"""The zoo that tests the oracle itself: which check must catch each broken variant.

``BROKEN``: realistic bugs (``variants.py``), each with the oracle checks that must fail on
it: gross bugs, bugs that live at scale (tile boundaries, offsets, near-ties, wide data),
cancellation and eps-biased distances, shape-specific bugs (N == K, D == 1), empty
clusters (in one step and in the middle of a run), refusals that must not hide a defect,
inputs modified in place, labels and inertia, half precision and tensors.
``DIFFERENT``: correct implementations that differ legitimately from the reference (tie
breaking, empty-cluster relocation, float32 arithmetic, the expansion done carefully, a
gradient that cancels to 0, refusals of documented limitations, torch tensors, another
entmax algorithm), each with the checks it legitimately refuses: every other check must
pass on it. The variants follow the oracle's adapter protocol as they are; a worker
process loads one by its spec, e.g. ``variants:HANGS_ON_EMPTY_CLUSTER``.
"""

import numpy as np
import variants as v

# name -> (variant, the checks that must fail)
BROKEN = {
    # gross bugs
    "farthest-centre": (v.FARTHEST_CENTRE, {"assign.nearest"}),
    "one-based-labels": (v.ONE_BASED_LABELS, {"assign.nearest"}),
    "first-feature-only": (v.FIRST_FEATURE_ONLY, {"assign.nearest", "lloyd_step.reference"}),
    "sums-not-means": (v.SUMS_NOT_MEANS, {"lloyd_step.reference"}),
    "one-iteration-too-many": (v.ONE_ITERATION_TOO_MANY, {"kmeans.reference"}),
    "loose-early-stop": (v.LOOSE_EARLY_STOP, {"kmeans.reference"}),
    "crashes-on-one-centre": (v.CRASHES_ON_ONE_CENTRE, {"assign.nearest"}),
    # maps and responsibilities
    "no-max-shift": (v.SOFTMAX_WITHOUT_SHIFT, {"responsibilities.extreme-temperature"}),
    "inverse-temperature": (v.TEMPERATURE_INVERTED, {"responsibilities.reference"}),
    "squared-temperature": (v.TEMPERATURE_SQUARED, {"responsibilities.reference"}),
    "rbf-width-for-temperature": (v.TEMPERATURE_DOUBLED, {"responsibilities.reference"}),
    "logits-sign-flipped": (v.LOGITS_SIGN_FLIPPED, {"responsibilities.reference"}),
    "unsquared-distances": (v.UNSQUARED_DISTANCES, {"responsibilities.reference"}),
    "entmax-floored": (v.ENTMAX_FLOORED, {"responsibilities.reference"}),
    "sparsemax-for-entmax": (v.SPARSEMAX_FOR_ENTMAX, {"entmax15.reference", "responsibilities.reference"}),
    "bisection-entmax": (v.BISECTION_ENTMAX, {"entmax15.reference"}),
    "entmax-nan-on-minus-inf": (v.ENTMAX_NAN_ON_MINUS_INF, {"entmax15.adversarial"}),
    "sparsemax-off-by-one": (v.SPARSEMAX_OFF_BY_ONE, {"sparsemax.reference"}),
    "entmax-for-sparsemax": (v.ENTMAX_FOR_SPARSEMAX, {"sparsemax.reference"}),
    "axis-ignored": (v.AXIS_IGNORED, {"entmax15.axis"}),
    "float16-without-shift": (v.FLOAT16_WITHOUT_SHIFT, {"responsibilities.reference"}),
    # objectives and gradients
    "summed-objective": (v.OBJECTIVE_SUMMED, {"objective.reference"}),
    "free-energy-for-objective": (v.FREE_ENERGY_FOR_OBJECTIVE, {"objective.reference"}),
    "softmax-over-points": (v.SOFTMAX_OVER_POINTS, {"objective.reference"}),
    "unsquared-objective": (v.OBJECTIVE_UNSQUARED, {"objective.reference"}),
    "frozen-responsibilities": (v.FROZEN_RESPONSIBILITIES, {"gradient.reference"}),
    "missing-factor-two": (v.MISSING_FACTOR_TWO, {"gradient.reference"}),
    "gradient-wrong-sign": (v.GRADIENT_WRONG_SIGN, {"gradient.reference"}),
    "silent-float32": (v.SILENT_FLOAT32, {"gradient.reference"}),
    # soft steps
    "soft-step-mirrored": (v.SOFT_STEP_MIRRORED, {"soft_step.reference"}),
    "soft-step-unnormalised": (v.SOFT_STEP_UNNORMALISED, {"soft_step.reference"}),
    "soft-step-kind-ignored": (v.KIND_IGNORED, {"soft_step.reference"}),
    "soft-step-underflows": (v.SOFT_STEP_UNDERFLOWS, {"soft_step.extreme-temperature"}),
    # scale: tile boundaries, offsets, near-ties, eps-biased distances
    "expansion-float64": (v.EXPANSION_FLOAT64, {"scale.assign"}),
    "expansion-float32": (v.EXPANSION_FLOAT32, {"scale.assign", "scale.lloyd_step"}),
    "cdist-soft-kmeans": (v.CDIST_SOFT_KMEANS, {"scale.responsibilities"}),
    "eps-in-distances": (v.EPS_IN_DISTANCES, {"scale.assign"}),
    "features-beyond-one-tile": (v.FEATURES_BEYOND_ONE_TILE_IGNORED, {"scale.assign"}),
    "last-chunk-dropped": (v.LAST_CHUNK_DROPPED, {"scale.assign"}),
    # shapes
    "wrong-axis-when-square": (v.WRONG_AXIS_WHEN_SQUARE, {"responsibilities.square"}),
    "refuses-more-centres-squeezes-one-feature": (v.REFUSES_MORE_CENTRES_SQUEEZES_ONE_FEATURE, {"lloyd_step.reference"}),
    # empty clusters, in one step and mid-run
    "empty-cluster-nan": (v.EMPTY_CLUSTER_NAN, {"lloyd_step.empty-cluster", "kmeans.reference"}),
    "empty-cluster-to-origin": (v.EMPTY_CLUSTER_TO_ORIGIN, {"lloyd_step.empty-cluster"}),
    "no-update-with-an-empty-cluster": (v.NO_UPDATE_WITH_AN_EMPTY_CLUSTER, {"lloyd_step.empty-cluster"}),
    "restarts-when-a-cluster-empties": (v.RESTARTS_WHEN_A_CLUSTER_EMPTIES, {"kmeans.reference"}),
    "refuses-one-centre-nan-on-empty": (v.REFUSES_ONE_CENTRE_NAN_ON_EMPTY, {"lloyd_step.empty-cluster"}),
    # runs, labels and inertia
    "zero-iterations-run-one": (v.ZERO_ITERATIONS_RUN_ONE, {"kmeans.zero-iterations"}),
    "labels-before-the-last-update": (v.LABELS_BEFORE_THE_LAST_UPDATE, {"kmeans_fit.labels-and-inertia"}),
    "inertia-as-a-mean": (v.INERTIA_AS_A_MEAN, {"kmeans_fit.labels-and-inertia"}),
    # inputs modified in place, tensors of the wrong dtype
    "relocation-empties-its-donor": (v.RELOCATION_EMPTIES_ITS_DONOR, {"lloyd_step.empty-cluster"}),
    "mutates-centres": (v.MUTATES_CENTRES, {"lloyd_step.reference"}),
    "mutates-logits": (v.MUTATES_LOGITS, {"entmax15.reference"}),
    "tensor-result-in-float32": (v.TENSOR_RESULT_IN_FLOAT32, {"lloyd_step.reference"}),
}

# name -> (variant, the checks it legitimately refuses); every other applicable check passes
DIFFERENT = {
    "highest-index-ties": (v.HIGHEST_INDEX_TIES, set()),
    "relocate-to-farthest-point": (v.RELOCATE_TO_FARTHEST_POINT, set()),
    "float32-arithmetic": (v.FLOAT32_ARITHMETIC, set()),
    "careful-expansion-float32": (v.CAREFUL_EXPANSION_FLOAT32, set()),
    "careful-expansion-float64": (v.CAREFUL_EXPANSION_FLOAT64, set()),
    "gradient-by-moments": (v.GRADIENT_BY_MOMENTS, set()),
    "refuses-limitations": (v.REFUSES_LIMITATIONS, {"lloyd_step.more-centres-than-points", "kmeans.zero-iterations",
                                                    "lloyd_step.reference", "scale.lloyd_step", "kmeans.reference",
                                                    "kmeans_fit.labels-and-inertia", "lloyd_step.empty-cluster",
                                                    "scale.kmeans", "scale.kmeans_fit"}),
    "torch-tensors": (v.TORCH_TENSORS, set()),
    "torch-float16": (v.TORCH_FLOAT16, set()),
    "float32-soft-step": (v.FLOAT32_SOFT_STEP, set()),
    "relocate-taking-points": (v.RELOCATE_TAKING_POINTS, set()),
    "entmax-by-bisection": (v.ENTMAX_BY_BISECTION, set()),
}

# The oracle's own errors, found through the peers (docs/findings.md, O6 to O8) and
# mended: name -> (variant, check id, the input that showed the error, the verdict it must
# get). A correct implementation it failed was a false alarm; a bug it passed, a missed
# defect.
ORACLE_MENDED = {
    # O6: a centre whose softmax mass the allowance cannot decide (T = 1e-12) had to be kept
    # or in the data's bounding box with no rounding slack; K = 1 (weights exactly 1), three
    # copies of one float32 value: the float32 mean is one ulp outside the degenerate box.
    "float32-soft-step-degenerate-box": (
        v.FLOAT32_SOFT_STEP, "soft_step.extreme-temperature",
        {"problem": (np.full((3, 1), 0.8276661706917892), np.array([[1.3276661706917892]]), 1e-12), "kind": "softmax"}, "passed"),
    # O7: four empty cells relocated onto four copies of 20 taken from one cell (as
    # scikit-learn does): the search for the moved points tried only the first 64 tuples of
    # a product, all of which repeat a point.
    "relocation-onto-duplicate-points": (
        v.RELOCATE_TAKING_POINTS, "lloyd_step.empty-cluster",
        {"problem": (np.array([[20.0]] * 7 + [[21.0]]), np.array([[20.636961687321453], [5.33491706909968], [33.49004789345889],
                                                           [34.472934175193444], [8.28796175559807]]), 1.0)}, "passed"),
    # O8: a relocation that empties its donor cell: the donor's centre was not checked at all
    # (here it goes to the origin, outside the data [20, 32]).
    "relocation-empties-its-donor": (
        v.RELOCATION_EMPTIES_ITS_DONOR, "lloyd_step.empty-cluster",
        {"problem": (np.array([[20.0], [30.0], [31.0], [32.0]]), np.array([[15.0], [120.0], [31.0]]), 1.0)}, "failed"),
}
