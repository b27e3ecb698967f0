"""Interface texts in Dutch and English."""

from __future__ import annotations

_TEXTS = {
    "nl": {
        "disclosure": "Vraagbaak is een AI-assistent. Antwoorden zijn citaten uit de documenten van de organisatie; "
                      "controleer belangrijke zaken in de bron.",
        "ask": "Stel je vraag", "submit": "Vraag", "sources": "Bronnen", "open_source": "Open de bron",
        "placeholder": "Bijvoorbeeld: Hoeveel vakantiedagen heb ik?", "page": "pagina",
        "not_found_title": "Niet gevonden", "maybe": "Misschien helpen deze documenten verder:",
        "passage": "Passage", "original": "Origineel bestand", "back": "Terug naar de vraag",
        "understood_as": "Begrepen als vervolgvraag:",
    },
    "en": {
        "disclosure": "Vraagbaak is an AI assistant. Answers are quotes from the organisation's documents; "
                      "check important matters in the source.",
        "ask": "Ask your question", "submit": "Ask", "sources": "Sources", "open_source": "Open the source",
        "placeholder": "For example: How many vacation days do I get?", "page": "page",
        "not_found_title": "Not found", "maybe": "These documents may help:",
        "passage": "Passage", "original": "Original file", "back": "Back to the question",
        "understood_as": "Understood as a follow-up:",
    },
}


def texts(language: str) -> dict[str, str]:
    return _TEXTS["en" if language == "en" else "nl"]


def disclosure(language: str) -> str:
    return texts(language)["disclosure"]
