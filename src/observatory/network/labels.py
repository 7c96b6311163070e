"""The network page's wording in the network's languages; the viewer picks one on the page.

English is the reference; a key missing in a language falls back to it. The network file's
`[report] labels` override English (or the chosen default language) by key.
"""

# ruff: noqa: E501  (translations read best one label a line)
from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Cities compared: perceived security",
        "language": "Language", "period": "Month", "band": "Time band",
        "day": "Day", "night": "Night",
        "synthetic_banner": "SYNTHETIC DATA: every figure on this page is made up (demo network).",
        "question": "Core question", "city": "City", "zones": "Zones", "respondents": "Respondents",
        "perception": "Feels safe (0-100)", "interval": "{level} interval",
        "gap": "Night minus day", "composite": "Composite", "rank": "Rank",
        "rank_note": "Ranks are shown as ranges: cities whose intervals overlap cannot be told apart.",
        "scale_note": "0-100: higher = feels safer. Each city's own question and answer scale "
                      "are mapped onto the core question; its answers are design-weighted.",
        "missing": "Not compared", "coverage": "Sources and months",
        "source": "Source", "kind": "Kind", "months": "Months", "method": "Method",
        "composite_note": "Composite: perception and the incident ratio (the city's crime "
                          "reports per resident-hour over the network's pooled rate in the "
                          "reference period), on common goalposts.",
        "noscript": "This page needs JavaScript to draw its tables (it loads nothing from the internet).",
    },
    "it": {
        "title": "Città a confronto: sicurezza percepita",
        "language": "Lingua", "period": "Mese", "band": "Fascia oraria",
        "day": "Giorno", "night": "Notte",
        "synthetic_banner": "DATI SINTETICI: ogni cifra di questa pagina è inventata (rete dimostrativa).",
        "question": "Domanda comune", "city": "Città", "zones": "Zone", "respondents": "Rispondenti",
        "perception": "Si sente sicuro (0-100)", "interval": "intervallo {level}",
        "gap": "Notte meno giorno", "composite": "Composito", "rank": "Posizione",
        "rank_note": "Le posizioni sono intervalli: città con intervalli sovrapposti non si distinguono.",
        "scale_note": "0-100: più alto = più sicuro. La domanda e la scala di ogni città sono "
                      "ricondotte alla domanda comune; le risposte sono ponderate.",
        "missing": "Non confrontata", "coverage": "Fonti e mesi",
        "source": "Fonte", "kind": "Tipo", "months": "Mesi", "method": "Metodo",
    },
    "ro": {
        "title": "Orașe comparate: siguranța percepută",
        "language": "Limba", "period": "Luna", "band": "Interval orar",
        "day": "Zi", "night": "Noapte",
        "synthetic_banner": "DATE SINTETICE: fiecare cifră de pe această pagină este inventată.",
        "question": "Întrebarea comună", "city": "Oraș", "zones": "Zone",
        "respondents": "Respondenți", "perception": "Se simte în siguranță (0-100)",
        "interval": "interval {level}", "gap": "Noapte minus zi", "composite": "Compozit",
        "rank": "Loc", "missing": "Necomparat", "coverage": "Surse și luni",
        "source": "Sursă", "kind": "Tip", "months": "Luni", "method": "Metodă",
    },
    "lv": {
        "title": "Pilsētu salīdzinājums: uztvertā drošība",
        "language": "Valoda", "period": "Mēnesis", "band": "Diennakts daļa",
        "day": "Diena", "night": "Nakts",
        "synthetic_banner": "SINTĒTISKI DATI: katrs skaitlis šajā lapā ir izdomāts.",
        "question": "Kopīgais jautājums", "city": "Pilsēta", "zones": "Zonas",
        "respondents": "Respondenti", "perception": "Jūtas droši (0-100)",
        "interval": "{level} intervāls", "gap": "Nakts mīnus diena", "composite": "Kompozīts",
        "rank": "Vieta", "missing": "Nav salīdzināts", "coverage": "Avoti un mēneši",
        "source": "Avots", "kind": "Veids", "months": "Mēneši", "method": "Metode",
    },
    "es": {
        "title": "Ciudades comparadas: seguridad percibida",
        "language": "Idioma", "period": "Mes", "band": "Franja horaria",
        "day": "Día", "night": "Noche",
        "synthetic_banner": "DATOS SINTÉTICOS: todas las cifras de esta página son inventadas.",
        "question": "Pregunta común", "city": "Ciudad", "zones": "Zonas",
        "respondents": "Personas encuestadas", "perception": "Se siente seguro (0-100)",
        "interval": "intervalo {level}", "gap": "Noche menos día", "composite": "Compuesto",
        "rank": "Posición", "missing": "No comparada", "coverage": "Fuentes y meses",
        "source": "Fuente", "kind": "Tipo", "months": "Meses", "method": "Método",
    },
    "ca": {
        "title": "Ciutats comparades: seguretat percebuda",
        "language": "Llengua", "period": "Mes", "band": "Franja horària",
        "day": "Dia", "night": "Nit",
        "synthetic_banner": "DADES SINTÈTIQUES: totes les xifres d'aquesta pàgina són inventades.",
        "question": "Pregunta comuna", "city": "Ciutat", "zones": "Zones",
        "respondents": "Persones enquestades", "perception": "Se sent segur (0-100)",
        "interval": "interval {level}", "gap": "Nit menys dia", "composite": "Compost",
        "rank": "Posició", "missing": "No comparada", "coverage": "Fonts i mesos",
        "source": "Font", "kind": "Tipus", "months": "Mesos", "method": "Mètode",
    },
    "pt": {
        "title": "Cidades comparadas: segurança percebida",
        "language": "Língua", "period": "Mês", "band": "Período do dia",
        "day": "Dia", "night": "Noite",
        "synthetic_banner": "DADOS SINTÉTICOS: todos os números desta página são inventados.",
        "question": "Pergunta comum", "city": "Cidade", "zones": "Zonas",
        "respondents": "Inquiridos", "perception": "Sente-se seguro (0-100)",
        "interval": "intervalo {level}", "gap": "Noite menos dia", "composite": "Compósito",
        "rank": "Posição", "missing": "Não comparada", "coverage": "Fontes e meses",
        "source": "Fonte", "kind": "Tipo", "months": "Meses", "method": "Método",
    },
}  # fmt: skip


def all_labels(default: str, overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    """Every language's labels, English filling gaps; overrides apply to the default one."""
    out = {lang: {**LABELS["en"], **labels} for lang, labels in LABELS.items()}
    primary = default.split("-", maxsplit=1)[0].lower()
    target = primary if primary in out else "en"
    out[target] = {**out[target], **overrides}
    return out
