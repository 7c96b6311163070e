"""The perception model's fitted models, kept between builds (issue 18).

The perception model trains on final months only, so while only the month still being
delivered changes, a daily build would fit the same three models again (the point model
and its two quantile bounds: 0.6 s of a one-day increment). An incremental build whose
training cells are unchanged (`increment.unchanged`) loads them instead; a fit is
deterministic (a fixed `random_state`), so the predictions are a refit's to the last bit.

They are kept in `idx.idx_perception_fits` in skops's format (`skops.io`), not pickle: a
pickle runs whatever code its bytes name when it is loaded, so anyone able to write to the
warehouse could run code in the next build. skops loads only the types it is told to
trust: here its defaults (NumPy, the scikit-learn estimator) and scikit-learn's tree
nodes (`TRUSTED`). A kept fit naming any other type, made by another scikit-learn
version, or whose settings are not the model's, is not loaded: the build fits again.
"""

from __future__ import annotations

import logging

import duckdb
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor

from observatory.warehouse import table_exists

log = logging.getLogger(__name__)

TABLE = "idx_perception_fits"
#: What a kept fit may hold beyond skops's default trusted types.
TRUSTED = frozenset({"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})


def keep(
    con: duckdb.DuckDBPyConnection,
    input_hash: str,
    models: dict[str, HistGradientBoostingRegressor],
) -> None:
    """Replace the kept fits with `models` (by name), fitted on the cells of `input_hash`."""
    import skops.io  # noqa: PLC0415 (a build that keeps no fit does not need it)

    con.execute(
        f"create or replace table idx.{TABLE} "
        "(input_hash varchar, name varchar, sklearn_version varchar, fit blob)"
    )
    if models:
        con.executemany(
            f"insert into idx.{TABLE} values (?, ?, ?, ?)",  # noqa: S608 (table name from code)
            [[input_hash, n, sklearn.__version__, skops.io.dumps(m)] for n, m in models.items()],
        )


def load(
    con: duckdb.DuckDBPyConnection,
    input_hash: str,
    expected: dict[str, HistGradientBoostingRegressor],
) -> dict[str, HistGradientBoostingRegressor]:
    """The kept fits of `input_hash` whose names are in `expected` (unfitted models with
    the settings each must have); those that cannot be trusted are left out (the
    caller fits them)."""
    if not table_exists(con, "idx", TABLE):
        return {}
    import skops.io  # noqa: PLC0415
    from skops.io.exceptions import UntrustedTypesFoundException  # noqa: PLC0415

    rows = con.execute(
        f"select name, sklearn_version, fit from idx.{TABLE} where input_hash = ?",  # noqa: S608 (table name from code)
        [input_hash],
    ).fetchall()
    out: dict[str, HistGradientBoostingRegressor] = {}
    for name, version, blob in rows:
        if name not in expected or version != sklearn.__version__:
            continue
        try:  # skops refuses, before building anything, a file naming an untrusted type
            model = skops.io.loads(bytes(blob), trusted=sorted(TRUSTED))
        except UntrustedTypesFoundException as refused:
            log.warning(
                "perception model: the kept fit %r names types it may not (%s): fitted again",
                name,
                refused,
            )
            continue
        except Exception as broken:  # noqa: BLE001 (a damaged file is fitted again, whatever broke)
            log.warning(
                "perception model: the kept fit %r cannot be read (%s): fitted again", name, broken
            )
            continue
        if type(model) is not HistGradientBoostingRegressor or (
            model.get_params() != expected[name].get_params()
        ):
            log.warning("perception model: the kept fit %r has other settings: fitted again", name)
            continue
        out[name] = model
    return out
