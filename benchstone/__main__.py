"""``python -m benchstone``: the same as the ``bench`` command."""

import sys

from benchstone.cli import main

sys.exit(main())
