"""The kernel sandbox on its own: limits, a clean environment, and (where the machine
allows it: bubblewrap, as root or with user namespaces) an allowlist view of the
machine, no network, private processes, and a grader that follows no student path."""
import asyncio
import os
import pathlib
import stat

import pytest

from ebmlib.grading import sandbox
from ebmlib.grading.sandbox import Kernel, Limits, isolation

ISOLATED = sandbox._probe()[0]
ROOT = os.geteuid() == 0
needs_sandbox = pytest.mark.skipif(not ISOLATED, reason="no sandbox here: " + sandbox._probe()[1])


def run_in_kernel(sources, limits=Limits(cell_timeout=10, total_timeout=30), iso=None, after=None):
    """Run ``sources`` one by one in a fresh kernel; ``after(kernel)`` runs before it stops."""
    async def go():
        kernel = Kernel(limits, iso or sandbox.NO_ISOLATION)
        await kernel.start()
        try:
            outcomes = [await kernel.run(s, limits.cell_timeout) for s in sources]
            return outcomes, after(kernel) if after else None
        finally:
            await kernel.stop()
    return asyncio.run(go())


def test_the_kernel_gets_a_clean_environment_and_a_file_size_limit(monkeypatch):
    monkeypatch.setenv("EBM_GRADER_SECRET", "token")
    (env, big), _ = run_in_kernel([
        "import os\nassert 'EBM_GRADER_SECRET' not in os.environ, 'leaked'",
        "open('big', 'wb').write(b'x' * (3 << 20))"], Limits(file_mb=1))
    assert env.kind == "ok"
    assert (big.kind, big.ename) == ("error", "OSError") and "File too large" in big.evalue


def test_a_cell_past_its_time_is_a_timeout():
    (outcome,), _ = run_in_kernel(["while True:\n    pass"], Limits(cell_timeout=1))
    assert outcome.kind == "timeout"


def test_each_start_gets_a_fresh_folder_that_is_removed_after():
    folders = []
    for _ in range(2):
        run_in_kernel(["x = 1"], after=lambda k: folders.append(k.folder))
    assert folders[0] != folders[1] and not any(f.exists() for f in folders)


def test_isolation_refuses_to_give_the_kernel_a_private_folder(tmp_path):
    iso = isolation([os.path.dirname(os.__file__)])
    assert not iso.enabled
    assert "cannot keep" in iso.reason if ISOLATED else iso.reason == sandbox._probe()[1]


@needs_sandbox
def test_the_sandbox_shows_only_the_allowlist(public_dir):
    secret = public_dir("instructor")
    (secret / "solution.py").write_text("ANSWER = 42")
    # the top level holds the system folders, the kernel's own folders, and the first
    # component of each allowed folder (wherever this checkout and its Python live)
    tops = {"usr", "bin", "lib", "lib64", "sbin", "etc", "proc", "dev", "scratch", "tmp"}
    tops |= {pathlib.PurePosixPath(p).parts[1] for p in sandbox._allowed()}
    outcomes, _ = run_in_kernel([
        f"import os\nassert not os.path.exists({str(secret)!r})",
        f"assert set(os.listdir('/')) <= {tops!r}, os.listdir('/')",
        "assert os.listdir('/etc') == ['ld.so.cache'] or not os.path.exists('/etc')",
        "assert not os.path.exists('/home') or os.listdir('/home') == []",
        "assert max(int(p) for p in os.listdir('/proc') if p.isdigit()) < 10  # a private /proc",
        "assert os.getcwd() == '/scratch' and os.environ['HOME'] == '/scratch'",
        "open('/usr/owned', 'w')",
    ], iso=isolation([secret]))
    assert [o.kind for o in outcomes] == ["ok"] * 6 + ["error"], "\n".join(map(str, outcomes))
    assert outcomes[-1].ename in ("PermissionError", "OSError")


@needs_sandbox
def test_no_network_not_even_the_hosts_loopback():
    outcomes, _ = run_in_kernel([
        "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', 22))",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('8.8.8.8', 53))",
        "import os\nassert os.listdir('/sys/class/net') == ['lo'] if os.path.isdir('/sys/class/net') "
        "else True",
    ], iso=isolation())
    assert outcomes[0].ename in ("ConnectionRefusedError", "OSError"), outcomes[0]
    assert outcomes[1].kind == "error" and "unreachable" in outcomes[1].evalue.lower()
    assert outcomes[2].kind == "ok"


@needs_sandbox
def test_processes_memory_and_shm_stay_inside():
    limits = Limits(cell_timeout=20, total_timeout=60, processes=32, memory_mb=512)
    outcomes, _ = run_in_kernel([
        "import os, subprocess\nassert os.getuid() != 0 or not " + str(ROOT),
        "procs = []\nfor _ in range(64):\n    procs.append(subprocess.Popen(['sleep', '60']))",
        "open('/dev/shm/x', 'wb').write(b'x' * (100 << 20))",
    ], limits, isolation())
    assert [o.kind for o in outcomes] == ["ok", "error", "ok"], outcomes
    assert outcomes[1].ename == "BlockingIOError"  # the process limit holds
    assert not pathlib.Path("/dev/shm/x").exists()


@pytest.mark.skipif(not (ISOLATED and isolation().memory == "cgroup"),
                    reason="no memory cgroup here (needs root)")
def test_one_memory_limit_for_all_of_a_notebooks_processes():
    """Forked children each under RLIMIT_AS still share one cgroup limit."""
    limits = Limits(cell_timeout=30, total_timeout=60, memory_mb=1024)
    code = ("import os, time\npids = []\nfor _ in range(4):\n    pid = os.fork()\n"
            "    if pid == 0:\n        try:\n            x = bytearray(450 << 20)\n"
            "            for i in range(0, len(x), 4096):\n                x[i] = 1\n"
            "            time.sleep(30)\n        finally:\n            os._exit(0)\n"
            "    pids.append(pid)\n"
            "time.sleep(3)\nalive = sum(os.waitpid(p, os.WNOHANG) == (0, 0) for p in pids)\n"
            "assert alive <= 2, alive")
    outcomes, oom = run_in_kernel([code], limits, isolation(), after=lambda k: k.out_of_memory())
    assert outcomes[0].kind in ("ok", "dead"), outcomes
    assert oom


@needs_sandbox
def test_the_grader_reads_no_link_no_fifo_and_nothing_oversized():
    def attempts(kernel):
        results = {}
        for name in ("link", "fifo", "big", "fine"):
            try:
                results[name] = kernel.read_output(name, 1 << 20)
            except (OSError, ValueError) as exc:
                results[name] = type(exc).__name__
        return results
    iso = isolation()
    outcomes, results = run_in_kernel([
        "import os, glob\nout = [p for p in glob.glob('/tmp/ebm-grading-*/kernel-*/out')][0]",
        "os.symlink('/etc/passwd', out + '/link')\nos.mkfifo(out + '/fifo')\n"
        "open(out + '/big', 'wb').write(b'x' * (2 << 20))\nopen(out + '/fine', 'wb').write(b'ok')",
    ], iso=iso, after=attempts)
    assert [o.kind for o in outcomes] == ["ok", "ok"], outcomes
    assert results == {"link": "OSError", "fifo": "ValueError", "big": "ValueError", "fine": b"ok"}


@pytest.mark.skipif(not (ISOLATED and ROOT), reason="needs root and bubblewrap")
def test_the_kernel_cannot_replace_its_sockets_or_inputs():
    def folder_state(kernel):
        return {kind: stat.S_IMODE(os.stat(kernel.folder / kind).st_mode) for kind in ("in", "ipc")}
    outcomes, modes = run_in_kernel([
        "import glob, os\nipc = glob.glob('/tmp/ebm-grading-*/kernel-*/ipc')[0]\n"
        "os.rename(ipc + '/k-1', ipc + '/moved')",
        "inp = glob.glob('/tmp/ebm-grading-*/kernel-*/in')[0]\nopen(inp + '/plan.json', 'w')",
    ], iso=isolation(), after=folder_state)
    assert [o.ename for o in outcomes] == ["PermissionError", "OSError"], outcomes
    assert not any(mode & 0o022 for mode in modes.values()), modes


@needs_sandbox
def test_two_kernels_at_once_see_nothing_of_each_other():
    """Kernel A holds a secret in its code, its scratch and its sockets' folder; kernel B,
    told exactly where A's folder is, finds none of it, nor A's process or ports."""
    async def go():
        iso, limits = isolation(), Limits(cell_timeout=20, total_timeout=60)
        a, b = Kernel(limits, iso), Kernel(limits, iso)
        await asyncio.gather(a.start(), b.start())
        try:
            secret = "SECRET-ANSWER-4242"
            setup = await a.run(f"answer = {secret!r}\nopen('/scratch/answer', 'w').write(answer)\n"
                                "import socket\nserver = socket.socket()\n"
                                "server.bind(('127.0.0.1', 45454))\nserver.listen()", 10)
            look = f"""import glob, os, socket
found = []
for path in glob.glob({str(a.folder)!r} + '/**', recursive=True) + glob.glob('/proc/*/cmdline') \\
        + glob.glob('/proc/*/environ') + glob.glob('/tmp/**', recursive=True):
    try:
        if {secret!r} in open(path, errors='replace').read():
            found.append(path)
    except OSError:
        pass
found += [p for p in glob.glob('/proc/[0-9]*') if p not in ('/proc/1', f'/proc/{{os.getpid()}}')
          and 'ipykernel' in open(p + '/cmdline').read()]
try:
    socket.create_connection(('127.0.0.1', 45454), timeout=1)
    found.append('port 45454')
except OSError:
    pass
assert os.path.exists({str(b.folder)!r} + '/in/kernel.json')
assert not os.path.exists({str(a.folder)!r}), 'sees the folder of A'
assert not found, found"""
            outcome = await b.run(look, 20)
            return setup, outcome
        finally:
            await asyncio.gather(a.stop(), b.stop())
    setup, outcome = asyncio.run(go())
    assert setup.kind == "ok", setup
    assert outcome.kind == "ok", outcome
