"""The fleet: ``relaunch run FILE`` supervises every workload a fleet file names, in one store.

A room over the supervisor core, not a second core: ``config.py`` reads and checks the file,
``daemon.py`` turns it into ``Supervisor.add`` calls on one composite runtime and applies groups
(the kernel's group rule) and reloads; the control socket, its commands and the metrics are
beside them.
"""
