-- The incident indicator of the index: the family `[index] incident_family` names (or the
-- incident sources' only family), one row per zone x band x period. Other families stay
-- separate indicators (idx_incident_families, marts.incident_families): a rate of crime
-- reports and one of road incidents are never pooled into one.
with families as (
    select * from idx.idx_incident_families
),

chosen as (
    -- the configured family; else, with no incident source configured, the one family the
    -- warehouse holds (several unconfigured families: none is taken)
    select coalesce(
        $incident_family,
        (select min(incident_family) from families having count(distinct incident_family) = 1)
    ) as incident_family
),

final as (
    select f.*
    from families as f
    inner join chosen as c on c.incident_family = f.incident_family
)

select * from final
