-- Direct (raw) perception estimate per zone x band x period: the design-weighted mean score
-- (0-100, higher = safer) with Kish's effective sample size and the within-cell variance,
-- from which the Fay-Herriot step derives pooled sampling variances (docs/methodology.md).
-- Pre-aggregated rows add their respondents and weight but no within-cell variance.
-- perception_score here is the raw (direct) mean; the published one is shrunk (idx_perception_eb).
-- The variance is computed in two passes (squared deviations from the mean), which is exact
-- where everyone gave the same answer and does not depend on the order of the sums.
with units as (
    select * from idx.idx_respondents
),

moments as (
    select
        zone_id,
        time_band,
        period_start,
        cast(sum(n_people) as bigint) as n_respondents,
        count(*) as n_units,
        sum(weight) as sum_weight,
        sum(weight_sq) as sum_weight_sq,
        sum(weight * score) / sum(weight) as mean_score,
        -- share of the cell's weight from answers that name no time of day (band 'any')
        sum(weight) filter (where from_any_band) / sum(weight) as any_band_share,
        sum(weight) filter (where not is_aggregate) as individual_weight,
        sum(weight * weight) filter (where not is_aggregate) as individual_weight_sq,
        sum(weight * score) filter (where not is_aggregate)
            / sum(weight) filter (where not is_aggregate) as individual_mean,
    from units
    group by all
),

spread as (
    select
        u.zone_id,
        u.time_band,
        u.period_start,
        sum(u.weight * pow(u.score - m.individual_mean, 2)) / any_value(m.individual_weight)
            as biased_var,
    from units as u
    inner join moments as m
        on m.zone_id = u.zone_id
        and m.time_band = u.time_band
        and m.period_start = u.period_start
    where not u.is_aggregate
    group by u.zone_id, u.time_band, u.period_start
),

-- Ultimate-cluster variance of a cell's mean where the survey names its PSUs: the PSU
-- totals of the linearised mean, z_c = sum(w (y - mean)) / sum(w), vary between PSUs by
-- n_c / (n_c - 1) * sum(z_c^2) (they sum to zero). The index step pools it into a design
-- effect per band-month (one cell's 4 PSUs are too few to trust alone).
psu_totals as (
    select
        u.zone_id,
        u.time_band,
        u.period_start,
        u.cluster_id,
        sum(u.weight * (u.score - m.individual_mean)) / any_value(m.individual_weight) as z,
    from units as u
    inner join moments as m
        on m.zone_id = u.zone_id
        and m.time_band = u.time_band
        and m.period_start = u.period_start
    where not u.is_aggregate and u.cluster_id is not null
    group by u.zone_id, u.time_band, u.period_start, u.cluster_id
),

clusters as (
    select
        zone_id,
        time_band,
        period_start,
        count(*) as n_clusters,
        case when count(*) > 1 then count(*) / (count(*) - 1.0) * sum(z * z) end
            as cluster_var,
    from psu_totals
    group by all
),

with_variance as (
    select
        m.*,
        s.biased_var,
        m.sum_weight * m.sum_weight / m.sum_weight_sq as n_effective,
        m.individual_weight * m.individual_weight / m.individual_weight_sq
            as individual_n_effective,
        k.n_clusters,
        k.cluster_var,
    from moments as m
    left join spread as s
        on s.zone_id = m.zone_id
        and s.time_band = m.time_band
        and s.period_start = m.period_start
    left join clusters as k
        on k.zone_id = m.zone_id
        and k.time_band = m.time_band
        and k.period_start = m.period_start
),

final as (
    select
        zone_id,
        time_band,
        period_start,
        n_respondents,
        n_units,
        n_effective,
        sum_weight,
        mean_score as perception_score,
        coalesce(any_band_share, 0.0) as any_band_share,
        case
            when individual_n_effective > 1.0
                then biased_var * individual_n_effective / (individual_n_effective - 1.0)
        end as within_var,
        case
            when individual_n_effective > 1.0
                then sqrt(biased_var * individual_n_effective / (individual_n_effective - 1.0)
                    / n_effective)
        end as perception_se,
        coalesce(n_clusters, 0) as n_clusters,
        cluster_var,
    from with_variance
)

select * from final
