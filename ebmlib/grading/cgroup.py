"""One memory limit for all the processes of a notebook: a memory cgroup (v1 or v2).

Only root can make one here; :func:`parent` says where this process can, and
:class:`MemoryGroup` is one group, joined by writing a pid to :attr:`MemoryGroup.procs`.
A group is named after its grader's pid, so a grader finds, empties and removes those
of graders that died.
"""
import functools
import os
import pathlib
import secrets
import signal
import time


@functools.lru_cache(maxsize=1)
def parent():
    """The memory cgroup (v1 or v2) this process may create children in, or None."""
    if os.geteuid() != 0:
        return None
    try:
        lines = pathlib.Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            base = pathlib.Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        elif controllers == "" and (pathlib.Path("/sys/fs/cgroup") / "cgroup.controllers").exists():
            base = pathlib.Path("/sys/fs/cgroup") / path.lstrip("/")
            try:
                if "memory" not in (base / "cgroup.subtree_control").read_text().split():
                    continue
            except OSError:
                continue
        else:
            continue
        probe = base / f"ebm-probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError:
            continue
        _sweep(base)
        return base
    return None


def _sweep(base):
    """Empty and remove the groups of graders that died: a grader killed while bubblewrap
    starts a kernel (before bubblewrap's --die-with-parent holds) leaves that kernel, idle,
    in its group."""
    for group in base.glob("ebm-*-*"):
        pid = group.name.split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _empty(group)


class MemoryGroup:
    """A memory cgroup for all the processes of one kernel (created by root only)."""

    def __init__(self, megabytes):
        self.path = parent() / f"ebm-{os.getpid()}-{secrets.token_hex(4)}"
        self.path.mkdir()
        limit = str(megabytes << 20)
        if (self.path / "memory.max").exists():          # v2
            (self.path / "memory.max").write_text(limit)
            (self.path / "memory.swap.max").write_text("0")
        else:                                              # v1
            (self.path / "memory.limit_in_bytes").write_text(limit)
            if (self.path / "memory.memsw.limit_in_bytes").exists():
                (self.path / "memory.memsw.limit_in_bytes").write_text(limit)

    @property
    def procs(self):
        return str(self.path / "cgroup.procs")

    def exceeded(self):
        """Whether the limit was hit: a process was killed for it or an allocation failed."""
        for name in ("memory.events", "memory.oom_control"):    # v2, v1
            try:
                lines = (self.path / name).read_text().splitlines()
                fields = {k: int(v) for k, v in (line.split()[:2] for line in lines if line.strip())}
            except (OSError, ValueError):
                continue
            if fields.get("oom_kill", 0) or fields.get("max", 0):
                return True
        try:
            return int((self.path / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def remove(self):
        _empty(self.path)


def _empty(path):
    """Kill every process of the group ``path``, then remove it."""
    for _ in range(50):
        try:
            pids = (path / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.02)
