"""Files that ship with benchstone: runner image recipes and what runs inside the sandbox.

In a wheel they live under ``benchstone/_bundled/``; in a source checkout at the top of the
repository (``images/`` and ``sandbox/``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(*parts: str) -> Path:
    """The path of a bundled file, e.g. ``bundled("images", "python", "Dockerfile")``."""
    for base in (_PACKAGE / "_bundled", _PACKAGE.parent):
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"benchstone is missing its bundled file {'/'.join(parts)}")
