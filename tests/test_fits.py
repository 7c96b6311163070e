"""The perception model's kept fits (observatory.index.fits): loaded only when they can be
trusted, and then they predict as the fit they were."""

from __future__ import annotations

import functools

import duckdb
import numpy as np
import pytest
import skops.io

from observatory.index import fits
from observatory.index.models import perception_model


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema idx")
    return con


def _fitted(seed: int = 4):  # noqa: ANN202
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x @ np.array([3.0, -2.0, 1.0]) + rng.normal(size=400)
    return perception_model(seed).fit(x, y), x


def test_a_kept_fit_predicts_as_the_fit_it_was(con: duckdb.DuckDBPyConnection) -> None:
    model, x = _fitted()
    fits.keep(con, "h1", {"model": model})
    loaded = fits.load(con, "h1", {"model": perception_model(4)})
    np.testing.assert_array_equal(loaded["model"].predict(x), model.predict(x))
    assert fits.load(con, "other cells", {"model": perception_model(4)}) == {}


def test_a_fit_naming_an_untrusted_type_is_not_loaded(
    con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    fits.keep(con, "h1", {})
    evil = skops.io.dumps(functools.partial(print, "ran"))  # loading would call print
    con.execute(f"insert into idx.{fits.TABLE} values ('h1', 'model', ?, ?)", [_version(), evil])
    assert fits.load(con, "h1", {"model": perception_model(4)}) == {}
    assert "names types it may not" in caplog.text


def test_a_damaged_fit_is_fitted_again(
    con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    model, _ = _fitted()
    fits.keep(con, "h1", {"model": model})
    (blob,) = con.execute(f"select fit from idx.{fits.TABLE}").fetchone()
    con.execute(f"update idx.{fits.TABLE} set fit = ?", [bytes(blob)[: len(blob) // 2]])
    assert fits.load(con, "h1", {"model": perception_model(4)}) == {}
    assert "cannot be read" in caplog.text


def test_a_fit_of_other_settings_or_another_version_is_not_loaded(
    con: duckdb.DuckDBPyConnection,
) -> None:
    model, _ = _fitted(seed=5)
    fits.keep(con, "h1", {"model": model})
    assert fits.load(con, "h1", {"model": perception_model(4)}) == {}  # random_state 5
    assert fits.load(con, "h1", {"model": perception_model(5)}) != {}
    con.execute(f"update idx.{fits.TABLE} set sklearn_version = '0.1'")
    assert fits.load(con, "h1", {"model": perception_model(5)}) == {}


def _version() -> str:
    import sklearn  # noqa: PLC0415

    return sklearn.__version__
