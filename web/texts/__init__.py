"""Interface texts per area, Dutch and English; `web.i18n.texts` merges them."""
