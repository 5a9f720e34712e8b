"""Supervisor's ``[program:x]`` restart rules."""

from __future__ import annotations

from collections.abc import Iterable

from ..kernel import CountBudget, ExitRules, Linear, Lost, Mode, Policy, Reset, Stability, StartFailed
from ..kernel.validate import choice, codes, count, finite
from .registry import register

_SUPERVISORD_MODES = {"true": Mode.ALWAYS, "unexpected": Mode.ON_FAILURE, "false": Mode.NEVER}


@register("supervisord", "Supervisor's [program:x] restart rules.")
def supervisord(
    startsecs: float = 1.0,
    startretries: int = 3,
    autorestart: str = "unexpected",
    exitcodes: Iterable[int] = (0,),
) -> Policy:
    """Supervisor's ``[program:x]`` restart rules.

    System: Supervisor 4.x (Supervisor/supervisor ``abc60468ea4b``, 4.4.0.dev0). Source:
    ``supervisor/process.py`` (``Subprocess.finish``, ``Subprocess.transition``,
    ``Subprocess.change_state``, ``Subprocess.give_up``), ``supervisor/options.py``
    (``decode_wait_status``, the program defaults).

    - A run shorter than ``startsecs`` is a failed start whatever its exit code, and whatever
      ``autorestart`` says (``restart_unstable``): it is retried after 1, 2, 3 ... s (the number of
      consecutive failed starts, ``change_state`` entering BACKOFF), and the failed start after
      ``startretries`` retries gives up (FATAL): ``startretries=3`` means 4 starts.
    - A run of ``startsecs`` or more reached RUNNING and resets everything; its exit restarts at
      once (0 s), without limit, if ``autorestart`` is ``"true"``, or ``"unexpected"`` and the code
      is not in ``exitcodes``. A death by signal is never expected (``decode_wait_status`` gives
      -1, which cannot be listed). ``"false"`` restarts nothing.

    **UNHEALTHY**: supervisord has no health checks (its event listeners can restart a process,
    outside this state machine); a health kill is a SIGKILL-like death that is never expected, and
    never a stable run, so with ``restart_unstable`` it is retried as a failed start.
    **OOM** is a SIGKILL, never expected: a failed start if early, else restarted unless
    ``autorestart`` is ``"false"``. **START_FAILED** (a spawn error) is a failed start: retried
    with the same backoff and limit, whatever ``autorestart`` says. **LOST** means supervisord
    itself went away: its children are not re-adopted and ``autostart`` starts them afresh, so
    the preset restarts at once with a fresh count (``Lost.FRESH``), except under ``"false"``.

    A run of exactly ``startsecs`` is not a failed start: ``finish`` tests
    ``now - laststart < startsecs`` (strictly), so such a run reached RUNNING. The preset follows
    the source.

    Deviations from supervisord: ``startsecs`` may be fractional (supervisord parses an integer).
    A run of zero length is a failed start here; ``finish`` only tests ``too_quickly`` when
    ``now > laststart`` and otherwise assumes the process did not exit too quickly.
    supervisord spawns from its main loop, which wakes about once a second, so real delays can be
    up to a second longer than 1, 2, 3 s. With ``autorestart=false`` a LOST program would still
    be started by ``autostart`` when supervisord comes back; the preset leaves it down.
    """
    startsecs = finite("supervisord.startsecs", startsecs)
    startretries = count("supervisord.startretries", startretries)
    mode = choice("supervisord.autorestart", autorestart, _SUPERVISORD_MODES)
    expected = codes("supervisord.exitcodes", exitcodes)
    return Policy(
        mode=mode,
        backoff=Linear(initial=1.0, increment=1.0, cap=float(max(1, startretries))),
        budget=CountBudget(startretries),
        exits=ExitRules(success_codes=expected),
        stability=Stability(after=startsecs, resets=Reset.BOTH, restart_delay=0.0),
        restart_unstable=True,
        # A LOST run under autorestart=false is stopped by the mode before this applies.
        lost=Lost.FRESH,
        start_failed=StartFailed.RETRY,
        name="supervisord",
    )
