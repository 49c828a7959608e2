"""The kernel sandbox on its own: limits, a clean environment, and (where the machine
allows it) a private view of the filesystem and of the processes."""
import asyncio
import os

import pytest

from ebmlib.grading import sandbox
from ebmlib.grading.sandbox import Kernel, Limits, isolation

ISOLATED = sandbox._probe()[0]


def run_in_kernel(workdir, sources, limits=Limits(cell_timeout=10, total_timeout=30), iso=None):
    async def go():
        kernel = Kernel(workdir, limits, iso or sandbox.NO_ISOLATION)
        await kernel.start()
        try:
            return [await kernel.run(s, limits.cell_timeout) for s in sources]
        finally:
            await kernel.stop()
    return asyncio.run(go())


def test_the_kernel_gets_a_clean_environment_and_a_file_size_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("EBM_GRADER_SECRET", "token")
    env, big = run_in_kernel(tmp_path, [
        "import os\nassert 'EBM_GRADER_SECRET' not in os.environ, 'leaked'",
        "open('big', 'wb').write(b'x' * (3 << 20))"], Limits(file_mb=1))
    assert env.kind == "ok"
    assert (big.kind, big.ename) == ("error", "OSError") and "File too large" in big.evalue


def test_a_cell_past_its_time_is_a_timeout(tmp_path):
    outcome, = run_in_kernel(tmp_path, ["while True:\n    pass"], Limits(cell_timeout=1))
    assert outcome.kind == "timeout"


def test_isolation_names_what_it_cannot_hide(tmp_path):
    iso = isolation([os.path.dirname(os.__file__)])
    assert not iso.enabled and "cannot hide" in iso.reason if ISOLATED else not iso.enabled


@pytest.mark.skipif(not ISOLATED, reason="this machine cannot isolate the kernel")
def test_an_isolated_kernel_sees_no_hidden_file_and_cannot_undo_the_mount(public_dir):
    secret = public_dir("instructor")
    (secret / "solution.py").write_text("ANSWER = 42")
    work = public_dir("work")
    outcomes = run_in_kernel(work, [
        f"import os, subprocess\ntry:\n    open({str(secret / 'solution.py')!r})\n"
        f"except PermissionError:\n    pass\nelse:\n    raise AssertionError('read it')",
        "assert os.getuid() != 0 and os.getpid() < 10",
        "assert max(int(p) for p in os.listdir('/proc') if p.isdigit()) < 10  # a private /proc",
        f"r = subprocess.run(['umount', {str(secret)!r}], capture_output=True)\nassert r.returncode != 0",
        f"open({str(secret / 'solution.py')!r}).read()",
        "procs = []\nfor _ in range(64):\n    procs.append(subprocess.Popen(['sleep', '60']))",
    ], Limits(processes=32), isolation([secret]))
    assert [o.kind for o in outcomes] == ["ok"] * 4 + ["error"] * 2, outcomes
    assert outcomes[-2].ename == "PermissionError"
    assert outcomes[-1].ename == "BlockingIOError"  # the process limit holds, even as root
    assert (secret / "solution.py").read_text() == "ANSWER = 42"
