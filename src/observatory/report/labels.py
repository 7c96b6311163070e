"""The report's wording: built-in English and Italian labels, overridable per city.

A city's `[report]` table picks the language (`language = "it"`) and may replace any label
by key (`labels = { title = "..." }`), so a partner city can publish in its own language
without touching code. `{name}` placeholders are filled in by the report's script.
"""

from __future__ import annotations

from observatory.config import ConfigError, ReportConfig

LABELS_EN: dict[str, str] = {
    "title": "Perceived security report",
    "period": "Period",
    "synthetic_banner": "SYNTHETIC DATA: every figure in this report is made up (demo city), "
    "not observed.",
    "synthetic_mark": "SYNTHETIC",
    "provisional_banner": "PROVISIONAL: this month is not final ({sources}). Its figures "
    "will change when the rest of its data arrives.",
    "provisional_open": "the month has not ended",
    "band": "Time band",
    "day": "Day",
    "night": "Night",
    "scale_note": "Index 0-100: higher = feels safer.",
    "map_title": "Map: the index by zone",
    "legend_withheld": "Withheld: too few respondents",
    "legend_modelled": "Modelled: no survey answers, estimated from incidents and sensors",
    "legend_no_data": "No data",
    "ranking_title": "Zones ranked",
    "ranking_note": "Dot: index; bar: {level} interval. Zones whose bars overlap cannot be "
    "told apart; the rank is shown as a range.",
    "city_mean": "city mean",
    "above_city": "above the city mean",
    "below_city": "below the city mean",
    "like_city": "not distinguishable from the city mean",
    "rank": "Rank",
    "zone": "Zone",
    "index": "Index",
    "interval": "Interval",
    "respondents": "Respondents",
    "withheld_zones": "Withheld (fewer than {k} respondents or protecting another cell): {zones}",
    "gap_title": "Day/night gap",
    "gap_note": "Night index minus day index, with its {level} interval: negative = the zone "
    "feels less safe after dark. Solid marks: the interval excludes zero.",
    "trends_title": "The index over time",
    "trends_note": "Day and night index by month (shading: {level} interval of the selected "
    "band). Ringed points: a significant change on the month before.",
    "significant_change": "significant change on the month before",
    "rising": "rising",
    "falling": "falling",
    "no_trend": "no significant trend",
    "too_few": "too few months for a trend",
    "fear_title": "Fear gap",
    "groups_title": "Who feels unsafe",
    "groups_note": "Perception (0-100, higher = feels safer) of each respondent group and its "
    "gap to the rest of the respondents (negative = the group feels less safe; * = "
    "significant at the false discovery rate), city-wide and in the zones where the cells "
    "can be published; {withheld} group cells are withheld (fewer than {k} respondents, "
    "nearly all alike, or protecting another cell).",
    "groups_where": "Where",
    "groups_group": "Group",
    "groups_band": "Band",
    "groups_perception": "Perception",
    "groups_gap": "Gap to the rest",
    "groups_city": "City-wide",
    "fear_note": "Where people feel less safe than their incidents and street lighting "
    "warrant: perception minus what the zone's incident rate and night-time lighting predict, "
    "over the last {months} months. Zones listed lie more than {points} points below it, with "
    "their whole interval, at a controlled false discovery rate.",
    "fear_gap": "Fear gap",
    "incident_ratio": "Incident ratio (day / night)",
    "fear_none": "No zone has a fear gap this month.",
    "quality_title": "Data quality",
    "quality_note": "Freshness of each source and the rows set aside by validation "
    "(quarantined, with their reason).",
    "source": "Source",
    "kind": "Kind",
    "last_loaded": "Last loaded",
    "age": "Age",
    "status": "Status",
    "fresh": "fresh",
    "stale": "stale",
    "batches": "Files",
    "failed": "Failed",
    "rows_read": "Rows read",
    "quarantined": "Quarantined",
    "reason": "Reason",
    "top_reasons": "Most frequent quarantine reasons",
    "no_quarantine": "No row was quarantined.",
    "hours": "{n} h",
    "days": "{n} d",
    "interventions_title": "Did it work? Interventions",
    "interventions_note": "Each intervention's zones against comparison zones it did not "
    "reach (difference-in-differences on the published figures). Chart: the change in "
    "perception month by month against the month before the start, with {level} intervals; "
    "before the start (open dots) it should hover around zero.",
    "intervention_meta": "{type} · zones {zones} · since {start}",
    "perception_day_phrase": "Day perception",
    "perception_night_phrase": "Night perception",
    "headline_up": "{what} in the intervention's zones rose {points} points ({level}: {low} to "
    "{high}) against comparable zones.",
    "headline_down": "{what} in the intervention's zones fell {points} points ({level}: {low} "
    "to {high}) against comparable zones.",
    "headline_unclear": "{what} in the intervention's zones changed by {points} points "
    "({level}: {low} to {high}) against comparable zones: no clear effect.",
    "headline_none": "{what}: no estimate, {reason}.",
    "status_not_measured": "not measured (or withheld) in the intervention's zones",
    "status_treated_everywhere": "every zone was treated, so there is nothing to compare with",
    "status_too_few_pre_periods": "only {pre} month(s) of data before the start",
    "status_too_few_post_periods": "only {post} month(s) of data since the start",
    "status_too_few_comparison_zones": "only {n} comparison zone(s)",
    "caveat_pre_trend": "{band}: before the start the zones were already drifting apart "
    "from the comparison zones (p = {p}); the estimate may include that drift.",
    "caveat_few_zones": "Few zones ({treated} treated, {comparison} for comparison): the "
    "interval is a wild cluster bootstrap's, and the month-by-month intervals of the chart "
    "are too narrow.",
    "caveat_assumptions": "The estimate assumes the zones would have moved like the "
    "comparison zones without the intervention (parallel trends), that it did not spill "
    "into neighbouring zones, and that nothing else started there at the same time.",
    "event_title": "Event study: perception against the month before the start",
    "event_start": "start",
    "event_axis": "months since the start",
    "event_none": "No event study: the design does not support an estimate.",
    "other_outcomes": "All outcomes",
    "outcome": "Outcome",
    "effect": "Effect",
    "outcome_perception": "Perception (points)",
    "outcome_index": "Index (points)",
    "outcome_incident_ratio": "Incident ratio",
    "outcome_lux": "Lighting (lux)",
    "outcome_footfall": "Footfall (passes/h)",
    "type_lighting": "Lighting",
    "type_public_space_activation": "Activation of a public space",
    "type_night_service": "Night service",
    "type_regeneration": "Regeneration",
    "type_policing": "Policing",
    "type_other": "Other",
    "methods_title": "Method",
    "methods_text": "How the index is computed, and why: docs/methodology.md in the observatory "
    "project (method {method}). Intervals are {level}; cells with fewer than {k} respondents "
    "are withheld. Only published tables are used: no respondent-level data is in this report.",
    "built": "Built {date} from configuration {config}.",
    "noscript": "This report draws its map and charts with JavaScript: please allow scripts "
    "for this file.",
    "render_error": "The report could not be drawn",
}

LABELS_IT: dict[str, str] = {
    "title": "Rapporto sulla sicurezza percepita",
    "period": "Periodo",
    "synthetic_banner": "DATI SINTETICI: ogni cifra di questo rapporto è inventata (città "
    "dimostrativa), non osservata.",
    "synthetic_mark": "SINTETICO",
    "provisional_banner": "PROVVISORIO: questo mese non è definitivo ({sources}). Le sue cifre "
    "cambieranno quando arriveranno gli altri dati.",
    "provisional_open": "il mese non è terminato",
    "band": "Fascia oraria",
    "day": "Giorno",
    "night": "Notte",
    "scale_note": "Indice 0-100: più alto = ci si sente più sicuri.",
    "map_title": "Mappa: l'indice per zona",
    "legend_withheld": "Oscurata: troppo pochi rispondenti",
    "legend_modelled": "Stimata: nessuna risposta al questionario, stima da segnalazioni e sensori",
    "legend_no_data": "Nessun dato",
    "ranking_title": "Graduatoria delle zone",
    "ranking_note": "Punto: indice; barra: intervallo al {level}. Le zone con barre "
    "sovrapposte non sono distinguibili; la posizione è data come intervallo.",
    "city_mean": "media cittadina",
    "above_city": "sopra la media cittadina",
    "below_city": "sotto la media cittadina",
    "like_city": "non distinguibile dalla media cittadina",
    "rank": "Posizione",
    "zone": "Zona",
    "index": "Indice",
    "interval": "Intervallo",
    "respondents": "Rispondenti",
    "withheld_zones": "Oscurate (meno di {k} rispondenti o a tutela di un'altra cella): {zones}",
    "gap_title": "Divario giorno/notte",
    "gap_note": "Indice di notte meno indice di giorno, con intervallo al {level}: negativo = "
    "la zona è percepita meno sicura dopo il tramonto. Segni pieni: l'intervallo esclude lo zero.",
    "trends_title": "L'indice nel tempo",
    "trends_note": "Indice di giorno e di notte per mese (ombreggiatura: intervallo al {level} "
    "della fascia scelta). Punti cerchiati: variazione significativa sul mese precedente.",
    "significant_change": "variazione significativa sul mese precedente",
    "rising": "in aumento",
    "falling": "in calo",
    "no_trend": "nessuna tendenza significativa",
    "too_few": "troppo pochi mesi per una tendenza",
    "fear_title": "Divario di paura",
    "groups_title": "Chi si sente insicuro",
    "groups_note": "Percezione (0-100, più alto = più sicuro) di ciascun gruppo di rispondenti "
    "e divario rispetto agli altri (negativo = il gruppo si sente meno sicuro; * = "
    "significativo al tasso di false scoperte), in tutta la città e nei quartieri dove le "
    "celle si possono pubblicare; {withheld} celle di gruppo sono oscurate (meno di {k} "
    "rispondenti, risposte quasi tutte uguali, o a tutela di un'altra cella).",
    "groups_where": "Dove",
    "groups_group": "Gruppo",
    "groups_band": "Fascia",
    "groups_perception": "Percezione",
    "groups_gap": "Divario dagli altri",
    "groups_city": "Tutta la città",
    "fear_note": "Dove ci si sente meno sicuri di quanto le segnalazioni e l'illuminazione "
    "giustifichino: percezione meno quella prevista dal tasso di segnalazioni e "
    "dall'illuminazione notturna della zona, sugli ultimi {months} mesi. Sono elencate le "
    "zone oltre {points} punti sotto, con tutto l'intervallo, a un tasso di false scoperte "
    "controllato.",
    "fear_gap": "Divario di paura",
    "incident_ratio": "Rapporto segnalazioni (giorno / notte)",
    "fear_none": "Nessuna zona presenta un divario di paura questo mese.",
    "quality_title": "Qualità dei dati",
    "quality_note": "Aggiornamento di ogni fonte e righe messe da parte dalla validazione "
    "(in quarantena, con il motivo).",
    "source": "Fonte",
    "kind": "Tipo",
    "last_loaded": "Ultimo caricamento",
    "age": "Età",
    "status": "Stato",
    "fresh": "aggiornata",
    "stale": "non aggiornata",
    "batches": "File",
    "failed": "Falliti",
    "rows_read": "Righe lette",
    "quarantined": "In quarantena",
    "reason": "Motivo",
    "top_reasons": "Motivi di quarantena più frequenti",
    "no_quarantine": "Nessuna riga in quarantena.",
    "hours": "{n} h",
    "days": "{n} g",
    "interventions_title": "Ha funzionato? Interventi",
    "interventions_note": "Le zone di ogni intervento a confronto con zone che non ha "
    "raggiunto (differenza nelle differenze sui dati pubblicati). Grafico: la variazione "
    "della percezione mese per mese rispetto al mese prima dell'avvio, con intervalli al "
    "{level}; prima dell'avvio (punti vuoti) dovrebbe restare intorno a zero.",
    "intervention_meta": "{type} · zone {zones} · da {start}",
    "perception_day_phrase": "La percezione di giorno",
    "perception_night_phrase": "La percezione di notte",
    "headline_up": "{what} nelle zone dell'intervento è salita di {points} punti ({level}: "
    "da {low} a {high}) rispetto a zone comparabili.",
    "headline_down": "{what} nelle zone dell'intervento è scesa di {points} punti ({level}: "
    "da {low} a {high}) rispetto a zone comparabili.",
    "headline_unclear": "{what} nelle zone dell'intervento è cambiata di {points} punti "
    "({level}: da {low} a {high}) rispetto a zone comparabili: nessun effetto chiaro.",
    "headline_none": "{what}: nessuna stima, {reason}.",
    "status_not_measured": "non misurata (o oscurata) nelle zone dell'intervento",
    "status_treated_everywhere": "tutte le zone sono state trattate: manca un confronto",
    "status_too_few_pre_periods": "solo {pre} mese/i di dati prima dell'avvio",
    "status_too_few_post_periods": "solo {post} mese/i di dati dall'avvio",
    "status_too_few_comparison_zones": "solo {n} zona/e di confronto",
    "caveat_pre_trend": "{band}: già prima dell'avvio le zone si stavano allontanando da "
    "quelle di confronto (p = {p}); la stima può includere questa tendenza.",
    "caveat_few_zones": "Poche zone ({treated} trattate, {comparison} di confronto): "
    "l'intervallo è un wild cluster bootstrap, e gli intervalli mese per mese del grafico "
    "sono troppo stretti.",
    "caveat_assumptions": "La stima presuppone che senza l'intervento le zone si sarebbero "
    "mosse come quelle di confronto (tendenze parallele), che l'effetto non si sia esteso "
    "alle zone vicine e che nient'altro sia partito lì nello stesso periodo.",
    "event_title": "Studio d'evento: la percezione rispetto al mese prima dell'avvio",
    "event_start": "avvio",
    "event_axis": "mesi dall'avvio",
    "event_none": "Nessuno studio d'evento: il disegno non consente una stima.",
    "other_outcomes": "Tutti gli esiti",
    "outcome": "Esito",
    "effect": "Effetto",
    "outcome_perception": "Percezione (punti)",
    "outcome_index": "Indice (punti)",
    "outcome_incident_ratio": "Rapporto segnalazioni",
    "outcome_lux": "Illuminazione (lux)",
    "outcome_footfall": "Passaggi pedonali (all'ora)",
    "type_lighting": "Illuminazione",
    "type_public_space_activation": "Attivazione di uno spazio pubblico",
    "type_night_service": "Servizio notturno",
    "type_regeneration": "Rigenerazione",
    "type_policing": "Presidio di polizia",
    "type_other": "Altro",
    "methods_title": "Metodo",
    "methods_text": "Come si calcola l'indice, e perché: docs/methodology.md nel progetto "
    "observatory (metodo {method}). Gli intervalli sono al {level}; le celle con meno di {k} "
    "rispondenti sono oscurate. Si usano solo le tabelle pubblicate: nessun dato individuale "
    "dei rispondenti è in questo rapporto.",
    "built": "Generato il {date} dalla configurazione {config}.",
    "noscript": "Questo rapporto disegna mappa e grafici con JavaScript: consentire gli script "
    "per questo file.",
    "render_error": "Non è stato possibile disegnare il rapporto",
}


def resolve_labels(report: ReportConfig) -> dict[str, str]:
    """The labels a city's report uses: the built-in set for its language, then its overrides.

    Raises:
        ConfigError: an override names a label that does not exist (a typo would otherwise
            be silently ignored); the message lists the known keys.
    """
    base = LABELS_IT if report.language.lower().split("-")[0] == "it" else LABELS_EN
    unknown = sorted(set(report.labels) - set(LABELS_EN))
    if unknown:
        raise ConfigError(
            f"report.labels: unknown label(s) {unknown}; known labels: {sorted(LABELS_EN)}"
        )
    return {**base, **report.labels}
