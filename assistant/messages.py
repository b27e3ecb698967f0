"""What the assistant says in its own words, in the asker's language (Dutch or English)."""

from __future__ import annotations

_MESSAGES: dict[str, dict[str, str]] = {
    "not_found": {
        "nl": "Ik heb het antwoord op deze vraag niet gevonden in de documenten.",
        "en": "I could not find the answer to this question in the documents.",
    },
    "maybe_here": {
        "nl": "Misschien helpen deze documenten verder:",
        "en": "These documents may help:",
    },
    "source_language": {
        "nl": "(De bron is in het {source_language}.)",
        "en": "(The source is in {source_language}.)",
    },
    "llm_fallback": {
        "nl": "Het taalmodel was niet bereikbaar; dit antwoord bestaat uit letterlijke citaten uit de bronnen.",
        "en": "The language model was unavailable; this answer consists of literal quotes from the sources.",
    },
}
_LANGUAGE_NAMES = {
    "nl": {"nl": "Nederlands", "en": "Engels", "de": "Duits", "fr": "Frans"},
    "en": {"nl": "Dutch", "en": "English", "de": "German", "fr": "French"},
}


def message(key: str, language: str, **values: str) -> str:
    """A message in `language` (English for any language other than Dutch)."""
    lang = "nl" if language == "nl" else "en"
    return _MESSAGES[key][lang].format(**values)


def language_name(code: str, in_language: str) -> str:
    """The name of language `code`, written in `in_language`."""
    names = _LANGUAGE_NAMES["nl" if in_language == "nl" else "en"]
    return names.get(code, code)
