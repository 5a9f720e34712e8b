"""``python -m relaunch``: the same command line as the ``relaunch`` script."""

from relaunch.cli import main

raise SystemExit(main())
