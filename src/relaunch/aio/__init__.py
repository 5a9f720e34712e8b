"""relaunch for asyncio and Trio: supervised coroutines, and the thread core driven from a loop.

A room over the supervisor core, not a second core: the kernel decides, ``relaunch.adapters.phase``
holds the phases, the core's ``Status`` and ``DecisionEvent`` are what callers see. Its parts:

- ``tasks.py``: :class:`AsyncSupervisor` and :func:`heartbeat`, the task-supervision state machine;
- ``decorator.py``: :func:`supervised` and :class:`GaveUp`, one coroutine under a policy;
- ``threaded.py``: :class:`ThreadedSupervisor`, the process and Docker runtimes from a loop;
- ``events.py``: the bounded event streams both supervisors hand out;
- ``_loop.py``: the loop's own clock and sleep, for the path every restart takes.

It needs anyio (``pip install 'relaunch[aio]'``); Trio is used if it runs the loop.
"""

from __future__ import annotations

from .decorator import GaveUp, supervised
from .events import EventStream
from .tasks import AsyncSupervisor, heartbeat
from .threaded import ThreadedSupervisor

__all__ = ["AsyncSupervisor", "EventStream", "GaveUp", "ThreadedSupervisor", "heartbeat", "supervised"]
