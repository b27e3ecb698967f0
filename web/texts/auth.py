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
        "sso_unavailable": "De identiteitsprovider is nu niet bereikbaar. Probeer het later opnieuw of meld je aan "
                           "met een lokaal account.",
        "sso_expired": "De aanmelding is niet in deze browser begonnen of duurde te lang. Begin opnieuw.",
        "sso_state": "Het antwoord van de identiteitsprovider hoort niet bij deze aanmelding. Begin opnieuw.",
        "sso_denied": "De identiteitsprovider heeft je aanmelding geweigerd.",
        "sso_provider_error": "De identiteitsprovider heeft de aanmelding afgebroken ({error}). Begin opnieuw.",
        "sso_token": "Het antwoord van de identiteitsprovider kon niet worden gecontroleerd. Begin opnieuw.",
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
        "sso_unavailable": "The identity provider cannot be reached right now. Try again later or sign in with a "
                           "local account.",
        "sso_expired": "The sign-in was not started in this browser or took too long. Please start again.",
        "sso_state": "The identity provider's answer does not belong to this sign-in. Please start again.",
        "sso_denied": "The identity provider did not let you sign in.",
        "sso_provider_error": "The identity provider stopped the sign-in ({error}). Please start again.",
        "sso_token": "The identity provider's answer could not be verified. Please start again.",
    },
}
