"""A kernel the grader does not trust: limits, isolation, timeouts, kill.

The notebook's code runs in an ipykernel of the grader's own environment,
started through nbclient, in its own process group and scratch directory, under
resource limits (address space, processes, file size, no core dumps). When the
grader runs as root and the machine allows it, the kernel also gets:

- its own mount namespace (``unshare --mount``), where a tmpfs is mounted over
  every instructor path (sources, hidden tests, the repository's ``.git``, the
  submissions, the output folder), so no path leads there;
- its own PID namespace with a private ``/proc`` (``--pid --mount-proc``): no
  other process is visible, and when the namespace's first process ends, every
  process the student started ends with it;
- an unprivileged uid with no capabilities (``setpriv``), so the mounts cannot be
  undone and the process limit is enforced; one uid per grading worker.
  ``sh`` stays the namespace's first process, so the kernel is an ordinary
  process (signals, ``os.kill(os.getpid(), 9)``) and its end ends them all.

Without this (not root, no ``unshare``, a container that forbids mounts) the
kernel still runs under limits, and :func:`isolation` says why, so that the
commands can warn loudly.
"""
import asyncio
import dataclasses
import functools
import math
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

HIDE_SCRIPT = ('for p; do [ "$p" = -- ] && break; '
               'mount -t tmpfs -o size=4k,mode=000 ebm-hidden "$p" || exit 97; shift; done; '
               'shift; unset JPY_PARENT_PID; setpriv --reuid="$EBM_UID" --regid="$EBM_UID" '
               '--clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"')
LIMIT_SCRIPT = ("import os, resource, sys\n"
                "for name, value in zip(('AS', 'FSIZE', 'NPROC', 'CORE'), sys.argv[1:5]):\n"
                "    try:\n"
                "        resource.setrlimit(getattr(resource, 'RLIMIT_' + name), (int(value),) * 2)\n"
                "    except (ValueError, OSError):\n"
                "        pass\n"
                "os.execvp(sys.argv[5], sys.argv[5:])")
TOOLS = ("unshare", "setpriv", "mount")
# the machine's settings of the numeric libraries reach the kernel as they are
NUMERIC_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NPY_DISABLE_CPU_FEATURES",
                    "NPY_ENABLE_CPU_FEATURES")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-notebook limits: seconds per cell and in all, memory, processes, file size."""

    cell_timeout: float = 60.0
    total_timeout: float = 600.0
    memory_mb: int = 4096
    processes: int = 256
    file_mb: int = 256


@dataclasses.dataclass(frozen=True)
class Isolation:
    """Whether student code runs isolated, why not if not, and what it cannot see."""

    enabled: bool
    reason: str
    hidden: tuple = ()

    def to_json(self):
        level = "namespaces" if self.enabled else "none"
        return {"level": level, "reason": self.reason, "hidden": list(self.hidden)}


NO_ISOLATION = Isolation(False, "not requested")


@dataclasses.dataclass
class Outcome:
    """What one execution did: ``ok``, ``error`` (with the exception), ``timeout`` or ``dead``."""

    kind: str
    seconds: float
    ename: str = ""
    evalue: str = ""


def isolation(paths):
    """An :class:`Isolation` hiding ``paths`` (those that exist), if this machine allows it."""
    works, reason = _probe()
    hidden = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    needed = [sys.prefix, sys.base_prefix, os.path.realpath(sys.executable), tempfile.gettempdir(),
              str(pathlib.Path(__file__).resolve().parents[1]),  # ebmlib itself
              *(p for p in sys.path if p and os.path.isdir(p) and p != os.getcwd())]
    clash = [h for h in hidden if any(_inside(n, h) for n in needed)]
    if works and clash:
        return Isolation(False, f"cannot hide {clash[0]}: the kernel needs the Python "
                                f"environment, ebmlib or the temporary folder inside it")
    return Isolation(works, reason, tuple(hidden) if works else ())


def _inside(path, folder):
    path = os.path.realpath(path)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@functools.lru_cache(maxsize=1)
def _probe():
    """Try the real isolation once: a hidden folder must be unreadable from the kernel's Python."""
    if os.geteuid() != 0:
        return False, "the grader is not running as root, so it cannot give the kernel its " \
                      "own mount namespace (run it with sudo, or in a container as root)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return False, f"missing {', '.join(missing)} (apt-get install -y util-linux mount)"
    with tempfile.TemporaryDirectory(prefix="ebm-probe-") as tmp:
        secret = pathlib.Path(tmp, "hidden")
        secret.mkdir()
        (secret / "answer").write_text("42")
        os.chmod(tmp, 0o755)
        check = (f"import ipykernel, numpy\ntry:\n open({str(secret / 'answer')!r})\n"
                 f"except OSError:\n print('hidden')")
        cmd = _prefix(Limits(), Isolation(True, "", (str(secret),))) + [sys.executable, "-c", check]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp,
                                 env={"PATH": os.environ.get("PATH", ""), "EBM_UID": str(worker_uid())})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"the isolation probe failed ({exc})"
    if run.stdout.strip() != "hidden":
        detail = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        return False, f"this machine does not allow mount/PID namespaces for the kernel ({detail})"
    return True, "mount and PID namespaces, tmpfs over instructor paths, unprivileged uid"


def worker_uid():
    """An unprivileged uid unique to this grading process (so limits and files are per worker)."""
    return 100000 + os.getpid()


def _prefix(limits, iso):
    cmd = [sys.executable, "-I", "-S", "-c", LIMIT_SCRIPT, str(limits.memory_mb << 20),
           str(limits.file_mb << 20), str(limits.processes), "0"]
    if iso.enabled:
        cmd += ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                "--kill-child", "--mount-proc", "sh", "-c", HIDE_SCRIPT, "sh", *iso.hidden, "--"]
    return cmd


class _KernelManager(AsyncKernelManager):
    """Starts this environment's ipykernel behind the sandbox prefix."""

    def format_kernel_cmd(self, extra_arguments=None):
        if self.run_as is not None:
            os.chown(self.connection_file, self.run_as, self.run_as)
        return self.prefix + [sys.executable, "-m", "ipykernel_launcher",
                              "-f", self.connection_file, *(extra_arguments or [])]


class _Client(NotebookClient):
    """Keeps no outputs: the grader needs only the execute replies (bounded below)."""

    def output(self, outs, msg, display_id, cell_index):
        return None


class Kernel:
    """One sandboxed kernel: ``await start()``, ``await run(source, timeout)``, ``await stop()``."""

    def __init__(self, workdir, limits, iso=NO_ISOLATION):
        self.workdir = pathlib.Path(workdir)
        self.limits = limits
        self.iso = iso
        self.uid = worker_uid() if iso.enabled else None
        self.client = None
        self._reply = None

    async def start(self):
        if self.uid is not None:
            os.chown(self.workdir, self.uid, self.uid)
        km = _KernelManager(kernel_name="python3")
        km.prefix = _prefix(self.limits, self.iso)
        km.run_as = self.uid
        km.connection_file = str(self.workdir / f".kernel-{secrets.token_hex(8)}.json")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
        self.client = _Client(nb, km=km, kernel_name="python3", allow_errors=True,
                              interrupt_on_timeout=False, shutdown_kernel="immediate",
                              startup_timeout=60, on_cell_executed=self._executed)
        await self.client.async_start_new_kernel(cwd=str(self.workdir), env=self._env(),
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await self.client.async_start_new_kernel_client()

    def _env(self):
        home = str(self.workdir)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "TMPDIR": home,
               "LANG": "C.UTF-8", "IPYTHONDIR": home + "/.ipython",
               "MPLCONFIGDIR": home + "/.matplotlib", "MPLBACKEND": "Agg",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1", "EBMLIB_BACKEND": "numpy",
               "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        env.update({k: os.environ[k] for k in NUMERIC_SETTINGS if k in os.environ})
        if self.uid is not None:
            env["EBM_UID"] = str(self.uid)
        return env

    def _executed(self, cell, cell_index, execute_reply):
        self._reply = execute_reply

    async def run(self, source, timeout):
        """Execute ``source``; an :class:`Outcome` (never raises for the student's doing)."""
        self.client.timeout = max(1, math.ceil(timeout))
        self._reply = None
        start = time.monotonic()
        try:
            await self.client.async_execute_cell(nbformat.v4.new_code_cell(source), 0,
                                                 store_history=False)
        except CellTimeoutError:
            return Outcome("timeout", time.monotonic() - start)
        except (DeadKernelError, RuntimeError, OSError) as exc:
            return Outcome("dead", time.monotonic() - start, type(exc).__name__, str(exc)[:300])
        seconds = time.monotonic() - start
        content = (self._reply or {}).get("content", {})
        if content.get("status") == "error":
            return Outcome("error", seconds, str(content.get("ename", ""))[:100],
                           str(content.get("evalue", ""))[:500])
        return Outcome("ok", seconds)

    async def stop(self):
        """Kill the kernel's whole process group (and with it the PID namespace)."""
        if self.client is None:
            return
        km, kc = self.client.km, self.client.kc
        provisioner = getattr(km, "provisioner", None)
        if provisioner is not None and provisioner.pgid:
            try:
                os.killpg(provisioner.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if provisioner is not None and provisioner.process is not None:
            await asyncio.get_running_loop().run_in_executor(None, provisioner.process.wait)
        if kc is not None:
            kc.stop_channels()
        try:
            await km.cleanup_resources()
        except OSError:
            pass
        self.client = None
