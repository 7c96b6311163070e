-- The intervention register as published: one row per intervention, with its treated
-- zones and dates (docs/interventions.md). Declared in the project file or a register file.
with register as (
    select * from ref.interventions
),

final as (
    select
        $city_id as city_id,
        intervention_id,
        intervention_name,
        intervention_type,
        zone_ids,
        len(zone_ids) as n_zones,
        start_date,
        end_date,
        description,
        budget,
        currency,
        zones_from,
        declared_in,
        $is_synthetic as is_synthetic,
    from register
)

select * from final
order by start_date, intervention_id
