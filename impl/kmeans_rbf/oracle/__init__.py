"""The conformance oracle: check anyone's k-means, soft k-means or entmax implementation.

An implementation under test is any object with some of the protocol's methods (``assign``,
``lloyd_step``, ``kmeans``, ``kmeans_fit``, ``responsibilities``, ``soft_step``, ``objective``,
``gradient``, ``entmax15``, ``sparsemax``; see ``kmeans_rbf.oracle.checks``).
``verify("module:attribute")`` runs every check, small and at scale, in a sandboxed worker
process, and returns a ``Report`` of verdicts: passed, failed, refused or not provided.
"""

from .checks import CHECKS, Check, Defect
from .runner import PROFILES, STATUSES, Report, Result, verify
from .sandbox import LoadError
from .scale import SCALE_CHECKS

__all__ = ["CHECKS", "SCALE_CHECKS", "Check", "Defect", "LoadError", "PROFILES", "STATUSES", "Report", "Result", "verify"]
