"""Reports for people and CI: terminal text, GitHub Actions output, plots. Functions return text; only
the CLI prints.
"""
