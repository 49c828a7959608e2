"""``python -m ebmlib.grading``: release, check, grade, verify."""
import argparse
import pathlib
import sys
import time

import nbformat

from . import batch, report, submissions
from .exercise import Exercise, load_exercises, source_cells
from .grader import ReferenceFailure, grade
from .notebook import FormatError, Unreadable, code_cells, mutant, read_submission, release, \
    solution_sites
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

    p = sub.add_parser("grade", help="grade every student folder of SUBMISSIONS_DIR")
    p.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="where grades.csv, "
                   "results/<student>.json and feedback/<student>.md are written")
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
                   help="address-space limit of the kernel (default: %(default)s)")


def _limits(args):
    return Limits(cell_timeout=args.cell_timeout, total_timeout=args.timeout, memory_mb=args.memory_mb)


def _exercises(source, tests):
    source = pathlib.Path(source)
    hidden = pathlib.Path(tests) if tests else source.parent / "hidden"
    return source, hidden, load_exercises(source, hidden)


def _references(exercises, limits, jobs, cache=None):
    """Expected outputs of every exercise, from its instructor notebook (cached in ``cache``)."""
    todo = [e for e in exercises if not (cache and batch.load_reference(_cache_file(cache, e), e))]
    for (exercise, _), result in batch.run(batch.reference_task, [(e, limits) for e in todo],
                                           jobs, "reference solutions"):
        if isinstance(result, Exception):
            raise result if isinstance(result, ReferenceFailure) else ReferenceFailure(
                f"{exercise.name}: the reference run failed ({type(result).__name__}: {result})")
        for case, expected in zip(exercise.cases, result):
            case.expected = expected
        if cache:
            batch.save_reference(_cache_file(cache, exercise), exercise)


def _cache_file(cache, exercise):
    return pathlib.Path(cache) / f"{exercise.name}-{exercise.digest[:16]}.npz"


def _isolation(paths):
    """Hide ``paths`` and their repositories' ``.git`` from student code; warn loudly if impossible."""
    paths = [pathlib.Path(p).resolve() for p in paths]
    gits = {parent / ".git" for p in paths for parent in (p, *p.parents) if (parent / ".git").exists()}
    iso = isolation([*paths, *gits])
    if not iso.enabled:
        _warn(iso)
    return iso


def _warn(iso):
    print(f"{BANNER}\n!! WARNING: student code is NOT isolated from the instructor's files.\n"
          f"!! Reason: {iso.reason}.\n!! A submission could read the hidden tests and the "
          f"solutions by absolute path.\n{BANNER}", file=sys.stderr)


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
        print(f"released {out / ex.filename}: {len(ex.points)} questions, "
              f"{ex.maximum:g} points, {public} public tests")
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
    iso = _isolation([source, hidden, folder, out])
    students, tasks, reused = submissions.plan(folder, exercises, out, limits, iso)
    if tasks:
        needed = {task[1].name for task in tasks}
        _references([e for e in exercises if e.name in needed], limits, args.jobs, out / ".cache")
    waiting = {name: sum(task[0] == name for task in tasks) for name in students}
    for name in students:
        if not waiting[name]:
            _write(out, name, students[name], exercises, iso)
    for task, result in batch.run(batch.grade_file_task, tasks, args.jobs, "grading"):
        name, exercise = task[0], task[1]
        if isinstance(result, Exception):
            result = report.not_graded(exercise, "crashed", f"the grader failed on this notebook "
                                       f"({type(result).__name__}: {result}); it will be graded "
                                       f"again on the next run", None)
        students[name][0][exercise.name] = result
        waiting[name] -= 1
        if not waiting[name]:
            _write(out, name, students[name], exercises, iso)
    report.write_csv(out, [_student(name, students[name], exercises, iso) for name in students],
                     [ex.name for ex in exercises])
    print(f"graded {len(tasks)} notebooks ({reused} unchanged, reused) of {len(students)} "
          f"students in {time.monotonic() - start:.1f} s; see {out / 'grades.csv'}", file=sys.stderr)
    if not iso.enabled:
        _warn(iso)
    return 0


def _student(name, entry, exercises, iso):
    results, notes = entry
    isolation_info = iso.to_json()
    if not iso.enabled:
        isolation_info["warning"] = "student code was NOT isolated from the instructor's files"
    return report.student_result(name, [results[ex.name] for ex in exercises], isolation_info, notes)


def _write(out, name, entry, exercises, iso):
    report.write_student(out, _student(name, entry, exercises, iso))


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
