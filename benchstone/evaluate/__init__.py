"""Evaluation: choosing the samples to compare, then asking a gate: one benchmark, all of them, paired
compare, explain.
"""
