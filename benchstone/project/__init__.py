"""A project: its manifest, registration, git provenance, corpora, correctness references and scaffolding."""
