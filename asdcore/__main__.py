"""`python -m asdcore ...`: see asdcore/cli.py."""
import sys

from .cli import main

sys.exit(main())
