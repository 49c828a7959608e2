"""Grading on a Dask cluster: ``grade SUBMISSIONS --scheduler ADDRESS`` (or ``local:N``).

The grader's process plans, judges and writes exactly as for local grading
(:mod:`~.batch`); only running the notebooks moves to the cluster, one task per
(student, notebook). Each task runs :func:`~.batch.collect_task` on a worker: the same
sandboxed kernel with the same limits, and only plain data comes back. A task carries
what its worker needs and nothing else: that student's notebook and the inputs of the
tests drawn for that student; never an expected value, a test's source, the instructor's
notebook or the grading secret, which stay in the grader's process.

A worker that dies while it runs a notebook has its task run again on another worker by
the scheduler, up to its ``distributed.scheduler.allowed-failures`` (3 by default); a
notebook that kills every worker it runs on ends as ``crashed`` (:class:`WorkersDied`).
Needs Dask distributed (``pip install 'ebmlib[cluster]'``); local grading does not.
"""
import asyncio
import functools
import logging
import secrets
import time

from .exercise import library_digest
from .sandbox import isolation

CONNECT_TIMEOUT_S = 10
WORKERS_TIMEOUT_S = 120
SLOTS_PER_THREAD = 2      # tasks in flight per worker thread: no worker waits for the next
REFRESH_S = 2.0           # how often the number of worker threads is asked again
# a worker holds one notebook per thread, no queue: a notebook that kills its worker takes
# no other notebook's retries with it (set on the scheduler of local:N; see CLUSTER.md)
SCHEDULER = {"distributed.scheduler.worker-saturation": 1.0}


class ClusterError(Exception):
    """A scheduler or a worker that cannot grade; the message says what to fix."""


class WorkersDied(Exception):
    """Every worker that ran a notebook died while running it."""


class Cluster:
    """A pool (see :func:`~.batch.run`) of the workers of the scheduler at ``address``, or of
    a LocalCluster of N single-threaded worker processes for ``local:N``.

    Used by :func:`~.batch.run` for one batch; :meth:`close` ends it. On connecting it
    checks every worker: same ebmlib as here, and its sandbox
    (:attr:`isolation`: the weakest of the workers'; a worker that joins later and is less
    isolated refuses its tasks)."""

    def __init__(self, address, private=()):
        try:
            import dask
            import distributed
        except ImportError:
            raise ClusterError("--scheduler needs Dask distributed, which is not installed: "
                               "pip install 'ebmlib[cluster]'") from None
        self._distributed, self.local, self.client = distributed, None, None
        self._slots = 0, -float("inf")     # (tasks in flight, when the workers were counted)
        try:
            if address.startswith("local:"):
                with dask.config.set(SCHEDULER):
                    self.local = distributed.LocalCluster(
                        n_workers=_count(address), threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
                address = self.local.scheduler_address
            self.client = self._connect(address)
            self.private = tuple(str(p) for p in private)
            self.isolation = self._check_workers()
        except BaseException:
            self.close()
            raise
        self.executor = self.client.get_executor(pure=False)

    def _connect(self, address):
        from distributed.comm.addressing import parse_address, parse_host_port
        try:
            parse_host_port(parse_address(address)[1])
        except ValueError as exc:
            raise ClusterError(f"--scheduler {address!r} is not a scheduler's address ({exc}): "
                               f"write tcp://HOST:PORT (or local:N)") from None
        try:
            client = self._distributed.Client(address, timeout=CONNECT_TIMEOUT_S,
                                              set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address!r} within "
                               f"{CONNECT_TIMEOUT_S} s ({exc}): check the address "
                               f"(tcp://HOST:PORT), that the scheduler runs, and that this "
                               f"machine can reach its port") from None
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            client.close()
            raise ClusterError(f"the scheduler at {address} has had no worker for "
                               f"{WORKERS_TIMEOUT_S} s ({exc}): start workers with "
                               f"'dask worker {address} --nthreads 1' (see "
                               f"exercises/CLUSTER.md)") from None
        return client

    def _check_workers(self):
        found = self.client.run(_probe, self.private)
        other = sorted(w for w, (_, digest) in found.items() if digest != library_digest())
        if other:
            raise ClusterError(f"{len(other)} worker(s) run another version of ebmlib than this "
                               f"grader ({', '.join(other[:3])}): install the same course "
                               f"repository on the workers")
        return min((iso for iso, _ in found.values()),
                   key=lambda iso: (iso.enabled, iso.root, iso.memory == "cgroup"))

    @property
    def slots(self):
        """Tasks kept in flight: twice the workers' threads, asked again every few seconds."""
        if time.monotonic() - self._slots[1] > REFRESH_S:
            threads = sum(self.client.nthreads().values())
            self._slots = max(1, SLOTS_PER_THREAD * threads), time.monotonic()
        return self._slots[0]

    def submit(self, function, task):
        """Run ``function(task)`` on a worker, with the worker's isolation as the task's last item."""
        return self.executor.submit(_on_worker, (function, self.isolation.enabled,
                                                 self.private, library_digest(), task),
                                    key=f"grade-{secrets.token_hex(8)}")

    def result(self, future):
        try:
            return future.result()
        except self._distributed.KilledWorker:
            return WorkersDied("every worker that ran this notebook died while running it, "
                               "as many times as the scheduler allows "
                               "(distributed.scheduler.allowed-failures)")
        except Exception as exc:
            return exc

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None:   # Ctrl-C, SIGTERM, or the caller stopped: nothing goes on
            self.executor.shutdown(wait=False)

    def close(self):
        """Disconnect (and stop a LocalCluster, with its workers and their kernels)."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.local is not None:
            self.local.close()
            self.local = None


def _count(address):
    try:
        count = int(address.split(":", 1)[1])
    except ValueError:
        count = 0
    if count < 1:
        raise ClusterError(f"--scheduler {address}: write local:N with N >= 1 workers")
    return count


@functools.lru_cache(maxsize=4)
def worker_isolation(private, local_directory):
    """A worker's sandbox, keeping private its Dask folder and the grader's ``private``
    folders (the same paths, where a shared file system gives the workers the course), and
    its ebmlib's digest."""
    return isolation([local_directory, *private]), library_digest()


async def _probe(private, dask_worker):
    """:func:`worker_isolation`, off the worker's event loop (the sandbox probe takes seconds)."""
    return await asyncio.get_running_loop().run_in_executor(
        None, worker_isolation, private, dask_worker.local_directory)


def _on_worker(task):
    """Run ``function(argument)`` on this worker, once it is known to run the grader's ebmlib
    and to sandbox kernels as announced; the argument's isolation becomes this worker's."""
    from distributed import get_worker
    function, sandboxed, private, digest, argument = task
    iso, own = worker_isolation(private, get_worker().local_directory)
    if own != digest:
        raise ClusterError("this worker runs another version of ebmlib than the grader: "
                           "install the same course repository on every worker")
    if sandboxed and not iso.enabled:
        raise ClusterError(f"this worker cannot sandbox a kernel ({iso.reason}); it graded "
                           f"nothing")
    return function(argument[:-1] + (iso,))
