"""Submissions as an LMS downloads them: Canvas's flat folder, Moodle's folder per student.

:func:`attribute` turns such a download into what :func:`~.submissions.plan` reads: per
student id (the LMS's user or participant id), the student's files by their released name.
Nothing is opened here: every attributed file is read later, like any submission, by
:func:`~.notebook.read_bytes` (a link, a FIFO or a device is then ``unreadable``). Every
file that cannot be attributed is listed with the reason in ``unattributed.txt``.
"""
import dataclasses
import os
import pathlib
import re
import stat
import sys

LAYOUTS = ("folders", "canvas", "moodle")

# <name>[_late]_<user id>_<submission id>_<file>, e.g. doejane_late_4021_88123_losses-1.ipynb
CANVAS = re.compile(r"(?P<name>.+?)(?:_[Ll][Aa][Tt][Ee])?_(?P<id>[0-9]+)_(?P<rank>[0-9]+)_"
                    r"(?P<file>.+)", re.S)
# <Full Name>_<participant id>_assignsubmission_<plugin>[_[<file>]]: a folder, or a flat file
MOODLE = re.compile(r"(?P<name>.+?)_(?P<id>[0-9]+)_assignsubmission_(?P<plugin>[a-z]+)"
                    r"(?:_(?P<file>.*))?", re.S)
# what Canvas makes of a resubmitted losses.ipynb: losses-1.ipynb, losses-2.ipynb, ...
RESUBMITTED = re.compile(r"(?P<stem>.+)-(?P<n>[0-9]+)(?P<ext>\.ipynb)", re.S)


@dataclasses.dataclass
class Download:
    files: dict = dataclasses.field(default_factory=dict)    # {student id: {file name: path}}
    names: dict = dataclasses.field(default_factory=dict)    # {student id: name in the LMS}
    unattributed: list = dataclasses.field(default_factory=list)  # [(path, why)]


def attribute(folder, exercises, layout):
    """The :class:`Download` of ``folder``, a Canvas or Moodle download, students sorted by name."""
    folder = pathlib.Path(folder)
    down, found = Download(), {}
    read = _canvas if layout == "canvas" else _moodle
    for path in _listing(folder, down):
        read(path, {e.filename for e in exercises}, down, found)
    for (student, notebook), candidates in found.items():
        (rank, path), *others = sorted(candidates, key=lambda c: (c[0], c[1].name), reverse=True)
        down.files.setdefault(student, {})[notebook] = path
        which = "a higher submission id" if layout == "canvas" else "a later modification time"
        down.unattributed += [(p, f"another file for student {student} and {notebook}, "
                                  f"'{_shown(_relative(path, folder))}' ({which}), was graded "
                                  f"instead")
                              for _, p in others]
    order = sorted(down.files, key=lambda s: (down.names[s].casefold(), len(s), s))
    down.files = {s: down.files[s] for s in order}
    down.unattributed.sort(key=lambda u: str(u[0]))
    return down


def _canvas(path, notebooks, down, found):
    match = CANVAS.fullmatch(path.name)
    if not match:
        why = "a folder: a Canvas download is one flat folder of files" if _kind(path) == "folder" \
            else "name pattern not recognised (Canvas names files <name>_<user id>_<submission " \
                 "id>_<file name>)"
        down.unattributed.append((path, why))
        return
    student, file = match["id"], match["file"]
    resubmitted = RESUBMITTED.fullmatch(file)
    if file in notebooks:
        rank = (int(match["rank"]), 0)
    elif resubmitted and resubmitted["stem"] + resubmitted["ext"] in notebooks:
        file, rank = resubmitted["stem"] + resubmitted["ext"], (int(match["rank"]),
                                                               int(resubmitted["n"]))
    else:
        rank = None
    _add(student, match["name"], file, path, rank, notebooks, down, found)


def _moodle(path, notebooks, down, found):
    match = MOODLE.fullmatch(path.name)
    kind = _kind(path)
    if not match:
        down.unattributed.append((path, "name pattern not recognised (Moodle names folders "
                                        "<full name>_<participant id>_assignsubmission_file)"))
    elif match["plugin"] != "file":
        down.unattributed.append((path, f"a Moodle '{_shown(match['plugin'])}' submission, not "
                                        f"a file submission (assignsubmission_file): not graded"))
    elif match["file"]:      # a flat file ("Download submissions in folders" turned off)
        _add(match["id"], match["name"], match["file"], path, _mtime(path), notebooks, down, found)
    elif kind == "folder":
        for inner in _listing(path, down):
            _add(match["id"], match["name"], inner.name, inner, _mtime(inner), notebooks, down,
                 found)
    else:
        down.unattributed.append((path, "a symbolic link: not followed" if kind == "link" else
                                        f"a {kind}, where Moodle writes a folder"))


def _add(student, name, file, path, rank, notebooks, down, found):
    """Attribute ``path`` to ``student``: as their ``file`` (a released notebook name) with
    ``rank`` (highest is graded), or, not one of ``notebooks``, as a file the student's
    feedback names (see :func:`~.submissions.locate`) and the report lists."""
    down.names.setdefault(student, _shown(name))
    own = down.files.setdefault(student, {})
    if file in notebooks:
        found.setdefault((student, file), []).append((rank, path))
        return
    own.setdefault(_shown(file), path)
    down.unattributed.append((path, f"unknown notebook name '{_shown(file)}' (student "
                                    f"{student}): the exercise notebooks are "
                                    f"{', '.join(sorted(notebooks))}"))


def _listing(folder, down):
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        down.unattributed.append((folder, f"could not be listed ({exc.strerror})"))
        return []


def _kind(path):
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "file"
    return "link" if stat.S_ISLNK(mode) else "folder" if stat.S_ISDIR(mode) else "file"


def _mtime(path):
    try:
        return os.lstat(path).st_mtime_ns
    except OSError:
        return 0


def _shown(text):
    """``text`` on one line, printable and encodable: a control character, or a byte that is not
    UTF-8 in a file name, written as its Python escape."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def write_unattributed(out, folder, unattributed):
    """``OUT/unattributed.txt`` (written on every run, empty when all was attributed), and the
    same list on stderr."""
    folder = pathlib.Path(folder)
    lines = [f"{_shown(_relative(path, folder))}: {why}" for path, why in unattributed]
    listing = pathlib.Path(out) / "unattributed.txt"
    listing.write_text("".join(f"{line}\n" for line in lines))
    if lines:
        print(f"not attributed to a student and notebook: {len(lines)} file(s) of "
              f"{_shown(str(folder))} (listed in {_shown(str(listing))}):", file=sys.stderr)
        print("".join(f"  {line}\n" for line in lines), end="", file=sys.stderr)


def _relative(path, folder):
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)
