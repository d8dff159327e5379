"""A ready-made conformance test module: the implementation comes from ``$KMEANS_RBF_TARGET``.

    KMEANS_RBF_TARGET=mypackage.adapters:MyKMeans pytest --pyargs kmeans_rbf.oracle.conformance
"""

from .pytest_route import conformance_checks


@conformance_checks()
def test_conformance(check):
    check()
