"""``python -m relaunch``: the same command line as the ``relaunch`` script."""

import sys

# TEMPORARY until the cli/ package registers them.
if sys.argv[1:2] == ["ctl"]:
    from relaunch.fleet.ctl import ctl_main

    raise SystemExit(ctl_main(sys.argv[2:]))
if sys.argv[1:2] == ["run"]:
    from relaunch.fleet.run import run_main

    raise SystemExit(run_main(sys.argv[2:]))

from relaunch.cli import main  # noqa: E402

raise SystemExit(main())
