-- The fear-gap baseline as fitted: one row per band x term (intercept, log1p_incident_ratio,
-- lux_mean where the band measures it, one effect per month but the first), with the
-- estimate, its interval from the zone bootstrap, and the cells and zones it learnt from
-- (docs/methodology.md, "Fear gap"). Every figure comes from published cells only.
with terms as (
    select * from idx.idx_fear_gap_model
),

final as (
    select
        $city_id as city_id,
        time_band,
        term,
        estimate,
        ci_low,
        ci_high,
        n_cells,
        n_zones,
        n_zones_left_out,
        $is_synthetic as is_synthetic,
        $method_version as method_version,
    from terms
)

select * from final
order by time_band, term
