"""``python -m spyder`` runs the ``spyder`` command."""
import sys

from spyder.cli import main

sys.exit(main())
