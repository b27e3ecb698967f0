"""The content-gap dashboard. Keys are unique across all areas (a test checks)."""

TEXTS: dict[str, dict[str, str]] = {
    "nl": {},
    "en": {},
}
