"""The conformance oracle: check anyone's k-means, soft k-means or entmax implementation.

An implementation under test is any object with some of ``assign``, ``lloyd_step``,
``kmeans``, ``responsibilities``, ``entmax15``, ``objective``, ``gradient`` (and optionally
``dtype`` and ``name``); see ``kmeans_rbf.oracle.checks`` for what each check demands.
``verify("module:attribute")`` runs every check in a sandboxed worker process.
"""

from .checks import CHECKS, Check, Defect
from .runner import PROFILES, Report, Result, verify

__all__ = ["CHECKS", "Check", "Defect", "PROFILES", "Report", "Result", "verify"]
