"""The ask page and the source viewer. Keys are unique across all areas (a test checks)."""

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "ask": "Stel je vraag", "submit": "Vraag", "sources": "Bronnen", "open_source": "Open de bron",
        "placeholder": "Bijvoorbeeld: Hoeveel vakantiedagen heb ik?", "page": "pagina",
        "not_found_title": "Niet gevonden", "maybe": "Misschien helpen deze documenten verder:",
        "passage": "Passage", "original": "Origineel bestand",
        "understood_as": "Begrepen als vervolgvraag:",
    },
    "en": {
        "ask": "Ask your question", "submit": "Ask", "sources": "Sources", "open_source": "Open the source",
        "placeholder": "For example: How many vacation days do I get?", "page": "page",
        "not_found_title": "Not found", "maybe": "These documents may help:",
        "passage": "Passage", "original": "Original file",
        "understood_as": "Understood as a follow-up:",
    },
}
