-- The grid every index table is built on: each zone x time band x period that has any data
-- in the city, so that a zone with no incidents shows 0 rather than disappearing.
with zones as (
    select zone_id from ref.zones
),

bands as (
    select unnest(['day', 'night']) as time_band
),

periods as (
    select period_start from staging.stg_survey
    union
    select period_start from staging.stg_incidents
    union
    -- the periods of every sensor reading, read from its aggregate (one row per zone, band
    -- and period) instead of a second pass over the largest feed
    select period_start from idx.idx_environment
),

final as (
    select
        z.zone_id,
        b.time_band,
        p.period_start,
    from zones as z
    cross join bands as b
    cross join periods as p
)

select * from final
