"""``python -m bruno_memory_integrations.cli``: the same as ``bruno-memory``."""

import sys

from . import main

sys.exit(main())
