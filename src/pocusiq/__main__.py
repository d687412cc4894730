"""``python -m pocusiq ...``: the same command line as ``pocusiq ...``."""

from pocusiq.cli import main

raise SystemExit(main())
