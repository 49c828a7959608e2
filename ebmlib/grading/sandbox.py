"""A kernel the grader does not trust: an allowlist sandbox, limits, timeouts, kill.

Each notebook runs in an ipykernel of the grader's own environment, under
bubblewrap (``bwrap``), in a new root that holds only

- read-only: ``/usr`` (and its ``/bin``, ``/lib`` links), ``/etc/ld.so.cache``,
  the Python installation, the virtual environment and ``ebmlib``;
- the kernel's folder ``in/`` (read-only: its connection file, the test inputs and
  plan), ``ipc/`` (its Jupyter sockets) and ``out/`` (the answers it hands back);
- a private scratch tmpfs of ``Limits.scratch_mb`` (working directory, home and
  temporary files), its own ``/proc``, its own ``/dev`` with its own ``/dev/shm``.

``--unshare-all`` leaves it no network (the grader talks to it over Jupyter's
``ipc`` transport, Unix sockets in ``ipc/``), no view of other processes, and
``--die-with-parent`` ends it when its grader dies (as does the process that starts
bubblewrap, and an unsandboxed kernel; a grader killed in the milliseconds before
bubblewrap's own setting holds leaves that kernel idle in its memory group, which the
next grader on the machine empties, see :mod:`~.cgroup`). As root, bubblewrap sets up the
namespaces and the kernel then runs as a fresh unprivileged uid per worker; without
root, bubblewrap uses an unprivileged user namespace. Where neither works,
:func:`isolation` says why and the kernel runs with limits only.

Memory: one limit for all of a notebook's processes, through a memory cgroup where
the grader can create one (root), else per process (``RLIMIT_AS``); plus limits on
processes and file size. Every kernel start gets a fresh folder, created by the
grader in its own private folder: the grader never follows, ``chown``s or ``chmod``s
a path the student's code could have replaced (see :meth:`Kernel.read_output`).
"""
import asyncio
import atexit
import dataclasses
import functools
import math
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

import nbformat
import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellTimeoutError, DeadKernelError

from . import cgroup

LIMIT_SCRIPT = ("import ctypes, os, resource, sys\n"
                "if sys.platform == 'linux':  # die with the grader, also if it died since the fork\n"
                "    ctypes.CDLL(None).prctl(1, 9)\n"
                "    if os.getppid() != int(sys.argv[1]):\n"
                "        os._exit(1)\n"
                "for name, value in zip(('AS', 'FSIZE', 'NPROC', 'CORE'), sys.argv[2:6]):\n"
                "    try:\n"
                "        resource.setrlimit(getattr(resource, 'RLIMIT_' + name), (int(value),) * 2)\n"
                "    except (ValueError, OSError):\n"
                "        pass\n"
                "if sys.argv[6] != '-':\n"
                "    with open(sys.argv[6], 'w') as f:\n"
                "        f.write(str(os.getpid()))\n"
                "os.execvp(sys.argv[7], sys.argv[7:])")
# the machine's settings of the numeric libraries reach the kernel as they are
NUMERIC_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NPY_DISABLE_CPU_FEATURES",
                    "NPY_ENABLE_CPU_FEATURES")
LIBRARY = pathlib.Path(__file__).resolve().parents[1]
SCRATCH = "/scratch"
MAX_MESSAGE_MB = 4      # a bigger message from the kernel drops its connection
RECEIVE_QUEUE = 64      # messages queued per channel before the rest are dropped


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-notebook limits: seconds per cell and in all, memory, processes, file size,
    scratch space (MB), the size of the answers handed back (MB), and each test's time:
    ``test_factor`` times the reference solution's, at least ``test_min_s``."""

    cell_timeout: float = 60.0
    total_timeout: float = 600.0
    memory_mb: int = 4096
    processes: int = 256
    file_mb: int = 256
    scratch_mb: int = 512
    answers_mb: int = 64
    test_factor: float = 20.0
    test_min_s: float = 2.0


@dataclasses.dataclass(frozen=True)
class Isolation:
    """Whether student code runs sandboxed, why not if not, and how memory is limited."""

    enabled: bool
    reason: str
    root: bool = False
    memory: str = "per process"

    def to_json(self):
        return {"level": "bubblewrap" if self.enabled else "none", "reason": self.reason,
                "uid": "a fresh unprivileged uid" if self.root else "the grader's",
                "memory": self.memory}


NO_ISOLATION = Isolation(False, "not requested")


@dataclasses.dataclass
class Outcome:
    """What one execution did: ``ok``, ``error`` (with the exception), ``timeout`` or ``dead``."""

    kind: str
    seconds: float
    ename: str = ""
    evalue: str = ""


def isolation(private=()):
    """The sandbox this machine allows. ``private`` (instructor folders: sources, hidden
    tests, submissions, output) must lie outside every folder the kernel is given."""
    works, reason = _probe()
    if not works:
        return Isolation(False, reason)
    for path in private:
        real = os.path.realpath(path)
        for given in _allowed():
            if _inside(real, given):
                return Isolation(False, f"cannot keep {real} private: the kernel is given "
                                        f"{given} (the Python environment or ebmlib), which holds it")
    root = os.geteuid() == 0
    return Isolation(True, reason, root, "cgroup" if cgroup.parent() else "per process")


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@functools.lru_cache(maxsize=1)
def _allowed():
    """The folders the kernel sees, read-only (besides /usr)."""
    folders = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, LIBRARY)}
    folders.add(os.path.dirname(os.path.realpath(sys.executable)))
    return tuple(sorted(f for f in folders if not any(
        _inside(f, other) for other in folders | {"/usr"} if other != f)))


@functools.lru_cache(maxsize=1)
def _probe():
    """Start this environment's Python in the sandbox once: it must import ipykernel,
    numpy and ebmlib, and see nothing of the machine outside the allowlist."""
    if sys.platform != "linux":
        return False, "the sandbox needs Linux namespaces (bubblewrap)"
    if shutil.which("bwrap") is None:
        return False, "bubblewrap is not installed (apt-get install -y bubblewrap)"
    folder = pathlib.Path(tempfile.mkdtemp(prefix="ebm-probe-"))
    try:
        for kind in ("in", "ipc", "out"):
            (folder / kind).mkdir()
        (folder / "secret").write_text("42")
        check = ("import ipykernel, numpy, ebmlib, os\n"
                 f"print('ok' if not os.path.exists({str(folder / 'secret')!r}) else 'seen')")
        cmd = _sandbox(folder, Limits(), os.geteuid() == 0, worker_uid()) + \
            [sys.executable, "-c", check]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=folder,
                             env=_base_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"the sandbox probe failed ({exc})"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if run.stdout.strip() != "ok":
        detail = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        return False, f"bubblewrap cannot sandbox the kernel on this machine ({detail}); " \
                      f"run as root, or enable unprivileged user namespaces"
    who = "a fresh unprivileged uid" if os.geteuid() == 0 else "a user namespace"
    return True, f"bubblewrap: allowlist root, no network, own /proc and /dev, {who}"


def worker_uid():
    """An unprivileged uid unique to this grading thread (so limits and files are per worker,
    also on a cluster's worker that grades in several threads)."""
    return 100000 + threading.get_native_id()


def _sandbox(folder, limits, root, uid):
    """The bubblewrap command line for a kernel whose folder is ``folder``."""
    # the kernel's parent in its PID namespace is bubblewrap: ipykernel must not watch the
    # grader's pid (--die-with-parent ends it with the grader instead)
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unsetenv", "JPY_PARENT_PID",
           "--ro-bind", "/usr", "/usr"]
    cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try"] if root else ["--unshare-all"]
    for top in ("bin", "lib", "lib64", "sbin"):
        path = pathlib.Path("/", top)
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), str(path)]
    if os.path.isfile("/etc/ld.so.cache"):
        cmd += ["--perms", "0755", "--dir", "/etc", "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    binds = [(p, "--ro-bind") for p in _allowed()]
    binds += [(str(folder / "in"), "--ro-bind"), (str(folder / "ipc"), "--bind"),
              (str(folder / "out"), "--bind")]
    made = {"/", "/usr", "/etc", "/proc", "/dev", SCRATCH}
    for path, how in binds:
        for parent in reversed(pathlib.PurePosixPath(path).parents):
            if str(parent) not in made:
                made.add(str(parent))
                cmd += ["--perms", "0755", "--dir", str(parent)]
        made.add(path)
        cmd += [how, path, path]
    scratch = str(limits.scratch_mb << 20)
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--size", scratch, "--perms", "1777", "--tmpfs", "/dev/shm",
            "--size", scratch, "--perms", "0777", "--tmpfs", SCRATCH, "--chdir", SCRATCH]
    if root:  # bubblewrap as root sets up the namespaces; the kernel runs as ``uid``
        cmd += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return cmd + ["--"]


def _base_env():
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1", "EBMLIB_BACKEND": "numpy",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.update({k: os.environ[k] for k in NUMERIC_SETTINGS if k in os.environ})
    return env


class _Context(zmq.asyncio.Context):
    """Sockets that refuse oversized messages and queue few: the kernel cannot fill the
    grader's memory through its channels."""

    def __init__(self):
        super().__init__()
        self.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_MB << 20)
        self.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)


class _KernelClient(AsyncKernelClient):
    def _context_default(self):
        self._created_context = True
        return _Context()


class _KernelManager(AsyncKernelManager):
    """Starts this environment's ipykernel behind the sandbox command line."""

    def format_kernel_cmd(self, extra_arguments=None):
        os.chmod(self.connection_file, 0o644)  # in the grader's in/: readable by the kernel's uid
        return self.prefix + [sys.executable, "-m", "ipykernel_launcher",
                              "-f", self.connection_file, *(extra_arguments or [])]


class _Client(NotebookClient):
    """Keeps nothing: outputs, displays and comm messages are dropped; the grader needs
    only the end of each execution and its reply."""

    def process_message(self, msg, cell, cell_index):
        if msg.get("msg_type") == "status" and \
                msg.get("content", {}).get("execution_state") == "idle":
            raise CellExecutionComplete()
        return None


class Kernel:
    """One sandboxed kernel: ``await start()``, ``await run(source, timeout)``, ``await stop()``.

    Each start makes a fresh folder in the grader's private temporary folder, with
    ``in/`` (written by the grader with :meth:`write_input`, read-only for the kernel),
    ``ipc/`` and ``out/`` (read back with :meth:`read_output`).
    """

    def __init__(self, limits, iso=NO_ISOLATION):
        self.limits = limits
        self.iso = iso
        self.uid = worker_uid() if iso.enabled and iso.root else None
        self.client = None
        self.folder = None
        self.memory = None
        self._reply = None

    def path(self, kind, name):
        """The path of ``name`` in ``in`` or ``out``, as the kernel sees it."""
        return str(self.folder / kind / name)

    def write_input(self, name, data):
        with open(self.folder / "in" / name, "xb") as f:
            f.write(data)

    def read_output(self, name, limit):
        """The bytes of ``out/name``; ValueError unless it is a regular file of at most
        ``limit`` bytes. Opened relative to the folder, never following a link."""
        dir_fd = os.open(self.folder / "out", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
                raise ValueError(f"not a regular file of at most {limit} bytes")
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"larger than {limit} bytes")
        return data

    def _make_folder(self):
        base = _private_folder()
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="kernel-", dir=base))
        os.chmod(self.folder, 0o711)
        for kind in ("in", "ipc", "out", "scratch"):
            (self.folder / kind).mkdir(mode=0o755)
        if self.uid is not None:
            # made by the grader in a folder only it can write: no student path is followed
            os.chmod(self.folder / "ipc", 0o733)
            os.chown(self.folder / "out", self.uid, self.uid, follow_symlinks=False)

    def _command(self):
        memory = self.limits.memory_mb << 20
        cmd = [sys.executable, "-I", "-S", "-c", LIMIT_SCRIPT, str(os.getpid()), str(memory),
               str(self.limits.file_mb << 20), str(self.limits.processes), "0",
               self.memory.procs if self.memory else "-"]
        if self.iso.enabled:
            cmd += _sandbox(self.folder, self.limits, self.iso.root, self.uid)
        return cmd

    def _env(self):
        home = SCRATCH if self.iso.enabled else str(self.folder / "scratch")
        env = _base_env()
        env.update({"HOME": home, "TMPDIR": home, "IPYTHONDIR": home + "/.ipython",
                    "MPLCONFIGDIR": home + "/.matplotlib"})
        return env

    async def start(self):
        self._make_folder()
        if self.iso.enabled and self.iso.memory == "cgroup":
            self.memory = cgroup.MemoryGroup(self.limits.memory_mb)
        ipc = os.name == "posix"
        km = _KernelManager(kernel_name="python3", transport="ipc" if ipc else "tcp",
                            client_class="ebmlib.grading.sandbox._KernelClient")
        if ipc:
            km.ip = str(self.folder / "ipc" / "k")
        km.prefix = self._command()
        km.connection_file = str(self.folder / "in" / "kernel.json")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
        self.client = _Client(nb, km=km, kernel_name="python3", allow_errors=True,
                              interrupt_on_timeout=False, shutdown_kernel="immediate",
                              startup_timeout=60, on_cell_executed=self._executed)
        cwd = self.folder / ("scratch" if not self.iso.enabled else "")
        await self.client.async_start_new_kernel(cwd=str(cwd), env=self._env(),
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await self.client.async_start_new_kernel_client()
        if self.uid is not None:   # the sockets exist: the kernel may no longer replace them
            os.chmod(self.folder / "ipc", 0o755)

    def out_of_memory(self):
        """Whether the notebook's processes hit the memory cgroup's limit."""
        return bool(self.memory and self.memory.exceeded())

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
        """Kill the kernel's process group (bubblewrap takes its namespace with it), empty
        its memory cgroup and remove its folder."""
        try:
            if self.client is not None:
                await self._stop_client()
        finally:
            if self.memory is not None:
                self.memory.remove()
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
            self.client = None

    async def _stop_client(self):
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
            if km is not None:
                await km.cleanup_resources()
        except OSError:
            pass


@functools.lru_cache(maxsize=1)
def _private_folder():
    """This process's folder for its kernels: only the grader can list or write it."""
    folder = tempfile.mkdtemp(prefix="ebm-grading-")
    os.chmod(folder, 0o711)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return pathlib.Path(folder)
