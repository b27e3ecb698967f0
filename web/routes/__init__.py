"""HTTP routes: `pages` for people, `api` for programs."""
