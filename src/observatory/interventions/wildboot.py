"""The wild cluster bootstrap test of an intervention's effect (pyfixest + wildboottest).

`WildBootstrapTest` tests "the effect equals `value`" with the wild cluster
restricted bootstrap (WCR: the null imposed, Webb's six-point weights, clusters = zones),
the test MacKinnon and Webb recommend when clusters, and treated clusters, are few. The
interval of `observatory.interventions.estimate` is the set of values it does not reject.

wildboottest 0.3.2 wraps its inner loop in a numba function defined inside the method, so
numba compiles it afresh on every call (0.7 s of a 0.73 s call): `_compiled_once` keeps
one compiled kernel per function, which makes an interval's dozens of tests affordable.
The bootstrap itself is the library's, unchanged.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

_KERNELS: dict[tuple[Any, ...], Callable[..., Any]] = {}
_LOCK = threading.Lock()


def _compiled_once(*args: Any, **options: Any) -> Callable[..., Any]:
    """`numba.njit(**options)` that compiles each function (by its code) only once."""
    import numba  # noqa: PLC0415

    if args and callable(args[0]):  # used bare: @njit
        return _compiled_once(**options)(args[0])

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        key = (func.__code__, tuple(sorted(options.items())))
        with _LOCK:
            if key not in _KERNELS:
                _KERNELS[key] = numba.njit(**options)(func)
            return _KERNELS[key]

    return decorate


def _install() -> None:
    from wildboottest import wildboottest as module  # noqa: PLC0415

    if module.njit is not _compiled_once:
        module.njit = _compiled_once


class WildBootstrapTest:
    """The WCR bootstrap test of one coefficient of `y ~ param | zone + t`, for any value.

    The design (the regressor and the zone and month effects as indicator columns, as
    pyfixest's own `Feols.wildboottest` builds it) is made once; each tested value shifts
    the outcome by value x regressor (the library tests "= 0" only), so an interval's
    dozens of tests cost milliseconds each.

    Args:
        cells: the comparison's cells with y, the regressor `param`, zone and t.
        param: the regressor: `is_post` (the effect) or a pre-trend term.
        reps: bootstrap replications.
        seed: the bootstrap's seed (the same data give the same p-values).
    """

    def __init__(self, cells: pd.DataFrame, param: str, reps: int, seed: int) -> None:
        _install()
        regressor = cells[param].to_numpy(dtype=float)
        zones = pd.get_dummies(cells["zone"], prefix="zone", dtype=float)
        months = pd.get_dummies(cells["t"], prefix="t", drop_first=True, dtype=float)
        self._x = np.column_stack([regressor, zones.to_numpy(), months.to_numpy()])
        self._y = cells["y"].to_numpy(dtype=float)
        self._regressor = regressor
        self._cluster = cells["zone"].to_numpy()
        self._reps, self._seed = reps, seed

    def p_value(self, value: float) -> float:
        """Two-sided p-value of "the coefficient equals `value`" (Webb weights, null imposed)."""
        from wildboottest.wildboottest import WildboottestCL  # noqa: PLC0415

        restriction = np.zeros(self._x.shape[1])
        restriction[0] = 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            boot = WildboottestCL(
                X=self._x,
                Y=self._y - value * self._regressor,
                cluster=self._cluster,
                R=restriction,
                B=self._reps,
                seed=self._seed,
                parallel=False,
            )
            boot.get_scores(bootstrap_type="11", impose_null=True, adj=True, cluster_adj=True)
            boot.get_weights(weights_type="webb")
            boot.get_numer()
            boot.get_denom()
            boot.get_tboot()
            boot.get_vcov()
            boot.get_tstat()
            boot.get_pvalue(pval_type="two-tailed")
        return float(np.asarray(boot.pvalue).ravel()[0])
