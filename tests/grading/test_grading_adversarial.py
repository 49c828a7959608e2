"""A batch of damaged and hostile submissions: each gets its status and points, and the
batch finishes; nothing a student does can raise a score or touch the instructor's files."""
import csv
import hashlib
import json
import pathlib
import shutil

import pytest

from ebmlib.grading.sandbox import _probe
from grading_course import (FREE_ENERGY, GRAD, LIMIT_ARGS, SOFTMAX, correct, grading, load_json,
                            save, student)

ISOLATED = _probe()[0]
ZEROS = {"softmax": "def softmax(energies, beta=1.0):\n    return np.zeros(np.shape(energies))",
         "free_energy": "def free_energy(energies, beta=1.0):\n"
                        "    return np.zeros(np.shape(energies)[:-1])",
         "grad": "def free_energy_grad(energies, beta=1.0):\n    return np.zeros(np.shape(energies))"}


def body(code, first_lines):
    """``code`` with ``first_lines`` inserted at the top of the function body."""
    lines = code.split("\n")
    return "\n".join(lines[:2] + [f"    {line}" for line in first_lines] + lines[2:])


def read_hidden(course, out):
    """A softmax that tries to use the instructor's solution and to delete files."""
    source_nb = str(course["source"] / "free_energy.ipynb")
    victims = (str(course["hidden"] / "free_energy_tests.py"),)
    return f'''def softmax(energies, beta=1.0):
    import json, os, shutil
    answer = None
    for path in ({source_nb!r}, "/proc/1/root" + {source_nb!r}):
        try:
            nb = json.load(open(path))
        except OSError:
            continue
        ns = {{"np": np}}
        exec("".join(nb["cells"][2]["source"]), ns)
        answer = ns["softmax"](energies, beta)
    for victim in {victims!r}:
        try:
            os.remove(victim)
        except OSError:
            pass
    shutil.rmtree({str(out)!r}, ignore_errors=True)
    if answer is None:
        raise PermissionError("the instructor's files are out of reach")
    return answer'''


FORGE = '''import glob, json, os, threading, time
import numpy as np
def _forge(path):
    # claims full marks in the grader's own format: the claims are judged like any answer
    meta = json.dumps({"meta": {str(i): {"status": "value"} for i in range(6)},
                       "arrays": [[f"t{i}_o0", "<f8", [3]] for i in range(6)]}).encode()
    with open(path, "wb") as f:
        f.write(b"EBM-ANSWERS-1\\n" + len(meta).to_bytes(8, "little") + meta + np.ones(18).tobytes())
out = sorted(glob.glob("/tmp/ebm-grading-*/kernel-*/out"))[-1]
json.dump({"softmax": "ok", "points": 6}, open("results.json", "w"))
def _loop():
    while True:
        for k in range(3):
            try:
                _forge(f"{out}/answers-{k}")
            except OSError:
                pass
        time.sleep(0.001)
threading.Thread(target=_loop, daemon=True).start()'''

FIFO_TRAP = '''import glob, os, threading, time
out = sorted(glob.glob("/tmp/ebm-grading-*/kernel-*/out"))[-1]
def _trap():
    while True:
        for k in range(3):
            for name in (f"answers-{k}", f"answers-{k}.part"):
                try:
                    os.remove(f"{out}/{name}")
                except OSError:
                    pass
                try:
                    os.mkfifo(f"{out}/{name}")
                except OSError:
                    pass
        time.sleep(0.0005)
threading.Thread(target=_trap, daemon=True).start()'''

SLEEPERS = '''import os, subprocess, time
os.environ["EBM_SLEEPER"] = "1"
subprocess.Popen(["sleep", "4321"])
if os.fork() == 0:
    time.sleep(4321)
    os._exit(0)'''

MONKEYPATCH = '''np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
np.testing.assert_allclose = lambda *a, **k: None'''

ALWAYS_EQUAL = '''class Always:
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False
def softmax(energies, beta=1.0):
    return Always()'''

SUBCLASS = '''class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), bool)
def free_energy(energies, beta=1.0):
    return np.zeros(np.shape(energies)[:-1]).view(Liar)'''

def spy(course, clone, out):
    """A softmax that looks for another student's code or the course's answers anywhere in
    reach: files, other processes, an earlier grading's cache, the host's loopback ports."""
    return f'''def softmax(energies, beta=1.0):
    import glob, os, socket
    wanted = "p / p.sum(axis=-1, keepdims=True)"
    places = ["/tmp/**", "/proc/[0-9]*/cmdline", "/proc/[0-9]*/environ", "/home/**", "/root/*",
              {str(clone)!r} + "/**", {str(course["source"])!r} + "/**", {str(out)!r} + "/**"]
    for pattern in places:
        for path in glob.glob(pattern, recursive=True)[:2000]:
            try:
                text = open(path, errors="replace").read(1 << 20)
            except OSError:
                continue
            if wanted in text:
                raise AssertionError(f"found a softmax answer in {{path}}")
    for port in range(1, 65536, 61):
        s = socket.socket()
        s.settimeout(0.001)
        try:
            s.connect(("127.0.0.1", port))
            if s.getsockname() != s.getpeername():   # not a socket that connected to itself
                raise AssertionError(f"reached the host's port {{port}}")
        except OSError:
            pass
        finally:
            s.close()
    raise PermissionError("nothing of other students or of the course is in reach")'''


PORT_HOG = '''import socket
held = []
for _ in range(2000):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        s.listen()
        held.append(s)
    except OSError:
        break'''

COMM_FLOOD = '''import time
from ipykernel.comm import Comm
comm = Comm(target_name="flood")
end, sent = time.time() + 3, 0
while time.time() < end and sent < 1500:
    comm.send(data={"x": "z" * (1 << 20)})
    sent += 1
print("x" * (8 << 20))'''

ANSWERS_BOMB = '''import os, json
_replace = os.replace
def _bomb(src, dst):
    if "answers-0" in dst:    # a header claiming 80 GB of arrays
        header = json.dumps({"meta": {}, "arrays": [[f"a{i}", "<f8", [10**7]] for i in range(1000)]})
        open(dst, "wb").write(b"EBM-ANSWERS-1\\n" + len(header).to_bytes(8, "little") + header.encode())
    elif "answers-1" in dst:  # a header nested too deep to parse
        header = b"[" * 200000
        open(dst, "wb").write(b"EBM-ANSWERS-1\\n" + len(header).to_bytes(8, "little") + header)
    elif "answers-2" in dst:  # a huge integer
        header = b'{"meta": {"4": 1' + b"9" * 100000 + b'}, "arrays": []}'
        open(dst, "wb").write(b"EBM-ANSWERS-1\\n" + len(header).to_bytes(8, "little") + header)
    else:
        _replace(src, dst)
os.replace = _bomb'''


def planted_links(course):
    """Links named like the grader's files, pointing at the instructor's files."""
    target = str(course["hidden"] / "free_energy_tests.py")
    return f'''import glob, os
out = sorted(glob.glob("/tmp/ebm-grading-*/kernel-*/out"))[-1]
for k in range(3):
    for name in (f"answers-{{k}}", f"answers-{{k}}.part"):
        try:
            os.symlink({target!r}, f"{{out}}/{{name}}")
        except OSError:
            pass'''


OK3 = {"softmax": "ok", "free_energy": "ok", "grad": "ok"}

# student -> (total points, {question: status}, text expected in that student's JSON)
EXPECTED = {
    "perfect": (6, OK3, None),
    "untouched_release": (0, dict.fromkeys(OK3, "error"), "not answered yet"),
    "empty_file": (0, dict.fromkeys(OK3, "unreadable"), "is empty (0 bytes)"),
    "truncated": (0, dict.fromkeys(OK3, "unreadable"), "not valid JSON (truncated at byte 700)"),
    "not_json": (0, dict.fromkeys(OK3, "unreadable"), "is not valid JSON (Expecting value"),
    "binary": (0, dict.fromkeys(OK3, "unreadable"), "is not UTF-8 text"),
    "no_cells": (0, dict.fromkeys(OK3, "unreadable"), "has no 'cells' list"),
    "huge_stored_output": (6, OK3, None),
    "no_notebook": (0, dict.fromkeys(OK3, "missing"), "holds no notebook"),
    "two_notebooks": (6, OK3, "'free_energy-Copy1.ipynb' is not one of the exercise notebooks"),
    "wrong_name": (0, dict.fromkeys(OK3, "missing"), "rename the notebook with your answers"),
    "loop_top_level": (6, OK3, "s limit and was stopped"),
    "loop_in_function": (4, {**OK3, "softmax": "timeout"}, "did not finish within 4 s"),
    "sys_exit": (4, {**OK3, "free_energy": "error"}, "SystemExit: 3"),
    "os_exit_top_level": (6, OK3, "the Python kernel died while running cell 3"),
    "os_exit_in_function": (4, {**OK3, "grad": "crashed"}, "died while running this question"),
    "kill_self": (4, {**OK3, "softmax": "crashed"}, "died while running this question"),
    "forked_sleepers": (6, OK3, None),
    "huge_prints": (6, OK3, None),
    "memory_hog": (4, {**OK3, "free_energy": "memory"}, "ran out of memory (limit 1024 MB)"),
    "monkeypatched_numpy": (0, dict.fromkeys(OK3, "wrong"), "entries differ"),
    "always_equal": (4, {**OK3, "softmax": "wrong"}, "returned a Always, expected numbers"),
    "ndarray_subclass": (4, {**OK3, "free_energy": "wrong"}, "entries differ"),
    "edited_metadata": (0, dict.fromkeys(OK3, "wrong"), None),
    "forged_results": (0, None, None),
    "fifo_trap": (0, None, None),
    "syntax_error": (4, {**OK3, "free_energy": "missing"}, "raised SyntaxError"),
    "slow_but_correct": (6, OK3, None),
    "stderr_warning": (6, OK3, None),
    "read_hidden": (4, {**OK3, "softmax": "error"}, "the instructor's files are out of reach"),
    "spy": (4, {**OK3, "softmax": "error"}, "nothing of other students or of the course is in reach"),
    "port_hog": (6, OK3, None),
    "comm_flood": (6, OK3, None),
    "answers_bomb": (0, dict.fromkeys(OK3, "error"), "the grader could not read back your answers"),
    # the links break only the student's own hand-back; no instructor file changes (below)
    "planted_links": (0, dict.fromkeys(OK3, "error"), "the grader could not collect your answers"),
}
SANDBOXED_ONLY = ("read_hidden", "spy", "port_hog")  # attacks on the host itself


def build(course, subs, out, clone):
    """Write every submission of EXPECTED under ``subs``."""
    def nb(name, notebook, filename="free_energy.ipynb"):
        save(notebook, subs / name / filename)

    good = student(course, correct())
    raw = (course["released"].parent / "free_energy.ipynb")
    nb("perfect", good)
    nb("untouched_release", student(course))
    for name, data in [("empty_file", b""), ("truncated", None), ("not_json", b"grades please"),
                       ("binary", b"\xff\xd8\xff\xe0 a photo"), ("no_cells", b'{"metadata": {}}')]:
        path = subs / name / "free_energy.ipynb"
        path.parent.mkdir(parents=True)
        path.write_bytes(raw.read_bytes()[:700] if data is None else data)
    big = json.loads(json.dumps(good))
    big["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "z" * 20_000_000}]
    (subs / "huge_stored_output").mkdir()
    (subs / "huge_stored_output" / "free_energy.ipynb").write_text(json.dumps(big))
    (subs / "no_notebook").mkdir()
    (subs / "no_notebook" / "answers.txt").write_text("see email")
    nb("two_notebooks", good)
    nb("two_notebooks", student(course), "free_energy-Copy1.ipynb")
    nb("wrong_name", good, "Free Energy (1).ipynb")
    nb("loop_top_level", student(course, correct(), after=["while True:\n    pass"]))
    nb("loop_in_function", student(course, correct(softmax=body(SOFTMAX, ["while True:", "    pass"]))))
    nb("sys_exit", student(course, correct(free_energy=body(FREE_ENERGY, ["import sys", "sys.exit(3)"])),
                           after=["import sys\nsys.exit(1)"]))
    nb("os_exit_top_level", student(course, correct(), before=["import os\nos._exit(1)"]))
    nb("os_exit_in_function", student(course, correct(grad=body(GRAD, ["import os", "os._exit(0)"]))))
    nb("kill_self", student(course, correct(softmax=body(SOFTMAX, ["import os", "os.kill(os.getpid(), 9)"]))))
    nb("forked_sleepers", student(course, correct(), before=[SLEEPERS]))
    nb("huge_prints", student(course, correct(free_energy=body(FREE_ENERGY, ["print('y' * 1_000_000)"])),
                              after=["print('x' * 100_000_000)", "for i in range(20000):\n    print(i)"]))
    nb("memory_hog", student(course, correct(free_energy=body(FREE_ENERGY, [
        "hog = []", "while True:", "    hog.append(np.ones(10**7))"]))))
    nb("monkeypatched_numpy", student(course, ZEROS, before=[MONKEYPATCH]))
    nb("always_equal", student(course, correct(softmax=ALWAYS_EQUAL)))
    nb("ndarray_subclass", student(course, correct(free_energy=SUBCLASS)))
    edited = student(course, ZEROS)
    meta = edited.metadata["ebm_grading"]
    meta["questions"] = [{**q, "points": 100} for q in meta["questions"]]
    for test in meta["public_tests"]:
        test["compare"]["rtol"] = 1e9
    for cell in edited.cells:
        cell.metadata["tags"] = [t.replace("points:2", "points:100") for t in cell.metadata.get("tags", [])]
    nb("edited_metadata", edited)
    nb("forged_results", student(course, before=[FORGE]))
    nb("fifo_trap", student(course, before=[FIFO_TRAP]))
    nb("syntax_error", student(course, correct(free_energy="def free_energy(energies, beta=1.0)\n    return 0")))
    nb("slow_but_correct", student(course, correct(softmax=body(SOFTMAX, ["import time", "time.sleep(1.0)"]))))
    nb("stderr_warning", student(course, correct(softmax=body(SOFTMAX, [
        "import sys, warnings", "warnings.warn('numerically delicate')", "print('note', file=sys.stderr)"]))))
    nb("comm_flood", student(course, correct(), before=[COMM_FLOOD]))
    nb("answers_bomb", student(course, correct(), after=[ANSWERS_BOMB]))
    nb("planted_links", student(course, correct(), after=[planted_links(course)]))
    if ISOLATED:
        nb("read_hidden", student(course, correct(softmax=read_hidden(course, out))))
        nb("spy", student(course, correct(softmax=spy(course, clone, out))))
        nb("port_hog", student(course, correct(), before=[PORT_HOG]))


@pytest.fixture(scope="module")
def batch(course, public_dir):
    root = public_dir("batch")
    subs, out = root / "submissions", root / "out"
    clone = public_dir("clone")   # another copy of the course, named on no command line
    shutil.copytree(course["source"], clone / "source")
    build(course, subs, out, clone)
    before = snapshot(course["root"], subs, clone)
    run = grading("grade", subs, "--out", out, "--source", course["source"], "-j", "2", *LIMIT_ARGS,
                  timeout=600)
    return {"run": run, "out": out, "subs": subs, "before": before,
            "after": snapshot(course["root"], subs, clone)}


def snapshot(*folders):
    """Every file and folder under ``folders``: its content digest, owner and mode."""
    state = {}
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            state[str(path)] = (digest, info.st_uid, info.st_gid, info.st_mode)
    return state


def test_the_whole_batch_finishes(batch):
    run = batch["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {r["student"]: r for r in csv.DictReader(open(batch["out"] / "grades.csv"))}
    assert set(rows) == {s for s in EXPECTED if ISOLATED or s not in SANDBOXED_ONLY}
    assert all(r["maximum"] == "6" for r in rows.values())


@pytest.mark.parametrize("name", EXPECTED)
def test_each_submission_gets_its_status_and_points(batch, name):
    if name in SANDBOXED_ONLY and not ISOLATED:
        pytest.skip("this machine cannot isolate the kernel: " + _probe()[1])
    total, statuses, text = EXPECTED[name]
    result = load_json(batch["out"] / "results" / f"{name}.json")
    questions = {q["id"]: q for q in result["exercises"][0]["questions"]}
    assert (result["points"], result["maximum"]) == (total, 6), json.dumps(result, indent=1)[:4000]
    if statuses:
        assert {q: v["status"] for q, v in questions.items()} == statuses
    assert all(q["message"] for q in questions.values())
    if text:
        assert text in json.dumps(result), json.dumps(result, indent=1)[:4000]
    assert (batch["out"] / "feedback" / f"{name}.md").exists()


def test_isolation_is_recorded(batch):
    result = load_json(batch["out"] / "results" / "perfect.json")
    assert result["isolation"]["level"] == ("bubblewrap" if ISOLATED else "none")
    if not ISOLATED:
        assert "NOT isolated" in batch["run"].stderr


@pytest.mark.skipif(not ISOLATED, reason="this machine cannot isolate the kernel")
def test_student_code_cannot_read_or_delete_the_instructors_files(batch, course):
    assert (course["hidden"] / "free_energy_tests.py").exists()
    assert (course["source"] / "free_energy.ipynb").exists()
    assert (batch["out"] / "grades.csv").exists() and (batch["out"] / "results" / "perfect.json").exists()


def test_no_process_outlives_the_batch(batch):
    left = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            if b"EBM_SLEEPER=1" in (proc / "environ").read_bytes():
                left.append(proc.name)
        except OSError:
            pass
    assert not left


def test_kept_outputs_stay_small(batch):
    sizes = [p.stat().st_size for p in (batch["out"] / "results").iterdir()]
    assert max(sizes) < 50_000


def test_no_file_outside_the_sandbox_changes_content_or_owner(batch):
    """The course, the submissions and another clone: the grader (root in CI) followed no
    link a student planted, and no student reached them."""
    changed = {p for p in batch["before"].keys() | batch["after"].keys()
               if batch["before"].get(p) != batch["after"].get(p)}
    assert not changed, sorted(changed)[:10]
