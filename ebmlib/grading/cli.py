"""``python -m ebmlib.grading``: release, check, grade, verify."""
import argparse
import contextlib
import dataclasses
import hmac
import os
import pathlib
import secrets
import signal
import sys
import time

import nbformat

from . import batch, cluster, lms, report, submissions
from .bundle import write_bundle
from .exercise import Exercise, load_exercises, manual_answers, source_cells
from .grader import ReferenceFailure, grade
from .notebook import FormatError, Unreadable, code_cells, mutant, read_bytes, read_submission, \
    release, solution_sites
from .sandbox import Limits, isolation

BANNER = "!" * 78


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except (FormatError, ReferenceFailure) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser():
    parser = argparse.ArgumentParser(prog="python -m ebmlib.grading",
                                     description="Release, check, grade and verify exercise notebooks.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="write the student notebooks of SOURCE_DIR into OUT_DIR")
    p.add_argument("source_dir", metavar="SOURCE_DIR")
    p.add_argument("out_dir", metavar="OUT_DIR")
    _instructor_options(p, source=False)
    p.set_defaults(command=release_command)

    p = sub.add_parser("check", help="self-check a notebook against its public tests")
    p.add_argument("notebook", metavar="NOTEBOOK")
    _limit_options(p)
    p.set_defaults(command=check_command)

    p = sub.add_parser("grade", help="grade every student of SUBMISSIONS_DIR (a folder per "
                                     "student, or an LMS download: see --layout)")
    p.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="where grades.csv, "
                   "results/<student>.json and feedback/<student>.md are written")
    p.add_argument("--layout", choices=lms.LAYOUTS, default="folders",
                   help="folders: SUBMISSIONS_DIR/<student id>/<notebook>; canvas: Canvas's "
                        "'Download Submissions', unzipped; moodle: Moodle's 'Download all "
                        "submissions', unzipped (default: %(default)s)")
    p.add_argument("--export", choices=report.EXPORTS, action="append", default=[],
                   help="also write OUT_DIR/canvas_grades.csv (Canvas gradebook import) or "
                        "OUT_DIR/moodle_grades.csv (Moodle grading worksheet); repeatable")
    p.add_argument("--manual", metavar="SCORES_CSV", help="merge the hand scores of written "
                   "answers (OUT_DIR/manual/scores.csv, filled in) into grades.csv, results and "
                   "feedback; a bad row stops the merge, and nothing changes")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the notebooks on a Dask cluster: "
                   "the scheduler's address (tcp://HOST:PORT), or local:N for N local worker "
                   "processes; needs pip install 'ebmlib[cluster]' (see exercises/CLUSTER.md)")
    p.add_argument("--secret", metavar="TEXT", help="the instructor's secret from which each "
                   "student's hidden test inputs are drawn (default: the key file)")
    p.add_argument("--secret-file", metavar="PATH", help="a file holding that secret (default: "
                   "OUT_DIR/grading.key, made on the first run; keep it out of the repository)")
    _instructor_options(p, source=True)
    p.set_defaults(command=grade_command)

    p = sub.add_parser("verify", help="solutions score 100%%, releases 0, each mutant "
                                      "loses exactly its question's points")
    p.add_argument("source_dir", metavar="SOURCE_DIR", nargs="?", default="exercises/source")
    _instructor_options(p, source=False)
    p.set_defaults(command=verify_command)
    return parser


def _instructor_options(p, source):
    if source:
        p.add_argument("--source", default="exercises/source", metavar="DIR",
                       help="instructor notebooks and public tests (default: %(default)s)")
    p.add_argument("--tests", metavar="DIR",
                   help="hidden tests (default: the 'hidden' folder beside the sources)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="notebooks graded at once")
    _limit_options(p)


def _limit_options(p):
    d = Limits()
    p.add_argument("--cell-timeout", type=float, default=d.cell_timeout, metavar="S",
                   help="seconds per cell and per question (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=d.total_timeout, metavar="S",
                   help="seconds per notebook in all (default: %(default)s)")
    p.add_argument("--memory-mb", type=int, default=d.memory_mb, metavar="MB",
                   help="memory of the notebook's processes (default: %(default)s)")
    p.add_argument("--test-factor", type=float, default=d.test_factor, metavar="K",
                   help="each test may take K times the reference solution's time "
                        "(default: %(default)s)")
    p.add_argument("--test-min", type=float, default=d.test_min_s, metavar="S",
                   help="... and at least S seconds (default: %(default)s)")


def _limits(args):
    return Limits(cell_timeout=args.cell_timeout, total_timeout=args.timeout, memory_mb=args.memory_mb,
                  test_factor=args.test_factor, test_min_s=args.test_min)


def _exercises(source, tests):
    source = pathlib.Path(source)
    hidden = pathlib.Path(tests) if tests else source.parent / "hidden"
    return source, hidden, load_exercises(source, hidden)


def _references(exercises, limits, jobs, cache=None, desc="reference solutions"):
    """Expected outputs of every exercise, from its instructor notebook (cached in ``cache``)."""
    todo = [e for e in exercises if not (cache and batch.load_reference(_cache_file(cache, e), e))]
    for (exercise, _), result in batch.run(batch.reference_task, [(e, limits) for e in todo],
                                           jobs, desc):
        if isinstance(result, Exception):
            raise result if isinstance(result, ReferenceFailure) else ReferenceFailure(
                f"{exercise.name}: the reference run failed ({type(result).__name__}: {result})")
        cases, exercise.cell_seconds = result
        for case, (expected, seconds) in zip(exercise.cases, cases):
            case.expected, case.seconds = expected, seconds
        if cache:
            batch.save_reference(_cache_file(cache, exercise), exercise)


def _cache_file(cache, exercise):
    return pathlib.Path(cache) / f"{exercise.name}-{exercise.digest[:16]}.npz"


def _isolation(private):
    """The kernel sandbox, keeping the ``private`` folders out of reach; warn loudly if none."""
    iso = isolation(private)
    if not iso.enabled:
        _warn(iso)
    return iso


def _warn(iso):
    print(f"{BANNER}\n!! WARNING: student code is NOT isolated from the instructor's files.\n"
          f"!! Reason: {iso.reason}.\n!! A submission could read the hidden tests, the "
          f"solutions and other submissions, and reach the network.\n{BANNER}", file=sys.stderr)


def release_command(args):
    source, _, exercises = _exercises(args.source_dir, args.tests)
    if not exercises:
        print(f"error: no exercise notebooks in {source}", file=sys.stderr)
        return 2
    _references(exercises, _limits(args), args.jobs)
    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for ex in exercises:
        ex.keep_released_cases(_release_metadata(out / ex.filename))
        nbformat.write(release(ex.notebook, ex.public_metadata()), str(out / ex.filename))
        public = sum(not c.hidden for c in ex.cases)
        written = f" and {len(ex.manual)} written (graded by hand)" if ex.manual else ""
        print(f"released {out / ex.filename}: {len(ex.points)} questions{written}, "
              f"{ex.maximum:g} points, {public} public tests")
    print(f"wrote the student bundle {write_bundle(out)}: the released notebooks, nothing else")
    return 0


def _release_metadata(path):
    """The grading metadata of an earlier release at ``path`` (None if there is none)."""
    try:
        return nbformat.read(str(path), as_version=4).metadata.get("ebm_grading")
    except (OSError, ValueError, AttributeError):
        return None


def check_command(args):
    path = pathlib.Path(args.notebook)
    try:
        cells, metadata = read_submission(path)
        exercise = Exercise.from_release(metadata["ebm_grading"])
    except Unreadable as exc:
        print(exc)
        return 2
    except (KeyError, TypeError, ValueError):
        print(f"'{path.name}' carries no public tests (its metadata was removed or edited): "
              f"download the released notebook again and copy your answers into it.")
        return 2
    result = grade(cells, exercise, _limits(args))
    result["notebook"] = path.name
    print(report.check_text(result))
    return 0 if all(q["status"] == "ok" for q in result["questions"] if q["tests"]) else 1


def grade_command(args):
    start = time.monotonic()
    source, hidden, exercises = _exercises(args.source, args.tests)
    folder, out = pathlib.Path(args.submissions), pathlib.Path(args.out)
    if not exercises or not folder.is_dir():
        print(f"error: no exercise notebooks in {source}" if not exercises else
              f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    limits = _limits(args)
    with _pool(args, [source, hidden, folder, out]) as (pool, iso):
        if pool is None:
            return 2
        return _grade(args, start, source, exercises, folder, out, limits, pool, iso)


@contextlib.contextmanager
def _pool(args, private):
    """``(pool, isolation)`` where notebooks run: ``-j`` local processes, or the Dask
    cluster of ``--scheduler`` (``(None, None)``, the error printed, if it cannot be used)."""
    if not args.scheduler:
        yield args.jobs, _isolation(private)
        return
    try:
        pool = cluster.Cluster(args.scheduler, [os.path.realpath(p) for p in private])
    except cluster.ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        yield None, None
        return
    try:
        if not pool.isolation.enabled:
            _warn(pool.isolation)
        yield pool, pool.isolation
    finally:
        pool.close()


def _grade(args, start, source, exercises, folder, out, limits, pool, iso):
    secret = _secret(args, out)
    for ex in exercises:  # another secret, other hidden inputs: every notebook is graded again
        ex.digest = hmac.new(secret, ex.digest.encode(), "sha256").hexdigest()
    found, names = folder, {}
    if args.layout != "folders":
        download = lms.attribute(folder, exercises, args.layout)
        lms.write_unattributed(out, folder, download.unattributed)
        found, names = download.files, download.names
    students, tasks, reused = submissions.plan(found, exercises, out, limits, iso)
    manual = _written_answers(found, students, exercises, out)
    if args.manual:
        merged = _merge_scores(args.manual, manual, students, exercises)
        if merged is None:
            return 2
    if tasks:
        needed = {task[1].name for task in tasks}
        _references([e for e in exercises if e.name in needed], limits, args.jobs, out / ".cache")
        tasks = [task[:1] + (task[1].for_student(task[0], secret),) + task[2:] for task in tasks]
        _hidden_references([task[1] for task in tasks], limits, args.jobs)
    done = 0
    try:
        with _stop_on_sigterm():
            for task, result in batch.run(batch.collect_task, tasks, pool, "grading",
                                          prepare=batch.load, finish=batch.finish):
                name, exercise = task[0], task[1]
                if isinstance(result, Exception):
                    result = _crashed(exercise, result)
                students[name][0][exercise.name] = result
                done += 1
                _write(out, name, students[name], exercises, iso, names.get(name),
                       manual.get(name))
    except KeyboardInterrupt:
        print(f"stopped: {done} of {len(tasks)} notebooks graded; their results are kept, and "
              f"the next run grades the rest", file=sys.stderr)
        return 130
    finally:
        for name in students:
            _write(out, name, students[name], exercises, iso, names.get(name), manual.get(name))
        results = [_student(name, students[name], exercises, iso, names.get(name),
                            manual.get(name)) for name in students]
        report.write_csv(out, results, [ex.name for ex in exercises],
                         manual=any(ex.manual for ex in exercises))
        _write_manual(out, results, exercises, manual, names)
        for target in dict.fromkeys(args.export):
            report.write_export(out, target, results, exercises)
    print(f"graded {len(tasks)} notebooks ({reused} unchanged, reused) of {len(students)} "
          f"students in {time.monotonic() - start:.1f} s; see {out / 'grades.csv'}", file=sys.stderr)
    pending = sum(r.get("pending", 0.0) > 0 for r in results)
    if any(ex.manual for ex in exercises) and not pending:
        print("written answers: every answer is scored", file=sys.stderr)
    elif any(ex.manual for ex in exercises):
        print(f"written answers: {pending} of {len(results)} students have answers still to "
              f"score by hand (grades.csv column 'pending'); read {out / 'manual'}/*.html, fill "
              f"in {out / 'manual' / 'scores.csv'}, then run grade again with --manual "
              f"{out / 'manual' / 'scores.csv'}", file=sys.stderr)
    if not iso.enabled:
        _warn(iso)
    return 0


def _crashed(exercise, exc):
    """The result of a notebook whose grading failed (graded again on the next run)."""
    why = str(exc) if isinstance(exc, cluster.WorkersDied) else \
        f"the grader failed on this notebook ({type(exc).__name__}: {exc})"
    return report.not_graded(exercise, "crashed", f"{why}; it will be graded again on the "
                                                  f"next run", None)


def _written_answers(found, students, exercises, out):
    """``{student: {exercise: (answers, scores)}}`` for every notebook with written answers
    that can be read (a missing or unreadable one has none; it counts 0): ``answers``
    ``{id: text or None}``, ``scores`` the hand scores of the previous run that still apply
    (:func:`~.report.previous_scores`)."""
    written = [ex for ex in exercises if ex.manual]
    manual = {}
    for name in students if written else ():
        files = found[name] if isinstance(found, dict) else found / name
        previous = report.load_previous(out, name)
        for ex in written:
            path, problem = submissions.locate(files, ex, exercises)
            if problem:
                continue
            try:
                data = read_bytes(path)
                read_submission(path, data)
            except Unreadable:
                continue
            answers = manual_answers(data, ex)
            manual.setdefault(name, {})[ex.name] = (
                answers, report.previous_scores(previous, ex, answers))
    return manual


def _merge_scores(path, manual, students, exercises):
    """Merge the scores sheet ``path`` into ``manual`` (see :func:`_written_answers`); None
    (and every error printed) if any row is bad: then nothing is merged, and grades,
    results and feedback stay as they were."""
    graded = {name: set(manual.get(name, {})) for name in students}
    scores, errors = report.read_scores(path, graded, exercises)
    if errors:
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"error: nothing merged from {path} ({len(errors)} bad row"
              f"{'s' * (len(errors) > 1)}): grades.csv, results/ and feedback/ are unchanged; "
              f"fix the rows above and run again", file=sys.stderr)
        return None
    for (student, exercise, question), score in scores.items():
        manual[student][exercise][1][question] = score
    print(f"merged {len(scores)} hand scores from {path}", file=sys.stderr)
    return scores


def _write_manual(out, results, exercises, manual, names):
    """The review page of each written question and the scores sheet."""
    for ex in exercises:
        for qid in ex.manual:
            report.write_review(out, ex, qid, {name: per[ex.name][0][qid] for name, per
                                               in manual.items() if ex.name in per}, names)
    if any(ex.manual for ex in exercises):
        report.write_template(out, results, exercises)


def _secret(args, out):
    """The instructor's secret for the hidden tests' inputs: ``--secret``, the key file
    ``--secret-file``, or a key file made once in the output folder."""
    if args.secret:
        return args.secret.encode()
    path = pathlib.Path(args.secret_file) if args.secret_file else out / "grading.key"
    if not path.exists() and not args.secret_file:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise FormatError(f"cannot read the key file {path} ({exc.strerror})") from None
    if len(key) < 16:
        raise FormatError(f"the key file {path} holds fewer than 16 characters")
    return key.encode()


def _hidden_references(exercises, limits, jobs):
    """Expected values of the students' own hidden cases (see Exercise.for_student): one
    reference run per exercise over every student's cases."""
    groups = {}
    for ex in exercises:
        groups.setdefault(ex.name, []).append(ex)
    runs = []
    for same in groups.values():
        own = [c for ex in same for c in ex.cases if c.hidden and c.expected is None]
        if own:
            cases = [dataclasses.replace(c, index=k) for k, c in enumerate(own)]
            runs.append((own, dataclasses.replace(same[0], cases=cases)))
    _references([ex for _, ex in runs], limits, jobs, desc="hidden tests, per student")
    for own, ex in runs:
        for case, done in zip(own, ex.cases):
            case.expected = done.expected


class _stop_on_sigterm:
    """SIGTERM stops grading like Ctrl-C: finished results are kept for the next run."""

    def __enter__(self):
        self.previous = signal.signal(signal.SIGTERM, self._raise)

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self.previous)

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt


def _student(name, entry, exercises, iso, full_name=None, manual=None):
    results, notes = entry
    isolation_info = iso.to_json()
    if not iso.enabled:
        isolation_info["warning"] = "student code was NOT isolated from the instructor's files"
    pending = "not graded yet: grading was stopped before this notebook; the next run grades it"
    done = [results.get(ex.name) or report.not_graded(ex, "pending", pending, None)
            for ex in exercises]
    done = [report.with_manual(r, ex, *(manual or {}).get(ex.name, ({}, {})))
            if ex.manual else r for r, ex in zip(done, exercises)]
    return report.student_result(name, done, isolation_info, notes, full_name)


def _write(out, name, entry, exercises, iso, full_name=None, manual=None):
    report.write_student(out, _student(name, entry, exercises, iso, full_name, manual))


def verify_command(args):
    source, hidden, exercises = _exercises(args.source_dir, args.tests)
    if not exercises:
        print(f"verify: no exercise notebooks in {source}, nothing to verify")
        return 0
    limits = _limits(args)
    iso = _isolation([source, hidden])
    _references(exercises, limits, args.jobs)
    tasks = []
    for ex in exercises:
        variants = [("reference solution", source_cells(ex), None),
                    ("released notebook", code_cells(release(ex.notebook, {})), "*")]
        variants += [(f"mutant of question '{q}' (cell {i + 1}, region {k + 1})",
                      code_cells(mutant(ex.notebook, i, k)), q)
                     for i, k, q in solution_sites(ex.notebook)]
        tasks += [(ex, cells, limits, iso, label, lost) for label, cells, lost in variants]
    problems = {id(task): _verify_problem(result, task[5])
                for task, result in batch.run(batch.grade_cells_task, tasks, args.jobs, "verify")}
    for task in tasks:
        problem = problems[id(task)]
        print(f"{'FAILED' if problem else 'ok':6} {task[0].name}: {task[4]}"
              + (f": {problem}" if problem else ""))
    failed = sum(p is not None for p in problems.values())
    print(f"verify: {len(tasks)} runs over {len(exercises)} exercises, {failed} failed")
    return 1 if failed else 0


def _verify_problem(result, lost):
    """Why a verify run is not as expected (None if it is)."""
    if isinstance(result, Exception):
        return f"the grader failed ({type(result).__name__}: {result})"
    wrong = []
    for q in result["questions"]:
        should_lose = lost == "*" or lost == q["id"]
        if (q["points"] != 0) if should_lose else (q["points"] != q["maximum"]):
            want = 0 if should_lose else q["maximum"]
            wrong.append(f"question '{q['id']}' got {q['points']:g} points instead of {want:g} "
                         f"({q['status']}: {q['message']})")
    if wrong and result["notes"]:
        wrong.append("notes: " + "; ".join(result["notes"]))
    return "; ".join(wrong) or None
