"""The gold-set review page. Keys are unique across all areas (a test checks)."""

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "rev_title": "Gouden set beoordelen", "nav_review": "Gouden set",
        "rev_intro": "Voorstellen uit het echte gebruik: antwoorden met een duim omhoog (met de documenten die ze "
                     "citeerden) en vragen waarop Vraagbaak geen antwoord gaf. Accepteer wat klopt; de "
                     "geaccepteerde vragen vormen een testset voor `vraagbaak eval`.",
        "rev_filter": "Toon", "rev_show_proposed": "Te beoordelen", "rev_show_accepted": "Geaccepteerd",
        "rev_show_rejected": "Afgewezen", "rev_show_all": "Alle", "rev_export": "Geaccepteerde set downloaden (JSONL)",
        "rev_none": "Niets om te tonen.", "rev_origin_answered": "beantwoord, duim omhoog",
        "rev_origin_refused": "niet beantwoord", "rev_state_proposed": "te beoordelen",
        "rev_state_accepted": "geaccepteerd", "rev_state_rejected": "afgewezen",
        "rev_withheld": "Het antwoord citeert documenten die je niet mag lezen; de tekst is weggelaten.",
        "rev_documents": "Verwachte documenten", "rev_withheld_docs": "{n} weggelaten",
        "rev_note": "Opmerking", "rev_accept": "Accepteren", "rev_reject": "Afwijzen", "rev_undo": "Ongedaan maken",
    },
    "en": {
        "rev_title": "Review the gold set", "nav_review": "Gold set",
        "rev_intro": "Proposals from real use: answers with a thumbs up (with the documents they cited) and "
                     "questions Vraagbaak did not answer. Accept what is right; the accepted questions make a "
                     "test set for `vraagbaak eval`.",
        "rev_filter": "Show", "rev_show_proposed": "To review", "rev_show_accepted": "Accepted",
        "rev_show_rejected": "Rejected", "rev_show_all": "All", "rev_export": "Download the accepted set (JSONL)",
        "rev_none": "Nothing to show.", "rev_origin_answered": "answered, thumbs up",
        "rev_origin_refused": "not answered", "rev_state_proposed": "to review",
        "rev_state_accepted": "accepted", "rev_state_rejected": "rejected",
        "rev_withheld": "The answer cites documents you may not read; its text is withheld.",
        "rev_documents": "Expected documents", "rev_withheld_docs": "{n} withheld",
        "rev_note": "Note", "rev_accept": "Accept", "rev_reject": "Reject", "rev_undo": "Undo",
    },
}
