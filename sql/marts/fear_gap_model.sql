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
        -- rounded: DuckDB's parallel sums make the inputs' last bits vary from build to
        -- build, and a published figure must be the same for the same data (vintages)
        round(estimate, 3) as estimate,
        round(ci_low, 3) as ci_low,
        round(ci_high, 3) as ci_high,
        n_cells,
        n_zones,
        n_zones_left_out,
        $is_synthetic as is_synthetic,
        $method_version as method_version,
    from terms
)

select * from final
order by time_band, term
