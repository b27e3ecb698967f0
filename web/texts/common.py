"""Shared texts: the header, navigation, errors. Keys are unique across all areas (a test checks)."""

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "disclosure": "Vraagbaak is een AI-assistent. Antwoorden zijn citaten uit de documenten van de organisatie; "
                      "controleer belangrijke zaken in de bron.",
        "nav_ask": "Vragen", "nav_compliance": "Audit", "nav_learning": "Kennislacunes", "nav_admin": "Beheer",
        "nav_account": "Account", "sign_out": "Afmelden", "nav_label": "Hoofdmenu", "skip": "Naar de inhoud",
        "back": "Terug naar de vraag", "error_title": "Er ging iets mis",
    },
    "en": {
        "disclosure": "Vraagbaak is an AI assistant. Answers are quotes from the organisation's documents; "
                      "check important matters in the source.",
        "nav_ask": "Ask", "nav_compliance": "Audit", "nav_learning": "Content gaps", "nav_admin": "Admin",
        "nav_account": "Account", "sign_out": "Sign out", "nav_label": "Main menu", "skip": "Skip to content",
        "back": "Back to the question", "error_title": "Something went wrong",
    },
}
