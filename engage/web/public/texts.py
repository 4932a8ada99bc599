"""The public page's words in English and Spanish (the figures are the same in both)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Community safety and trust survey",
        "lede": "What residents told {program} by text message and Telegram about how safe "
                "they feel and how much they trust the police.",
        "updated": "Updated",
        "answered": "People who answered",
        "trust": "Trust index (0-100)",
        "safety": "Safety index (0-100)",
        "range": "95% range",
        "too_few": "Fewer than {k} people answered in {period}: no figures yet.",
        "by_district": "By district",
        "district": "District",
        "withheld": "withheld",
        "over_time": "Over time",
        "gap": "A gap means too few people answered that period.",
        "meaning": "What these numbers mean",
        "trust_text": "The trust index comes from two questions: whether police treat people "
                      "in the neighbourhood with respect, and whether they listen to "
                      "residents. 0 means everyone strongly disagreed, 50 is neutral and 100 "
                      "means everyone strongly agreed.",
        "safety_text": "The safety index is built the same way from how safe people feel in "
                       "their neighbourhood during the day and at night.",
        "range_text": "Surveys ask some residents, not all. If we asked again, the figure would "
                      "usually land inside the 95% range.",
        "privacy_text": "We never publish a figure about fewer than {k} people, and hide a "
                        "second figure when the first could be worked out from totals. No "
                        "names or numbers of residents are published here, and no words of "
                        "theirs except community statements a moderator approved, never with "
                        "who wrote them.",
        "other": "En español",
        "other_href": "/public/es/",
        "questions": "Questions or corrections",
        "agreed": "Where neighbours agree",
        "agreed_lede": "Statements that most people in every opinion group agreed with, from "
                       "community conversations that have ended. Groups are people who voted "
                       "alike; a group of fewer than {k} people is never shown on its own.",
        "voters": "{n} residents voted.",
        "group": "group {g}",
        "others": "smaller groups together",
        "agree": "agree",
    },
    "es": {
        "title": "Encuesta comunitaria de seguridad y confianza",
        "lede": "Lo que los residentes le dijeron a {program} por mensaje de texto y Telegram "
                "sobre qué tan seguros se sienten y cuánto confían en la policía.",
        "updated": "Actualizado",
        "answered": "Personas que respondieron",
        "trust": "Índice de confianza (0-100)",
        "safety": "Índice de seguridad (0-100)",
        "range": "Rango del 95%",
        "too_few": "Menos de {k} personas respondieron en {period}: todavía no hay cifras.",
        "by_district": "Por distrito",
        "district": "Distrito",
        "withheld": "reservado",
        "over_time": "A lo largo del tiempo",
        "gap": "Un hueco significa que muy pocas personas respondieron en ese período.",
        "meaning": "Qué significan estas cifras",
        "trust_text": "El índice de confianza viene de dos preguntas: si la policía trata con "
                      "respeto a la gente del barrio y si escucha a los residentes. 0 significa "
                      "que todos estuvieron muy en desacuerdo, 50 es neutral y 100 que todos "
                      "estuvieron muy de acuerdo.",
        "safety_text": "El índice de seguridad se calcula igual, a partir de qué tan seguras se "
                       "sienten las personas en su barrio de día y de noche.",
        "range_text": "La encuesta pregunta a algunos residentes, no a todos. Si preguntáramos "
                      "de nuevo, la cifra casi siempre caería dentro del rango del 95%.",
        "privacy_text": "Nunca publicamos una cifra sobre menos de {k} personas, y ocultamos "
                        "una segunda cifra cuando la primera se podría deducir de los totales. "
                        "Aquí no se publican nombres ni números de residentes, ni palabras "
                        "suyas salvo afirmaciones comunitarias aprobadas por un moderador, "
                        "nunca con quién las escribió.",
        "other": "In English",
        "other_href": "/public/",
        "questions": "Preguntas o correcciones",
        "agreed": "En qué coinciden los vecinos",
        "agreed_lede": "Afirmaciones con las que estuvo de acuerdo la mayoría de cada grupo "
                       "de opinión, de conversaciones comunitarias ya terminadas. Un grupo son "
                       "personas que votaron de forma parecida; nunca se muestra por separado "
                       "un grupo de menos de {k} personas.",
        "voters": "Votaron {n} residentes.",
        "group": "grupo {g}",
        "others": "grupos pequeños juntos",
        "agree": "de acuerdo",
    },
}
