"""Ingestion: sources → parse → chunk → embed → index."""
