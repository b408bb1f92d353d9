"""``python -m opencass.cli``: the same as the ``opencass`` command."""

import sys

from opencass.cli import main

sys.exit(main())
