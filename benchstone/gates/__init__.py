"""Gates: pure functions from two samples and a benchmark's settings to a decision, and the verdict
types. No I/O.
"""
