"""The network warehouse's tables, assembled from the estimates (docs/tables.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from observatory.network import estimate as est
from observatory.network.core_items import BAND_ITEMS

if TYPE_CHECKING:
    from observatory.network.build import CityData, Estimates
    from observatory.network.config import NetworkConfig

TABLES = ("network_members", "network_cities", "network_ranks", "network_coverage")


def _r(x: Any, digits: int = 1) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def assemble(net: NetworkConfig, data: list[CityData], e: Estimates) -> dict[str, pd.DataFrame]:
    """Every network table as a frame, in column order."""
    level = net.method.confidence
    return {
        "network_members": _members(net, data),
        "network_cities": _cities(net, data, e, level),
        "network_ranks": _ranks(net, data, e, level),
        "network_coverage": _coverage(net, data),
    }


def _members(net: NetworkConfig, data: list[CityData]) -> pd.DataFrame:
    rows = []
    for d in data:
        cfg = d.member.cfg
        rows.append(
            {
                "network_id": net.network.id,
                "city_id": d.member.city_id,
                "city_name": d.member.city_name,
                "project_file": str(d.member.path),
                "is_compared": d.member.problem is None,
                "reason": d.member.problem,
                "language": cfg.report.language if cfg else None,
                "timezone": cfg.city.timezone if cfg else None,
                "latitude": cfg.city.latitude if cfg else None,
                "longitude": cfg.city.longitude if cfg else None,
                "n_zones": d.n_zones if cfg else None,
                "core_day_items": _items(d, "day"),
                "core_night_items": _items(d, "night"),
                "is_synthetic": bool(cfg.city.synthetic) if cfg else net.network.synthetic,
            }
        )
    return pd.DataFrame(rows)


def _items(d: CityData, band: str) -> list[str]:
    return [f"{s}.{i}" for s, i in d.member.core_map.get(BAND_ITEMS[band], [])]


def _cities(net: NetworkConfig, data: list[CityData], e: Estimates, level: float) -> pd.DataFrame:
    rows = []
    ratio_low, ratio_high = est.interval(e.ratio_draws, level)
    comp_low, comp_high = est.interval(e.composite_draws, level)
    for c, d in enumerate(data):
        perc = e.perception[c]
        low, high = est.interval(perc.draws, level)
        gap_ok = e.published[c].all(axis=0)
        gap = perc.point[1] - perc.point[0]
        gap_low, gap_high = est.interval(perc.draws[:, 1] - perc.draws[:, 0], level)
        for b, band in enumerate(est.BANDS):
            for t, period in enumerate(e.periods):
                ok, covered = bool(e.published[c, b, t]), bool(np.isfinite(e.ratio[c, b, t]))
                comp_ok = bool(e.composite_ok[c, b, t])
                rows.append(
                    {
                        "network_id": net.network.id,
                        "city_id": d.member.city_id,
                        "city_name": d.member.city_name,
                        "time_band": band,
                        "period_start": period.date(),
                        "core_item_id": BAND_ITEMS[band],
                        "n_respondents": int(perc.n_respondents[b, t]) if ok else None,
                        "n_effective": _r(perc.n_effective[b, t]) if ok else None,
                        "is_published": ok,
                        "reason": e.reasons[c, b, t],
                        "perception": _r(perc.point[b, t]) if ok else None,
                        "perception_ci_low": _r(low[b, t]) if ok else None,
                        "perception_ci_high": _r(high[b, t]) if ok else None,
                        "perception_gap": _r(gap[t]) if gap_ok[t] else None,
                        "perception_gap_ci_low": _r(gap_low[t]) if gap_ok[t] else None,
                        "perception_gap_ci_high": _r(gap_high[t]) if gap_ok[t] else None,
                        "is_gap_significant": bool(
                            gap_ok[t] and (gap_low[t] > 0 or gap_high[t] < 0)
                        ),
                        "has_incident_coverage": covered,
                        "incident_ratio": _r(e.ratio[c, b, t], 3) if covered else None,
                        "incident_ratio_ci_low": _r(ratio_low[c, b, t], 3) if covered else None,
                        "incident_ratio_ci_high": _r(ratio_high[c, b, t], 3) if covered else None,
                        "composite": _r(e.composite[c, b, t]) if comp_ok else None,
                        "composite_ci_low": _r(comp_low[c, b, t]) if comp_ok else None,
                        "composite_ci_high": _r(comp_high[c, b, t]) if comp_ok else None,
                        "composite_reason": (
                            None if comp_ok else _composite_reason(net, ok, covered)
                        ),
                        "is_synthetic": _synthetic(net, d),
                    }
                )
    return pd.DataFrame(rows)


def _composite_reason(net: NetworkConfig, perception_ok: bool, covered: bool) -> str:
    if not perception_ok:
        return "no published core-item perception"
    if not covered:
        return f"no {net.method.incident_family!r} incident source covers this month"
    return "the reference period has no incident coverage in this band"


def _synthetic(net: NetworkConfig, d: CityData) -> bool:
    return bool(d.member.cfg.city.synthetic) if d.member.cfg else net.network.synthetic


def _ranks(net: NetworkConfig, data: list[CityData], e: Estimates, level: float) -> pd.DataFrame:
    columns = [
        "network_id", "measure", "time_band", "period_start", "city_id", "value", "rank",
        "rank_ci_low", "rank_ci_high", "n_ranked", "is_synthetic",
    ]  # fmt: skip
    if not data:
        return pd.DataFrame(columns=columns)
    point = np.stack([p.point for p in e.perception])
    draws = np.stack([p.draws for p in e.perception], axis=1)
    measures = {
        "perception": (point, draws, e.published),
        "composite": (e.composite, e.composite_draws, e.composite_ok),
    }
    rows = []
    for measure, (values, drawn, ok) in measures.items():
        # cities on the last axis: (2, P, C) and (R, 2, P, C)
        rank, low, high, n = est.rank_table(
            np.moveaxis(values, 0, -1),
            np.moveaxis(drawn, 1, -1),
            np.moveaxis(ok, 0, -1),
            level,
        )
        for c, d in enumerate(data):
            for b, band in enumerate(est.BANDS):
                for t, period in enumerate(e.periods):
                    if not ok[c, b, t]:
                        continue
                    rows.append(
                        {
                            "network_id": net.network.id,
                            "measure": measure,
                            "time_band": band,
                            "period_start": period.date(),
                            "city_id": d.member.city_id,
                            "value": _r(values[c, b, t]),
                            "rank": int(rank[b, t, c]),
                            "rank_ci_low": int(low[b, t, c]),
                            "rank_ci_high": int(high[b, t, c]),
                            "n_ranked": int(n[b, t, c]),
                            "is_synthetic": _synthetic(net, d),
                        }
                    )
    return pd.DataFrame(rows, columns=columns)


def _coverage(net: NetworkConfig, data: list[CityData]) -> pd.DataFrame:
    frames = []
    for d in data:
        if d.coverage.empty:
            frame = pd.DataFrame(
                [{"source_name": None, "source_kind": None, "reason": d.member.problem}]
            )
        else:
            frame = d.coverage.assign(reason=None)
        frames.append(frame.assign(network_id=net.network.id, city_id=d.member.city_id))
    columns = [
        "network_id", "city_id", "source_name", "source_kind", "incident_family",
        "first_period", "last_period", "n_periods", "core_items", "reason",
    ]  # fmt: skip
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return out.reindex(columns=columns)
