"""Sphinx extension: what the terminal shows while the chapters execute.

- Every code cell that runs for a second or more is logged with its time, so a
  long chapter (the demos) shows progress instead of a silent minute.
- The chapters' kernels log errors only: ipykernel warns on every start that a
  kernel on TCP is unencrypted, but each kernel here is a local child of the build
  that lives for one chapter, so the warning says nothing a reader can act on.
"""
import time

from nbclient import NotebookClient
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
SLOW_S = 1.0


class _Progress:
    def __init__(self):
        self.cells, self.start = 0, time.monotonic()

    def notebook(self, notebook):
        self.cells = len(notebook.cells)

    def cell_start(self, cell, cell_index):
        self.start = time.monotonic()

    def cell_done(self, cell, cell_index, execute_reply):
        seconds = time.monotonic() - self.start
        if seconds >= SLOW_S:
            LOGGER.info(f"    cell {cell_index + 1} of {self.cells} ran in {seconds:.1f} s")


def setup(app):
    progress = _Progress()
    traits = NotebookClient.class_traits()
    traits["extra_arguments"].default_value = ["--IPKernelApp.log_level=ERROR"]
    traits["on_notebook_start"].default_value = progress.notebook
    traits["on_cell_start"].default_value = progress.cell_start
    traits["on_cell_executed"].default_value = progress.cell_done
    return {"parallel_read_safe": False, "parallel_write_safe": True}
