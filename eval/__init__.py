"""Offline evaluation: retrieval on BEIR-format sets, answers on answer sets."""
