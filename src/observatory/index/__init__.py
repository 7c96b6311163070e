"""The perceived-security index: the Python half of the index layer.

The SQL models in `sql/index/` build the indicators per zone x time band x month; the steps
here add what SQL does poorly: small-cell suppression, empirical-Bayes shrinkage and the
modelled perception (scikit-learn), and the composite index with its Monte Carlo
uncertainty. `pipeline.build` runs both, in the order of `pipeline.INDEX_MODELS`, inside
one transaction. The method is documented in docs/methodology.md.
"""

from observatory.index.steps import METHOD_VERSION, PYTHON_STEPS, mart_params

__all__ = ["METHOD_VERSION", "PYTHON_STEPS", "mart_params"]
