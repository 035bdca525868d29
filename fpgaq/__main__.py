"""``python -m fpgaq``: the ``fpgaq`` command."""

import sys

from fpgaq.cli import main

sys.exit(main())
