"""Parsers for one family of file formats each; `ingest.parse.parse_file` picks one by suffix."""
