"""Sign-in and the account page. Keys are unique across all areas (a test checks)."""

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "sign_in": "Aanmelden", "username": "Gebruikersnaam", "password": "Wachtwoord",
        "sign_in_sso": "Aanmelden met single sign-on", "or": "of", "account": "Je account", "roles": "Rollen",
        "groups": "Toegangsgroepen", "no_groups": "alleen documenten voor iedereen", "api_tokens": "API-tokens",
        "token_name": "Naam van het token", "create_token": "Token aanmaken", "revoke": "Intrekken",
        "token_once": "Kopieer dit token nu; het wordt niet nog eens getoond:", "created": "Aangemaakt",
        "last_used": "Laatst gebruikt", "never": "nooit", "revoked": "ingetrokken", "language": "Taal van de interface",
        "save": "Opslaan", "browser_language": "Taal van de browser",
        "role_employee": "medewerker", "role_compliance": "compliance", "role_learning": "leren & ontwikkelen",
        "role_admin": "beheerder",
    },
    "en": {
        "sign_in": "Sign in", "username": "Username", "password": "Password",
        "sign_in_sso": "Sign in with single sign-on", "or": "or", "account": "Your account", "roles": "Roles",
        "groups": "Access groups", "no_groups": "documents open to everyone only", "api_tokens": "API tokens",
        "token_name": "Token name", "create_token": "Create token", "revoke": "Revoke",
        "token_once": "Copy this token now; it is not shown again:", "created": "Created",
        "last_used": "Last used", "never": "never", "revoked": "revoked", "language": "Interface language",
        "save": "Save", "browser_language": "The browser's language",
        "role_employee": "employee", "role_compliance": "compliance", "role_learning": "learning & development",
        "role_admin": "administrator",
    },
}
