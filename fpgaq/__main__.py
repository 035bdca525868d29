import sys

from fpgaq.cli import main

sys.exit(main())
