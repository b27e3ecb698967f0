"""Vraagbaak: answers employees' questions from their organisation's own documents, with sources."""

__version__ = "0.1.0"
