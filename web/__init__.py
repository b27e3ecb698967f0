"""The web app: FastAPI + Jinja2 + htmx. The only package that knows HTTP."""
