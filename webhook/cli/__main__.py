"""`python -m bess_duos.webhook.cli`: the same as the `bess-duos` console script."""

import sys

from bess_duos.webhook.cli import main

sys.exit(main())
