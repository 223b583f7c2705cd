"""How many threads torch should use here and now: a good citizen on shared machines.

PyTorch starts one thread per core it sees. On a shared node or a laptop busy with other
work, those threads compete with the other jobs for the same cores and the training can
become many times slower than on idle cores. :func:`default_threads` counts only the cores
this process may run on (its CPU affinity, as a scheduler sets it) that are not already
running other work, unless ``OMP_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import os


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _other_running_processes() -> int:
    """Count the processes running now besides this one (``/proc/loadavg``), else the load."""
    try:
        with open("/proc/loadavg") as handle:
            return max(0, int(handle.read().split()[3].split("/")[0]) - 1)
    except (OSError, IndexError, ValueError):
        try:
            return round(os.getloadavg()[0])
        except (OSError, AttributeError):
            return 0


def default_threads() -> int:
    """Return the threads to give torch: ``OMP_NUM_THREADS`` if set, else the free cores.

    The free cores are the CPUs this process may run on (its affinity) less the processes
    running on the machine right now, at least 1.

    Examples
    --------
    >>> import torch
    >>> torch.set_num_threads(default_threads())  # before training, on a shared machine
    >>> default_threads() >= 1
    True

    """
    requested = os.environ.get("OMP_NUM_THREADS", "")
    if requested.isdigit() and int(requested) > 0:
        return int(requested)
    cpus = _usable_cpus()
    return max(1, min(cpus, cpus - _other_running_processes()))
