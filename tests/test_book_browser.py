"""Open every page of the built book in a real, headless Chromium, offline.

For each page of ``_toc.yml`` it checks that

* MathJax typeset the math (``mjx-container`` elements where the page has
  math, and no raw TeX delimiters left in the visible text), each with its
  assistive MathML (``mjx-assistive-mml``) for screen readers,
* every image loaded (``naturalWidth > 0``),
* no ``<script src>`` or ``<link href>`` points to a remote address,
* the page attempted no network request at all: every non-``file://``
  request is aborted and recorded, and the record must stay empty,
* the page raised no JavaScript error,

and, when ``EBM_BOOK_SCREENSHOTS`` names a folder, saves a full-page screenshot
of each page there. On every page whose notebook holds animations
(``ebmlib.plot.surface_animation``), each one is found and played: its controls
exist, stepping and the slider change the shown frame and its alt text, playing
advances it, pausing stops it, all with no network request.

Accessibility (WCAG 2.1 AA), on every page of ``_toc.yml`` and on ``index.html``,
``search.html`` and ``genindex.html``: an axe-core audit (``axe-playwright-python``
bundles it) finds no violation of the WCAG 2.1 A/AA rules nor of axe's best
practices, whatever its impact; every ``<img>`` has alt text that is not a file
name (``alt=""`` only on an image marked ``role="presentation"``); and every figure
of a chapter (an image output or an animation) sits in a ``<figure>`` with a
caption. ``test_book_figures.py`` checks the same texts in the committed
notebooks, without a browser.

Which HTML is tested:

* ``EBM_BOOK_HTML=/path/to/_build/html`` tests a book built earlier (the CI
  script builds once with ``jupyter-book build . -W -n --keep-going`` and then
  points this test at ``_build/html``);
* otherwise ``_build/html`` when it is current: every page of ``_toc.yml`` was
  written after the last change to its chapter and to what every chapter depends
  on (``_config.yml``, ``_toc.yml``, the bibliography, ``ebmlib`` but its
  grader); the README's first command builds it;
* otherwise the test builds the book itself, with the same strict flags, into
  a temporary folder.

Screenshots are taken only when ``EBM_BOOK_SCREENSHOTS`` is set (they cost time
and the test asserts nothing on them). The browser is ``EBM_CHROMIUM`` if set, else the
first Chromium found on the PATH (``/usr/bin/chromium`` on Debian).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_book_figures import bad_alt

ROOT = Path(__file__).resolve().parents[1]
SKIP_MESSAGE = "headless Chromium not found: install it with `apt-get install -y chromium`"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BUILD_TIMEOUT_S = 1800
MATHJAX_TIMEOUT_MS = 20_000
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\$\\[A-Za-z]")
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# Known and harmless: Sphinx 7.4 emits sphinx-thebe's inline configuration script
# twice on every page, so its second `const` declaration throws. Thebe (live
# code) is disabled in _config.yml; nothing on the page depends on that script.
KNOWN_JS_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)


def toc_pages() -> list[str]:
    """Document names of _toc.yml, in order (root first)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


PAGES = toc_pages()


def notebook_animations(page: str) -> int:
    """How many animation players the committed outputs of a chapter's notebook hold."""
    path = ROOT / f"{page}.ipynb"
    if not path.is_file():
        return 0
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum('class="ebm-animation"' in "".join(out.get("data", {}).get("text/html", ""))
               for cell in cells for out in cell.get("outputs", []))


ANIMATED = {page: n for page in PAGES if (n := notebook_animations(page))}
# Every page of the book, and the pages Sphinx adds.
AUDITED = [f"{page}.html" for page in PAGES] + ["index.html", "search.html", "genindex.html"]
# What the audit checks: WCAG 2.1 levels A and AA, and axe's best practices.
AUDIT_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
# A page that only sends the browser on (the book's index.html) is audited where it lands.
REDIRECT = re.compile(r'<meta http-equiv="Refresh"', re.IGNORECASE)
ANIMATION_ACTIONS = ("first", "previous", "play", "pause", "next", "last")


def find_chromium() -> str | None:
    candidates = [os.environ.get("EBM_CHROMIUM")]
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")]
    candidates += ["/usr/bin/chromium"]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the Python package `playwright` is not importable: install it with "
                    "`pip install -r requirements.txt` (never `playwright install`); "
                    "then the browser: `apt-get install -y chromium`")
    path = find_chromium()
    if path is None:
        pytest.skip(SKIP_MESSAGE)
    return path


def current_build(html: Path) -> bool:
    """Whether ``html`` is a build of the sources as they are: each page newer than its
    chapter, and every page newer than what all of them depend on (the configuration, the
    bibliography, the build extensions and their templates, and ``ebmlib`` but its grader,
    which Sphinx does not track)."""
    pages = {html / f"{p}.html": [ROOT / f"{p}{ext}" for ext in (".md", ".ipynb")] for p in PAGES}
    if not all(page.is_file() for page in pages):
        return False
    shared = [ROOT / "_config.yml", ROOT / "_toc.yml", ROOT / "book" / "references.bib",
              *(f for f in (ROOT / "book" / "_ext").rglob("*") if f.is_file()),
              *(ROOT / "ebmlib").glob("*.py")]
    newest_shared = max(s.stat().st_mtime for s in shared)
    return all(page.stat().st_mtime > max([newest_shared] + [s.stat().st_mtime for s in sources
                                                               if s.is_file()])
               for page, sources in pages.items())


@pytest.fixture(scope="session")
def book_html(tmp_path_factory, chromium_path) -> Path:
    """The built HTML: EBM_BOOK_HTML, or a fresh strict build."""
    given = os.environ.get("EBM_BOOK_HTML")
    if given:
        html = Path(given).resolve()
        assert (html / "index.html").is_file(), f"EBM_BOOK_HTML={given} holds no index.html"
        return html
    if current_build(ROOT / "_build" / "html"):
        print(f"testing the current build in {ROOT / '_build' / 'html'}")
        return ROOT / "_build" / "html"
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.is_file() else (shutil.which("jupyter-book") or "jupyter-book")]
    out = tmp_path_factory.mktemp("book")
    cmd += ["build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    print(f"strict book build: {time.monotonic() - t0:.1f} s")
    assert proc.returncode == 0, ("strict build failed:\n" + proc.stdout[-6000:]
                                  + proc.stderr[-6000:])
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path | None:
    given = os.environ.get("EBM_BOOK_SCREENSHOTS")
    if not given:
        return None
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {path}")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    # Playwright gives the browser a fresh temporary profile of its own.
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _offline_context(browser):
    """A context that lets file:// through and aborts (and records) anything else."""
    local = ("file://", "data:", "blob:", "about:")
    attempted: set[str] = set()
    context = browser.new_context(viewport={"width": 1200, "height": 900},
                                  service_workers="block")

    def route(r):
        if r.request.url.startswith(local):
            r.continue_()
        else:
            attempted.add(r.request.url)
            r.abort()

    context.route("**", route)
    # requests that bypass routing (if any) are recorded too
    context.on("request", lambda req: None if req.url.startswith(local)
               else attempted.add(req.url))
    return context, attempted


@contextlib.contextmanager
def _offline_page(browser, html_file, problems):
    """``html_file`` opened from disk in an offline context; on leaving, the network
    requests it attempted and its JavaScript errors join ``problems``."""
    context, attempted = _offline_context(browser)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: None if any(
            k in str(exc) for k in KNOWN_JS_ERRORS) else errors.append(str(exc)))
        page.goto(html_file.as_uri(), wait_until="load")
        yield page
    finally:
        context.close()
    if attempted:
        problems.append(f"network requests were attempted: {sorted(attempted)}")
    if errors:
        problems.append(f"JavaScript errors: {errors}")


WAIT_IMAGES = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.map(i => (i.complete ? Promise.resolve() :
      new Promise(r => { i.addEventListener("load", r); i.addEventListener("error", r); }))));
  return imgs.map(i => ({src: i.getAttribute("src"), w: i.naturalWidth,
                         visible: i.getClientRects().length > 0}));
}"""

REMOTE_REFS = """() => [
  ...Array.from(document.querySelectorAll("script[src]"), e => e.getAttribute("src")),
  ...Array.from(document.querySelectorAll("link[href]"), e => e.getAttribute("href")),
]"""

WAIT_MATHJAX = """async () => {
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return false;
  await MathJax.startup.promise;
  return true;
}"""

# Visible prose of the article, with code, program output and typeset math hidden.
VISIBLE_PROSE = """() => {
  const main = document.querySelector("main") || document.body;
  for (const e of main.querySelectorAll("pre, code, .highlight, .output, mjx-container"))
    e.style.display = "none";
  return main.innerText;
}"""


@pytest.mark.parametrize("page_name", PAGES)
def test_page_reads_offline(page_name, book_html, browser, screenshot_dir):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    html_file = book_html / f"{page_name}.html"
    assert html_file.is_file(), f"{page_name} was not built: {html_file} is missing"
    source = html_file.read_text(encoding="utf-8")
    n_math = len(re.findall(r'class="math notranslate', source))

    problems: list[str] = []
    with _offline_page(browser, html_file, problems) as page:
        # no remote scripts or stylesheets
        remote = [u for u in page.evaluate(REMOTE_REFS) if u and REMOTE.match(u)]
        if remote:
            problems.append(f"remote <script src>/<link href>: {remote}")

        # MathJax typeset everything the page holds
        if n_math:
            try:
                page.wait_for_function("() => window.MathJax && MathJax.startup && "
                                       "MathJax.startup.promise", timeout=MATHJAX_TIMEOUT_MS)
                page.evaluate(WAIT_MATHJAX)
            except PlaywrightTimeout:
                problems.append(f"MathJax did not start within {MATHJAX_TIMEOUT_MS} ms")
            n_typeset = page.locator("mjx-container").count()
            if n_typeset < n_math:
                problems.append(f"{n_math} math elements, only {n_typeset} typeset by MathJax")
            n_spoken = page.locator("mjx-container > mjx-assistive-mml > math").count()
            if n_spoken < n_typeset:
                problems.append(f"{n_typeset} typeset formulas, only {n_spoken} with assistive "
                                f"MathML for screen readers (mathjax3_config in _config.yml)")

        # every image loaded
        images = page.evaluate(WAIT_IMAGES)
        broken = [i["src"] for i in images if i["w"] == 0 and i["visible"]]
        if broken:
            problems.append(f"images that did not load: {broken}")

        page.wait_for_timeout(300)   # let late requests (fonts, lazy assets) show up
        if screenshot_dir is not None:
            shot = screenshot_dir / f"{page_name.replace('/', '__')}.png"
            page.screenshot(path=str(shot), full_page=True)

        # no TeX left in the prose (checked last: it hides code and math)
        leftover = sorted(set(RAW_TEX.findall(page.evaluate(VISIBLE_PROSE))))
        if leftover:
            problems.append(f"raw TeX in the visible text: {leftover}")
    assert not problems, f"{page_name} ({html_file}):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page_name", sorted(ANIMATED))
def test_animations_play_offline(page_name, book_html, browser):
    html_file = book_html / f"{page_name}.html"
    assert html_file.is_file(), f"{page_name} was not built: {html_file} is missing"
    problems: list[str] = []
    with _offline_page(browser, html_file, problems) as page:
        players = page.locator("figure.ebm-animation")
        assert players.count() == ANIMATED[page_name], (
            f"{page_name}: {players.count()} animation players on the page, "
            f"{ANIMATED[page_name]} in the notebook")
        for i in range(players.count()):
            player = players.nth(i)
            player.scroll_into_view_if_needed()
            img, slider = player.locator("img"), player.locator('input[type="range"]')
            counter = player.locator(".ebm-animation-label")
            buttons = {a: player.locator(f'button[data-action="{a}"]') for a in ANIMATION_ACTIONS}
            missing = [a for a, b in buttons.items() if b.count() != 1]
            if missing or slider.count() != 1:
                problems.append(f"player {i}: no {missing or 'slider'}")
                continue
            n = int(slider.get_attribute("max")) + 1

            def shown():
                return img.get_attribute("src"), counter.inner_text(), slider.input_value()

            first, first_alt = shown(), img.get_attribute("alt")
            buttons["next"].click()
            second, second_alt = shown(), img.get_attribute("alt")
            if bad_alt(second_alt) or second_alt == first_alt:
                problems.append(f"player {i}: stepping does not describe the new frame: "
                                f"{first_alt!r}, then {second_alt!r}")
            buttons["previous"].click()
            slider.fill(str(n - 1))
            end = shown()
            buttons["first"].click()
            if not (second[0] != first[0] and second[1:] == (f"frame 2 of {n}", "1")
                    and shown() == first and end[1:] == (f"frame {n} of {n}", str(n - 1))):
                problems.append(f"player {i}: stepping does not change the frame: "
                                f"{[s[1:] for s in (first, second, end)]}")
            buttons["play"].click()
            try:  # 4 frames a second
                page.wait_for_function("s => Number(s.value) >= 2", arg=slider.element_handle(),
                                       timeout=5000)
            except Exception:
                problems.append(f"player {i}: playing did not advance: {shown()[1:]}")
            buttons["pause"].click()
            paused = shown()
            page.wait_for_timeout(600)
            if shown() != paused:
                problems.append(f"player {i}: pausing did not stop it")
    assert not problems, f"{page_name} ({html_file}):\n  " + "\n  ".join(problems)


def _wait_for_mathjax(page):
    """Until MathJax has typeset the page, if it has math."""
    if page.locator(".math").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && "
                               "MathJax.startup.promise", timeout=MATHJAX_TIMEOUT_MS)
        page.evaluate(WAIT_MATHJAX)


# Every <img>: its alt text and role, and, for a chapter's figure (an output of
# a code cell, or an animation player), the caption of the <figure> around it.
IMAGE_TEXTS = """() => Array.from(document.images, i => {
  const output = i.closest(".cell_output, .ebm-animation");
  const figure = output && i.closest("figure");
  const caption = figure && figure.querySelector("figcaption");
  return {src: (i.getAttribute("src") || "").slice(0, 80), alt: i.getAttribute("alt"),
          role: i.getAttribute("role"), figure: Boolean(output),
          caption: caption ? caption.innerText.trim() : null};
})"""


@pytest.mark.parametrize("page_file", AUDITED)
def test_page_passes_the_accessibility_audit(page_file, book_html, browser):
    Axe = pytest.importorskip("axe_playwright_python.sync_playwright",
                              reason="install axe-playwright-python: "
                                     "pip install -r requirements.txt").Axe

    html_file = book_html / page_file
    assert html_file.is_file(), f"{page_file} was not built: {html_file} is missing"
    problems: list[str] = []
    with _offline_page(browser, html_file, problems) as page:
        if REDIRECT.search(html_file.read_text(encoding="utf-8")):   # index.html
            page.wait_for_url(lambda url: url != html_file.as_uri(), wait_until="load")
        _wait_for_mathjax(page)
        page.evaluate(WAIT_IMAGES)
        images = page.evaluate(IMAGE_TEXTS)
        found = Axe().run(page, options={"runOnly": {"type": "tag", "values": AUDIT_TAGS},
                                         "resultTypes": ["violations"]})
    for v in found.response["violations"]:
        targets = [n["target"] for n in v["nodes"][:3]]
        problems.append(f"axe {v['impact']}: {v['id']} on {len(v['nodes'])} element(s), "
                        f"{v['help']} ({v['helpUrl']}): {targets}")
    for image in images:
        why = bad_alt(image["alt"], image["role"])
        if why:
            problems.append(f"<img src={image['src']!r}>: {why}")
        if image["figure"] and not image["caption"]:
            problems.append(f"<img src={image['src']!r}>: a figure without a caption")
    assert not problems, f"{page_file} ({html_file}):\n  " + "\n  ".join(problems)


def test_every_chapter_is_in_the_build(book_html):
    missing = [p for p in PAGES if not (book_html / f"{p}.html").is_file()]
    assert not missing, f"pages of _toc.yml missing from {book_html}: {missing}"
    assert (book_html / "index.html").is_file()


def test_a_build_is_current_only_if_newer_than_its_sources(tmp_path):
    for page in PAGES:
        (tmp_path / f"{page}.html").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{page}.html").write_text("<html></html>")
    newest = max(p.stat().st_mtime for p in [*(ROOT / "book").rglob("*"), *ROOT.glob("_*.yml"),
                                             *(ROOT / "ebmlib").glob("*.py")])
    for page in PAGES:
        os.utime(tmp_path / f"{page}.html", (newest + 60, newest + 60))
    assert current_build(tmp_path)
    chapter = ROOT / f"{PAGES[-1]}.md"
    if not chapter.is_file():
        chapter = chapter.with_suffix(".ipynb")
    os.utime(tmp_path / f"{PAGES[-1]}.html", (chapter.stat().st_mtime - 1,) * 2)
    assert not current_build(tmp_path)          # one chapter changed after its page
    library = max((ROOT / "ebmlib").glob("*.py"), key=lambda p: p.stat().st_mtime)
    os.utime(tmp_path / f"{PAGES[-1]}.html", (newest + 60, newest + 60))
    os.utime(tmp_path / f"{PAGES[0]}.html", (library.stat().st_mtime - 1,) * 2)
    assert not current_build(tmp_path)          # ebmlib changed after a page
    (tmp_path / f"{PAGES[0]}.html").unlink()
    assert not current_build(tmp_path)
