"""``python -m benchstone`` and the ``bench`` console script.

The CLI is imported inside ``main`` so that a Ctrl-C while it loads ends the command like any
other interruption (exit 130, one line), not with a traceback of the import."""

from __future__ import annotations

import sys

INTERRUPTED_EXIT = 130


def main() -> int:
    try:
        from benchstone.cli import main as run_cli
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return INTERRUPTED_EXIT
    return run_cli()


if __name__ == "__main__":
    sys.exit(main())
