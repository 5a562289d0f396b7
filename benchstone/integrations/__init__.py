"""Adapters for the tools benchstone gates for: each imports its tool only when used."""
