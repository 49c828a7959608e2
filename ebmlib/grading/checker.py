"""Checking answers from a notebook cell: ``check("hinge_loss")``, ``check.all()``.

A released notebook opens with::

    from ebmlib.grading import Checker
    check = Checker.for_notebook()

and each question ends with ``check("<question>")``. The checker runs the question's
public tests on the functions as they stand in the live kernel (nothing needs saving),
through the grader's own harvest and judging (:func:`.grader._harvest`, ``harvest.py``,
:func:`.spec.judge`, :func:`.grader.score`), so it gives the verdicts and messages of
``python -m ebmlib.grading check NOTEBOOK``. The only tests it knows are the public ones
that ``release`` embeds in the released notebook's metadata: it never reads a test
module, and hidden tests never leave the instructor's folder.

Under the grader (``check``, ``grade``, ``verify``) the grader marks its kernel
(:data:`GRADED`) before the notebook's cells run, and the check cells do nothing there:
they return at once and never raise, so they cost no time and cannot disturb grading.
"""
import dataclasses
import functools
import html
import json
import math
import os
import pathlib
import signal
import sys
import tempfile
import threading
import time

from . import report

GRADED = "__ebm_graded__"   # set to True in the grader's kernels: check cells do nothing there
LIBRARY = pathlib.Path(__file__).resolve().parents[1]
RELEASE_DIR = LIBRARY.parent / "exercises" / "release"   # the course's release, in a checkout
GRADED_NOTE = "not run while the notebook is graded: the grader runs every test itself"


class NotebookNotFound(LookupError):
    """``Checker.for_notebook`` cannot tell which exercise it is in (the message says what
    to pass)."""


class Checker:
    """The public tests of one exercise, run on the functions of a namespace (the kernel's).

    ``check("q")`` checks question ``q`` (several names: several questions; none: all),
    ``check.all()`` every question; both return a :class:`Report` (an HTML table in
    Jupyter, text elsewhere). Build it with :meth:`for_notebook`.
    """

    def __init__(self, exercise, namespace, timeout=None, notebook=None):
        self._exercise = exercise            # public tests only (Exercise.from_release), or None
        self._namespace = namespace
        self._timeout = timeout
        self.notebook = notebook

    def _limits(self):
        """The grader's limits, with ``timeout`` per question (default: as ``check`` gives each
        question) and no limit on a whole run."""
        from .sandbox import Limits

        seconds = Limits().cell_timeout if self._timeout is None else float(self._timeout)
        return Limits(cell_timeout=seconds, total_timeout=math.inf)

    @property
    def exercise(self):
        """The exercise's name (None under the grader)."""
        return self._exercise.name if self._exercise else None

    @property
    def questions(self):
        """The question ids, in the notebook's order."""
        return list(self._exercise.points) if self._exercise else []

    @classmethod
    def for_notebook(cls, exercise=None, *, namespace=None, timeout=None):
        """The checker of the notebook this is called from.

        Which exercise: the notebook Jupyter runs (``JPY_SESSION_NAME``, set by Jupyter
        Server 2 for JupyterLab and Notebook 7; VS Code's ``__vsc_ipynb_file__``), whose
        metadata holds the public tests. ``exercise`` names it instead: an exercise
        (``"losses"``, looked up beside the notebook, in the working folder, then in the
        course's ``exercises/release``) or the path of a released notebook.
        ``namespace``: where the functions are (default: the kernel's, else the caller's
        globals). ``timeout``: seconds per question (default: the grader's ``--cell-timeout``).
        """
        if namespace is None:
            namespace = _caller_namespace()
        if namespace.get(GRADED) is True:
            return cls(None, namespace, timeout)
        path, metadata = _find(exercise, namespace)
        from .exercise import Exercise

        try:
            public = Exercise.from_release(metadata)
        except (KeyError, TypeError, ValueError):
            raise NotebookNotFound(
                f"the public tests in the metadata of '{path}' are damaged: download the "
                f"released notebook again and copy your answers into it") from None
        return cls(public, namespace, timeout, str(path))

    def __call__(self, *questions):
        if self._exercise is None:
            return Report(None, [], GRADED_NOTE)
        unknown = [q for q in questions if q not in self._exercise.points]
        if unknown:
            raise ValueError(f"{self.exercise} has no question {', '.join(map(repr, unknown))}: "
                             f"its questions are {', '.join(self.questions)}")
        return Report(self.exercise, self._check(list(questions) or self.questions))

    def all(self):
        """Every public test of every question."""
        return self()

    def __repr__(self):
        if self._exercise is None:
            return f"Checker ({GRADED_NOTE})"
        public = len(self._exercise.cases)
        return (f"Checker of {self.exercise} ({public} public tests): check(\"question\") with "
                f"one of {', '.join(self.questions)}, or check.all()")

    def _check(self, questions):
        """The :func:`.grader.score` result of ``questions``: their public tests, harvested in
        this process from the namespace as it is now."""
        from . import grader

        limits = self._limits()
        points = {q: self._exercise.points[q] for q in questions}
        exercise = dataclasses.replace(self._exercise, points=points, cases=[
            c for c in self._exercise.cases if c.question in points])
        run = grader.Run()
        pending = [q for q in points if any(c.question == q for c in exercise.cases)]
        deadline = time.monotonic() + limits.total_timeout
        with tempfile.TemporaryDirectory(prefix="ebm-check-") as folder:
            for start in range(len(pending)):   # _harvest stops after a question that timed out
                if not pending:
                    break
                kernel = _in_process_kernel()(limits, self._namespace,
                                              pathlib.Path(folder) / str(start))
                _complete(grader._harvest(kernel, exercise, pending, run, deadline, limits, False))
        return grader.score(exercise, run, limits)["questions"]


class Report:
    """What a check found: per question and per public test, pass or fail and the grader's
    message. Shown as an HTML table in Jupyter (``_repr_html_``), as text elsewhere."""

    def __init__(self, exercise, questions, note=None):
        self.exercise = exercise
        self.questions = questions
        self.note = note

    @property
    def tests(self):
        return [dict(t, question=q["id"]) for q in self.questions for t in q["tests"]]

    @property
    def passed(self):
        """Whether every public test checked passes."""
        return all(t["status"] == "ok" for t in self.tests)

    def to_json(self):
        """Per question: id, status, message and per test its name, status and message."""
        return {"exercise": self.exercise, "note": self.note, "questions": [
            {"id": q["id"], "status": q["status"], "message": q["message"],
             "tests": [{k: t[k] for k in ("name", "status", "message")} for t in q["tests"]]}
            for q in self.questions]}

    def _summary(self):
        """The headline: the exercise's counts, or the one question's."""
        if len(self.questions) == 1:
            return report.headline(self.questions[0])
        tests = self.tests
        passed = sum(t["status"] == "ok" for t in tests)
        questions = sum(q["status"] == "ok" for q in self.questions if q["tests"])
        return (f"{self.exercise}: {passed}/{len(tests)} public tests pass, "
                f"{questions}/{sum(bool(q['tests']) for q in self.questions)} questions")

    def __str__(self):
        if self.note:
            return f"check: {self.note}"
        several = len(self.questions) > 1
        pad = "  " if several else ""
        lines = [self._summary()] if several else []
        for q in self.questions:
            lines.append(pad + report.headline(q))
            for t in q["tests"]:
                if t["status"] == "ok":
                    lines.append(f"{pad}    pass  {t['name']}")
                else:
                    lines.append(f"{pad}    FAIL  {t['name']}: {t['status']}: "
                                 + t["message"].replace("\n", "\n" + pad + " " * 10))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        e = html.escape
        if self.note:
            return f"<p><b>check</b>: {e(self.note)}</p>"
        rows = []
        for q in self.questions:
            if not q["tests"]:
                rows.append(f"<tr><td>{e(q['id'])}</td><td colspan='3'>no public tests (graded by "
                            f"hidden tests only)</td></tr>")
            for k, t in enumerate(q["tests"]):
                ok = t["status"] == "ok"
                verdict = ("<span style='color:#1a7f37'>&#10004; pass</span>" if ok else
                           f"<span style='color:#cf222e'>&#10008; {e(t['status'])}</span>")
                message = "" if ok else (f"<pre style='margin:0;white-space:pre-wrap;"
                                         f"text-align:left'>{e(t['message'])}</pre>")
                head = (f"<td rowspan='{len(q['tests'])}' style='vertical-align:top'>"
                        f"<b>{e(q['id'])}</b></td>" if k == 0 else "")
                rows.append(f"<tr>{head}<td style='text-align:left'>{e(t['name'])}</td>"
                            f"<td>{verdict}</td><td style='text-align:left'>{message}</td></tr>")
        return (f"<table class='ebm-check'><caption style='text-align:left'><b>"
                f"{e(self._summary())}</b></caption><thead><tr><th>question</th><th>test</th>"
                f"<th>result</th><th>what to fix</th></tr></thead><tbody>{''.join(rows)}"
                f"</tbody></table>")


def _caller_namespace():
    """The kernel's namespace (IPython's ``user_ns``), else the globals of whoever called
    :meth:`Checker.for_notebook`."""
    shell = None
    if "IPython" in sys.modules:
        from IPython import get_ipython
        shell = get_ipython()
    if shell is not None:
        return shell.user_ns
    return sys._getframe(2).f_globals  # _caller_namespace <- for_notebook <- the caller


def _find(exercise, namespace):
    """``(path, ebm_grading metadata)`` of the released notebook to check against."""
    if exercise is not None and (str(exercise).endswith(".ipynb") or os.sep in str(exercise)
                                 or "/" in str(exercise)):
        path = pathlib.Path(exercise)
        metadata = _metadata(path)
        if metadata is None:
            raise NotebookNotFound(f"'{path}' is not a released exercise notebook (it carries no "
                                   f"public tests): pass a released notebook or an exercise's "
                                   f"name, e.g. Checker.for_notebook(\"losses\")")
        return path, metadata
    session = _session_notebook(namespace)
    name = exercise
    if session is not None:
        metadata = _metadata(session)
        if metadata is not None and (name is None or metadata.get("exercise") == name):
            return session, metadata
        name = name or session.stem   # e.g. an instructor's source notebook: its release
    if name is None:
        raise NotebookNotFound(
            "Checker.for_notebook() cannot tell which exercise this notebook is: Jupyter did not "
            "say which file the kernel runs (JupyterLab and Notebook 7 do; the classic Notebook, "
            "nbclient and some editors do not). Pass the exercise's name, e.g. "
            "check = Checker.for_notebook(\"losses\")" + _known())
    for folder in _folders(session):
        metadata = _metadata(folder / f"{name}.ipynb")
        if metadata is not None and metadata.get("exercise") == name:
            return folder / f"{name}.ipynb", metadata
    where = " or ".join(str(f) for f in _folders(session))
    raise NotebookNotFound(f"no released notebook of the exercise '{name}' in {where}: keep the "
                           f"released notebook under its name beside this one, or pass its path, "
                           f"e.g. Checker.for_notebook(\"path/to/{name}.ipynb\")" + _known())


def _session_notebook(namespace):
    """The notebook file the kernel runs, as the front end tells it (None if it does not)."""
    for value in (namespace.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME"),
                  namespace.get("__session__")):
        if not isinstance(value, str) or not value.endswith(".ipynb"):
            continue
        path = pathlib.Path(value)
        # Jupyter Server 2 gives an absolute path; older ones a path from the server's root
        for candidate in (path, pathlib.Path.cwd() / path.name):
            if candidate.is_file():
                return candidate
    return None


def _folders(session):
    folders = [session.parent] if session is not None else []
    folders += [pathlib.Path.cwd(), RELEASE_DIR]
    unique = []
    for folder in folders:
        if folder.resolve() not in [f.resolve() for f in unique]:
            unique.append(folder)
    return unique


def _known():
    names = sorted({p.stem for f in (pathlib.Path.cwd(), RELEASE_DIR) if f.is_dir()
                    for p in f.glob("*.ipynb") if _metadata(p) is not None})
    return f" (exercises found: {', '.join(names)})." if names else "."


def _metadata(path):
    """The ``ebm_grading`` metadata of a released notebook (None if it has none)."""
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f).get("metadata", {}).get("ebm_grading")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return metadata if isinstance(metadata, dict) and "public_tests" in metadata else None


def _complete(coroutine):
    """Run a coroutine that never suspends (the in-process kernel answers at once)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("the in-process kernel was asked to wait")


class _OutOfTime(BaseException):
    """Raised in the student's code when a question runs past its time (not an Exception,
    so that ``except Exception`` in their code does not swallow it)."""


class _TimeLimit:
    """At most ``seconds`` for the code run inside it (SIGALRM, in the main thread of a
    POSIX process; elsewhere no limit: interrupt the kernel). Re-raised every 0.1 s, in case
    the code caught it. An interrupt (SIGINT) stops the check, even where the harvest
    records it as the tested function's exception."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.armed = self.fired = self.interrupted = False
        self.active = hasattr(signal, "setitimer") and \
            threading.current_thread() is threading.main_thread()

    def _alarm(self, signum, frame):
        if self.interrupted:   # the rest of the harvest stops at once too
            raise KeyboardInterrupt
        self.fired = True
        if self.armed:
            raise _OutOfTime()

    def _interrupt(self, signum, frame):
        self.interrupted = True
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.1)
        raise KeyboardInterrupt

    def __enter__(self):
        if self.active:
            self.previous = (signal.signal(signal.SIGALRM, self._alarm),
                             signal.signal(signal.SIGINT, self._interrupt))
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.001), 0.1)
        return self

    def __exit__(self, *exc):
        self.close()
        return exc[0] is _OutOfTime

    def close(self):
        if self.active and self.armed:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous[0])
            signal.signal(signal.SIGINT, self.previous[1])


@functools.lru_cache(maxsize=1)
def _in_process_kernel():
    """The class of :func:`_in_process_kernel`'s kernels (made on first use: the sandbox
    module is not imported until a check runs)."""
    from .sandbox import Kernel, Outcome

    class InProcessKernel(Kernel):
        """What :func:`.grader._harvest` needs of a kernel, run in this process on a copy of
        ``namespace`` (the harvest's own names stay out of the student's): inputs and answers
        in a folder of this check's temporary folder, each execution under a time limit."""

        def __init__(self, limits, namespace, folder):
            super().__init__(limits)
            self.folder = folder
            for kind in ("in", "out"):
                (folder / kind).mkdir(parents=True)
            self.scope = dict(namespace)

        def read_output(self, name, limit):
            data = (self.folder / "out" / name).read_bytes()   # this check's own folder
            if len(data) > limit:
                raise ValueError(f"larger than {limit} bytes")
            return data

        def out_of_memory(self):
            return False

        async def run(self, source, timeout):
            start = time.monotonic()
            code = compile(source, "<ebm-check>", "exec")
            limit = _TimeLimit(timeout)
            try:
                with limit:
                    exec(code, self.scope)
            except _OutOfTime:
                pass
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                return Outcome("error", time.monotonic() - start, type(exc).__name__,
                               str(exc)[:500])
            finally:
                limit.close()
            if limit.interrupted:
                raise KeyboardInterrupt
            return Outcome("timeout" if limit.fired else "ok", time.monotonic() - start)

    return InProcessKernel
