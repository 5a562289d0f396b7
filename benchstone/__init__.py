"""benchstone: trustworthy benchmark gating for code-optimization loops."""

__version__ = "0.2.0"
