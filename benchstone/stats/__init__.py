"""Pure statistics: elementary tests, exact rank distributions, calibrated tests, sequential
boundaries. Imports nothing from the rest of benchstone.
"""
