"""Run a sweep: plan -> store -> episodes -> store, resumable at any point.

* The plan (one row per episode) is written before anything is stored; a rerun of the
  same config runs only the episodes still ``planned``, so a crash (even ``kill -9``)
  loses at most the episodes in flight and nothing is stored twice. With an existing
  database the plan is read before any episode runs; a new SQLite file (nothing to
  resume) is created while the first episodes wait for their first answers.
* Scripted agents (CPU-bound) run in a process pool, in small chunks; LLM agents run on
  asyncio, one group of workers per model (at most its limit), each episode holding a
  slot of its provider's limit and of the global limit — in forked shard processes
  when this process can fork safely and has 2 cores (:meth:`LocalRunner.start_shards`),
  else in this process (and spawned shards past :data:`PER_PROCESS`).
* One writer, in this process, stores finished episodes in batches (the shards send
  theirs here); each episode's rows (the episode, its steps, its prompt) go in one
  transaction.
* Ctrl-C stops cleanly: nothing new starts, LLM episodes in flight are cancelled (they
  stay planned), finished ones are written, and the same command resumes. A second
  Ctrl-C stops at once (finished episodes already written stay written).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import gc
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

from .config import SweepConfig, default_db, validate
from .plan import PlannedEpisode, check_worlds, expand, plan
from .rows import DONE_STATUSES, Finished
from .startup import running_gc, startup_gc
from .worker import (RunContext, context_from_config, init_pool_worker, run_llm_deferred,
                     run_scripted_chunk)

if TYPE_CHECKING:  # the SQL layer is imported when the store opens, off the critical path
    from .store import Store


@dataclass
class SweepResult:
    sweep_id: str
    db: str
    planned: int  # episodes in the plan
    pending_before: int  # planned and not done when this run started
    written: int = 0  # episodes this run stored
    counts: dict[str, int] = field(default_factory=dict)  # by status in the store, + harmful
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.counts.get("planned", 0) == 0


@dataclass
class Prepared:
    cfg: SweepConfig
    store: Store
    planned: list[PlannedEpisode]
    pending: list[PlannedEpisode]
    new_sweep: bool


def prepare(cfg: SweepConfig, db: Optional[str] = None, *, check_keys: bool = True,
            retry_errored: bool = False) -> Prepared:
    """Validate, plan, register the sweep and write its plan; return what is left to run."""
    planned = plan_checked(cfg, check_keys=check_keys)
    store, new = register_plan(cfg, db, planned, retry_errored=retry_errored)
    return Prepared(cfg, store, planned, store.pending(planned), new)


def plan_checked(cfg: SweepConfig, *, check_keys: bool = True) -> list[PlannedEpisode]:
    """Validate the config, build each world once and plan every episode (no store)."""
    if cfg.branch_from is not None:  # continuations of stored episodes
        from .branch import check_branch_agents, plan_branch

        planned, cells = plan_branch(cfg)
        check_branch_agents(cfg, planned, check_keys=check_keys)
    else:
        validate(cfg, check_keys=check_keys)
        cells = expand(cfg)
        planned = plan(cfg, cells)
    check_worlds(cells)
    return planned


def register_plan(cfg: SweepConfig, db: Optional[str], planned: list[PlannedEpisode], *,
                  retry_errored: bool = False) -> tuple["Store", bool]:
    """Open (or create) the store, register the sweep and write its plan; returns the
    store and whether the sweep is new."""
    from .store import Store

    store = Store(db or default_db(cfg))
    new = store.register_sweep(cfg.experiment_id, _config_json(cfg), cfg.fingerprint(),
                               cfg.description)
    store.write_plan(planned)
    if retry_errored:
        store.reset_errored(cfg.experiment_id)
    return store, new


def new_sqlite_file(db: str) -> bool:
    """Whether ``db`` is a SQLite file that does not exist yet (in a folder this process
    may write): then nothing is stored to resume, and episodes may start while the store
    is created (:class:`LocalRunner` with ``open_store``)."""
    path = os.path.abspath(os.path.expanduser(db))
    if "://" in db or db == ":memory:" or os.path.lexists(path):
        return False
    folder = os.path.dirname(path)
    while not os.path.lexists(folder):  # the store makes missing folders
        folder = os.path.dirname(folder)
    # a file in the way, or a folder this process cannot write: the store's own error,
    # before any episode runs
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)


def _config_json(cfg: SweepConfig) -> str:
    import json

    from ..secrets import scrub_settings

    d = cfg.model_dump(mode="json")
    d["models"] = [scrub_settings(m) for m in d.get("models", [])]
    for k in ("monitor", "outcome_judge"):
        if d.get(k):
            d[k] = scrub_settings(d[k])
    for e in d.get("expansions", []):
        e["npc_model"] = [scrub_settings(m) if isinstance(m, dict) else m
                          for m in e.get("npc_model") or []]
    return json.dumps(d, sort_keys=True)


# ---------------------------------------------------------------------- progress
class Tally:
    """Counts of this run plus what was done before; ``on_change`` after each batch."""

    def __init__(self, total: int, done_before: dict[str, int],
                 on_change: Optional[Callable[["Tally", int], None]] = None):
        self.total = total
        self.ok = done_before.get("ok", 0)
        self.errored = done_before.get("errored", 0)
        self.empty = done_before.get("empty", 0)
        self.harmful = done_before.get("harmful", 0)
        self.written = 0
        self.on_change = on_change

    @property
    def done(self) -> int:
        return self.ok + self.errored + self.empty

    def add(self, finished: list[Finished], written: list[bool]) -> None:
        self.add_results([(f.status, f.harmful, w) for f, w in zip(finished, written)])

    def add_results(self, results: list[tuple[str, bool, bool]]) -> None:
        """``(status, harmful, written)`` per finished episode; unwritten ones (stored
        already, by another worker) are not counted."""
        n = 0
        for status, harmful, w in results:
            if not w:
                continue
            n += 1
            if status == "ok":
                self.ok += 1
                self.harmful += int(bool(harmful))
            elif status == "empty":
                self.empty += 1
            else:
                self.errored += 1
        self.written += n
        if self.on_change is not None:
            self.on_change(self, n)

    def summary(self) -> str:
        rate = f"{100 * self.harmful / self.ok:.1f}%" if self.ok else "-"
        s = f"ok {self.ok} · errored {self.errored}"
        if self.empty:
            s += f" · empty {self.empty}"
        return s + f" · harmful {self.harmful} ({rate})"


class RichProgress:
    """A rich progress bar: done/total, ok/errored/harmful counts, harm rate, ep/s."""

    def __init__(self, total: int, done: int, title: str, console: Any = None):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("[cyan]{task.fields[rate]}"), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False,
            refresh_per_second=4)
        self.task = self.progress.add_task(title, total=total, completed=done, stats="",
                                           rate="")
        self.t0 = time.perf_counter()
        self.start_done = done

    def __enter__(self) -> "RichProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, tally: Tally, _n: int) -> None:
        el = time.perf_counter() - self.t0
        rate = (tally.done - self.start_done) / el if el > 0 else 0.0
        self.progress.update(self.task, completed=tally.done, stats=tally.summary(),
                             rate=f"{rate:.1f} ep/s")


# ---------------------------------------------------------------------- the local runner
SMALL_SWEEP = 48  # scripted episodes this few run in-process (a pool costs ~1 s to start)

class LocalRunner:
    """Runs pending episodes in this process (LLM) and a process pool (scripted).

    ``store`` may be None with ``open_store`` given (a new database: nothing to resume):
    the episodes start at once and the store is opened in the writer's thread while they
    wait for their first answers; every write waits for it."""

    def __init__(self, cfg: SweepConfig, store: Optional["Store"], tally: Tally,
                 workers: Optional[int] = None, llm_factory: Optional[Callable[[Any], Any]] = None,
                 mp_context: Optional[str] = None, llm_processes: Optional[int] = None,
                 open_store: Optional[Callable[[], "Store"]] = None, location: str = "",
                 sink: Optional[Callable[[list[Finished]], Any]] = None):
        if store is None and not (open_store and location) and sink is None:
            raise ValueError("LocalRunner needs a store, open_store and its location, "
                             "or a sink")
        self.cfg = cfg
        self.store = store
        self.location = store.url if store is not None else location  # what Store() takes
        self._open_store = open_store
        self._store_ready: Optional[concurrent.futures.Future[Any]] = None
        self._launched = asyncio.Event()  # the first episodes have started
        self.tally = tally
        self.ctx: RunContext = context_from_config(cfg)
        self.workers = workers or cfg.concurrency.workers or os.cpu_count() or 1
        self.llm_factory = llm_factory
        self.llm_processes = llm_processes
        # an explicit start method (argument or CORPSIM_MP_CONTEXT) for every process
        self.mp_forced = mp_context or os.environ.get("CORPSIM_MP_CONTEXT") or None
        self.mp_context = self.mp_forced or "spawn"
        self.sink = sink  # a shard process: finished batches go there, not to a store
        self._shards: Optional[_Shards] = None
        self.stop = asyncio.Event()
        self.interrupted = False
        self._db_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="corpsim-db")

    # -- store
    def _open(self) -> "Store":
        assert self._open_store is not None
        self.store = self._open_store()
        return self.store

    async def _store(self) -> "Store":
        """The store, once open (opened in the writer's thread, ahead of any write)."""
        if self._store_ready is None:
            if self.store is not None:
                return self.store
            try:  # after the first requests are out: they do not wait for the SQL layer
                await asyncio.wait_for(self._launched.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            if self._store_ready is None:
                self._store_ready = self._db_thread.submit(self._open)
        return await asyncio.wrap_future(self._store_ready)

    # -- writer
    async def _writer(self, queue: "asyncio.Queue[Optional[Finished]]") -> None:
        loop = asyncio.get_running_loop()
        store = await self._store() if self.sink is None else None
        closing = False
        while not closing:
            item = await queue.get()
            if item is None:
                break
            batch = [item]
            if queue.qsize() < 32:
                await asyncio.sleep(0.02)  # let a few more finish: one transaction for all
            while len(batch) < 512 and not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    closing = True
                    break
                batch.append(nxt)
            if store is None:  # a shard: the sweep's process stores (one writer)
                assert self.sink is not None
                self.sink(batch)
                continue
            written = await loop.run_in_executor(self._db_thread, store.record, batch)
            self.tally.add(batch, written)

    # -- scripted agents: process pool (or this process when workers == 1)
    async def _run_scripted(self, pending: list[PlannedEpisode],
                            queue: "asyncio.Queue[Optional[Finished]]") -> None:
        loop = asyncio.get_running_loop()
        n = len(pending)
        size = max(1, min(16, n // (self.workers * 8) or 1))
        chunks = collections.deque(pending[i:i + size] for i in range(0, n, size))
        if self.workers <= 1 or n <= SMALL_SWEEP:  # starting processes would cost more
            pool: concurrent.futures.Executor = concurrent.futures.ThreadPoolExecutor(1)
        else:
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=min(self.workers, len(chunks)),
                mp_context=multiprocessing.get_context(self.mp_context),
                initializer=init_pool_worker, initargs=(os.getpid(),))
        inflight: set[asyncio.Future[list[Finished]]] = set()
        self._launched.set()
        try:
            while (chunks or inflight):
                while chunks and not self.stop.is_set() and len(inflight) < 2 * self.workers:
                    inflight.add(loop.run_in_executor(pool, run_scripted_chunk,
                                                      chunks.popleft(), self.ctx))
                if not inflight:
                    break
                done, inflight = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    for f in fut.result():
                        queue.put_nowait(f)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- LLM agents: asyncio with limits
    async def _run_llm(self, pending: list[PlannedEpisode],
                       queue: "asyncio.Queue[Optional[Finished]]",
                       conc: Optional[Any] = None) -> None:
        """The episodes on this event loop, within ``conc`` (default: the config's
        limits)."""
        conc = conc or self.cfg.concurrency
        total = asyncio.Semaphore(conc.total)
        prov_sems: dict[str, asyncio.Semaphore] = {}
        groups: dict[str, collections.deque[PlannedEpisode]] = {}
        for p in pending:
            groups.setdefault(p.agent, collections.deque()).append(p)
            prov = p.provider or "unknown"
            lim = conc.providers.get(prov, conc.per_provider)
            if lim is not None and prov not in prov_sems:
                prov_sems[prov] = asyncio.Semaphore(lim)

        class _Slot:
            def __init__(self, p: PlannedEpisode):
                self.sems = [s for s in (prov_sems.get(p.provider or "unknown"), total) if s]

            async def __aenter__(self) -> None:
                for i, s in enumerate(self.sems):
                    try:
                        await s.acquire()
                    except BaseException:
                        for t in self.sems[:i]:
                            t.release()
                        raise

            async def __aexit__(self, *exc: Any) -> None:
                for s in self.sems:
                    s.release()

        # an ended episode's rows are built after the requests that are ready to go out
        # (its successor's first one included): call_soon runs after the ready callbacks
        rows_later: collections.deque[Callable[[], Finished]] = collections.deque()
        loop = asyncio.get_running_loop()

        def store_one() -> None:
            if rows_later:
                queue.put_nowait(rows_later.popleft()())

        async def worker(q: collections.deque[PlannedEpisode]) -> None:
            while q and not self.stop.is_set():
                p = q.popleft()
                rows_later.append(await run_llm_deferred(p, self.ctx, slot=_Slot,
                                                         agent_factory=self.llm_factory))
                loop.call_soon(store_one)

        coros = []
        for label, q in groups.items():
            p0 = q[0]
            lim = conc.models.get(label, conc.models.get(p0.model or "", conc.per_model))
            n = min(lim or conc.total, conc.total, len(q))
            coros += [worker(q) for _ in range(n)]
        tasks: list[asyncio.Future[None]] = []
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            for c in coros:  # one at a time: each episode's first request goes out at once
                tasks.append(asyncio.ensure_future(c))  # instead of after every reset
                await asyncio.sleep(0)
            self._launched.set()
            pending_tasks = set(tasks)
            while pending_tasks:
                done, pending_tasks = await asyncio.wait(pending_tasks | {stopper},
                                                         return_when=asyncio.FIRST_COMPLETED)
                pending_tasks.discard(stopper)
                for t in done:
                    if t is not stopper and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
                if self.stop.is_set():
                    for t in pending_tasks:
                        t.cancel()
                    await asyncio.gather(*pending_tasks, return_exceptions=True)
                    break
        finally:
            stopper.cancel()
            for c in coros[len(tasks):]:  # never started (cancelled while launching)
                c.close()
            for t in tasks:
                t.cancel()
            while rows_later:  # every ended episode is stored, also on Ctrl-C
                store_one()
            from corpsim.agents.http_client import aclose

            await aclose()  # the direct transport's connection pools of this loop

    # -- LLM agents on several processes, each with its share of every limit
    def start_shards(self, pending: list[PlannedEpisode]) -> None:
        """Start the shard processes for the LLM episodes, if the sweep spreads them
        (:func:`llm_processes`). Call it before this process starts any thread (the
        progress bar's, the store's): then every share runs in a forked copy of this
        process, with everything imported and every world built (~10 ms to start
        instead of ~1.5 s of imports, which on a 2-core machine also took a core from
        the running episodes), and this process only stores what they finish (one
        writer, and its SQL work takes no time from any episode). Otherwise (another
        thread running, not Linux, ``CORPSIM_MP_CONTEXT`` set) the other shares are
        spawned and join once imported, and this process runs the first share at once."""
        if self._shards is not None:
            return
        llm = [p for p in pending if p.kind == "llm"]
        n = self.llm_processes or llm_processes(self.cfg, llm) if llm else 1
        method = self.mp_forced or ("fork" if sys.platform.startswith("linux")
                                    and threading.active_count() == 1 else "spawn")
        # with 2 cores or more, even what one process keeps up with runs in a forked
        # shard (the config's agents; processes not set): this process then only
        # stores, and its SQL work takes no time from the episodes (bench_http.py, 64
        # in flight: ~84% of ideal in one process, ~91% so)
        one = (n == 1 and bool(llm) and method == "fork" and self.sink is None
               and self.llm_factory is None and self.llm_processes is None
               and not self.cfg.concurrency.processes and (os.cpu_count() or 1) >= 2)
        if (n > 1 or one) and method == "fork":  # what the first requests need, imported once
            from .worker import warm_up

            warm_up(llm, llm=self.llm_factory is None)
            if threading.active_count() > 1 and not self.mp_forced:
                method = "spawn"  # an import started a thread: forking is unsafe now
        if n > 1 and method != "fork" and self.llm_factory is not None:
            import pickle

            try:
                pickle.dumps(self.llm_factory)
            except Exception:  # a closure cannot go to a spawned process
                n = 1
        if n <= 1 and not (one and method == "fork"):
            self._shards = _Shards(llm, None, [], [], None)
            return
        ctx = multiprocessing.get_context(method)
        results: Any = ctx.Queue()
        parts = split_llm(self.cfg, llm, n)
        own_eps: list[PlannedEpisode] = []
        own_conc: dict[str, Any] = {}
        if method != "fork":  # a spawned shard starts late: this process runs a share
            (own_eps, own_conc), parts = parts[0], parts[1:]
        cfg_json = self.cfg.model_dump_json()
        procs, ready = [], []
        for eps, conc in parts:
            r = ctx.Event()
            proc = ctx.Process(target=_llm_shard_main, daemon=True,
                               args=(cfg_json, conc, eps, results, self.llm_factory, r,
                                     os.getpid(), method == "fork"),
                               name="corpsim-llm-shard")
            proc.start()
            procs.append(proc)
            ready.append(r)
        self._shards = _Shards(own_eps, self.cfg.concurrency.model_copy(update=own_conc),
                               procs, ready, results)

    def only_stores(self, pending: list[PlannedEpisode]) -> bool:
        """Whether this process runs no episode of ``pending`` itself (every LLM
        episode is in a forked shard, and there are no scripted ones)."""
        return (self._shards is not None and bool(self._shards.procs)
                and not self._shards.own and all(p.kind == "llm" for p in pending))

    async def _run_llm_sharded(self, shards: "_Shards",
                               queue: "asyncio.Queue[Optional[Finished]]") -> None:
        """The shard processes run their shares (and this process its own, if any) and
        send each finished batch here, to the one writer."""
        import queue as queue_mod

        own_task = asyncio.ensure_future(self._run_llm(shards.own, queue, shards.conc))
        try:
            await self._watch_shards(shards, queue_mod, queue)
        finally:
            if not own_task.done():
                if self.stop.is_set() or any(p.exitcode not in (0, None)
                                             for p in shards.procs):
                    own_task.cancel()
                await asyncio.gather(own_task, return_exceptions=True)
        own_task.result()  # an error in this process's share

    async def _watch_shards(self, shards: "_Shards", queue_mod: Any,
                            queue: "asyncio.Queue[Optional[Finished]]") -> None:
        """Pass what the shard processes finish to the writer; stop them on Ctrl-C."""
        procs, ready, results = shards.procs, shards.ready, shards.results
        told = False

        def drain() -> None:
            while True:
                try:
                    batch = results.get_nowait()
                except queue_mod.Empty:
                    return
                for f in batch:
                    queue.put_nowait(f)

        try:
            while any(p.is_alive() for p in procs):
                drain()
                if self.stop.is_set() and not told:
                    told = True
                    for p, r in zip(procs, ready):
                        if p.pid is not None and p.is_alive():
                            if r.is_set():
                                os.kill(p.pid, signal.SIGTERM)  # stops cleanly
                            else:  # still importing: it has done nothing to lose
                                p.kill()
                await asyncio.sleep(0.05)
            for p in procs:
                p.join()
            drain()
        except asyncio.CancelledError:
            for p in procs:
                if p.is_alive():
                    p.kill()
            raise
        failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
        if failed and not self.stop.is_set():
            raise RuntimeError(f"an LLM worker process failed (exit codes {failed}); "
                               "finished episodes are stored, rerun to resume")

    async def run(self, pending: list[PlannedEpisode]) -> None:
        queue: asyncio.Queue[Optional[Finished]] = asyncio.Queue()
        writer = asyncio.ensure_future(self._writer(queue))
        # a store that fails (full disk) stops the sweep: nothing more could be written
        writer.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                                 or self.stop.set())
        jobs = []
        scripted = [p for p in pending if p.kind == "scripted"]
        llm = [p for p in pending if p.kind == "llm"]
        if scripted:
            jobs.append(asyncio.ensure_future(self._run_scripted(scripted, queue)))
        if llm:
            self.start_shards(pending)
            assert self._shards is not None
            if self._shards.procs:
                jobs.append(asyncio.ensure_future(self._run_llm_sharded(self._shards, queue)))
            else:
                jobs.append(asyncio.ensure_future(self._run_llm(llm, queue)))
        try:
            await asyncio.gather(*jobs)
        finally:
            for j in jobs:
                j.cancel()
            queue.put_nowait(None)
            await writer
            self._db_thread.shutdown(wait=True)


# episodes in flight one process's event loop keeps up with: through litellm (~13 ms
# of CPU per call) and on the direct transport (~3 ms; bench_http.py). With 2 cores or
# more the direct transport spreads from 256 in flight (128 per process): one process
# would need ~1.5 cores there, and forked shards start in ~10 ms.
PER_PROCESS = {"litellm": 64, "direct": 256}
PER_PROCESS_MULTICORE = {"litellm": 64, "direct": 128}


def llm_processes(cfg: SweepConfig, llm: list[PlannedEpisode]) -> int:
    """Processes for LLM episodes: ``concurrency.processes``, else enough that each
    keeps at most ``PER_PROCESS`` episodes in flight (64 through litellm; on the direct
    transport 128 with 2 cores or more, else 256; up to two processes per core). A process's event loop runs every
    episode's env steps and requests between model calls; with many in flight and fast
    models, episodes that wait for the loop lose throughput, so big sweeps spread."""
    if cfg.concurrency.processes:
        return cfg.concurrency.processes
    from corpsim.agents.llm import uses_litellm

    conc = cfg.concurrency
    labels: dict[str, PlannedEpisode] = {}
    for p in llm:
        labels.setdefault(p.agent, p)
    limits = {lb: _model_limit(cfg, p) for lb, p in labels.items()}
    inflight = min(conc.total, sum(limits.values()), len(llm))
    if not inflight:
        return 1
    per = PER_PROCESS_MULTICORE if (os.cpu_count() or 1) >= 2 else PER_PROCESS
    load = sum(limits[lb] / per["litellm" if uses_litellm(p.spec, **p.settings_dict)
                                else "direct"] for lb, p in labels.items())
    load *= inflight / sum(limits.values())  # the share of each that can be in flight
    if load < 2:
        return 1
    return max(1, min(2 * (os.cpu_count() or 1), math.ceil(load - 1e-9)))


def _model_limit(cfg: SweepConfig, p: PlannedEpisode) -> int:
    conc = cfg.concurrency
    lim = conc.models.get(p.agent, conc.models.get(p.model or "", conc.per_model))
    return min(lim or conc.total, conc.total)


def _share(x: int, n: int, i: int) -> int:
    return x // n + (1 if i < x % n else 0)


def split_llm(cfg: SweepConfig, llm: list[PlannedEpisode], n: int
              ) -> list[tuple[list[PlannedEpisode], dict[str, Any]]]:
    """Split LLM episodes over ``n`` processes, each with a share of every limit (the
    shares of a limit add up to it, so the limits hold across processes)."""
    conc = cfg.concurrency
    labels: dict[str, PlannedEpisode] = {}
    providers: set[str] = set()
    for p in llm:
        labels.setdefault(p.agent, p)
        providers.add(p.provider or "unknown")
    shards: list[dict[str, Any]] = []
    for i in range(n):
        prov = {}
        for pr in providers:
            lim = conc.providers.get(pr, conc.per_provider)
            if lim is not None:
                prov[pr] = _share(lim, n, i)
        shards.append({"total": _share(conc.total, n, i), "providers": prov,
                       "models": {lb: _share(_model_limit(cfg, p), n, i)
                                  for lb, p in labels.items()},
                       "workers": 1})
    parts: list[list[PlannedEpisode]] = [[] for _ in range(n)]
    load = [dict.fromkeys(labels, 0) for _ in range(n)]
    for p in llm:
        ok = [i for i in range(n) if shards[i]["total"] > 0 and shards[i]["models"][p.agent] > 0
              and shards[i]["providers"].get(p.provider or "unknown", 1) > 0]
        if not ok:  # a limit smaller than the processes: the first shard takes it all
            ok = [0]
        i = min(ok, key=lambda j: load[j][p.agent] / max(1, shards[j]["models"][p.agent]))
        parts[i].append(p)
        load[i][p.agent] += 1
    for i in range(n):  # a shard given episodes of a model it has no share of gets 1
        for p in parts[i]:
            for key, name in (("models", p.agent), ("providers", p.provider or "unknown")):
                if name in shards[i][key] and shards[i][key][name] < 1:
                    shards[i][key][name] = 1
        shards[i]["total"] = max(1, shards[i]["total"])
    return [(parts[i], shards[i]) for i in range(n) if parts[i]]


@dataclass
class _Shards:
    """This process's share of the LLM episodes and its limits, and the processes
    running the other shares (none: this process runs them all)."""

    own: list[PlannedEpisode]
    conc: Any
    procs: list[Any]
    ready: list[Any]
    results: Any


def _after_fork() -> None:
    """In a forked shard: forget the parent's event loop, signal wake-up and worker id."""
    from . import worker

    asyncio._set_running_loop(None)  # the parent's loop was running when it forked
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:  # not the main thread: no wake-up fd was ours to clear
        pass
    worker._WORKER = f"{worker._WORKER.rsplit(':', 1)[0]}:{os.getpid()}"


def _llm_shard_main(cfg_json: str, conc: dict[str, Any], episodes: list[PlannedEpisode],
                    results: Any, factory: Optional[Callable[[Any], Any]], ready: Any,
                    parent: Optional[int] = None, forked: bool = False) -> None:
    """A process running its share of the LLM episodes; sends each batch of finished
    episodes to the sweep's process (which stores them); SIGTERM stops it cleanly."""
    from .worker import init_pool_worker, warm_up

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())  # before anything else
    if forked:
        _after_fork()
    init_pool_worker(parent)  # ignore Ctrl-C (the parent decides), exit if the parent dies
    cfg = SweepConfig.model_validate_json(cfg_json)
    cfg = cfg.model_copy(update={"concurrency": cfg.concurrency.model_copy(update=conc)})
    warm_up(episodes, llm=factory is None)  # nothing to do when forked
    gc.freeze()  # imports and worlds are long-lived: keep them out of every collection
    ready.set()
    if stopping.is_set():
        return

    async def main() -> None:
        runner = LocalRunner(cfg, None, Tally(0, {}), llm_factory=factory, llm_processes=1,
                             sink=results.put)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, runner.stop.set)
        if stopping.is_set():  # SIGTERM came before the handler above
            return
        with running_gc():
            await runner.run(episodes)

    asyncio.run(main())


# ---------------------------------------------------------------------- entry points
async def arun_sweep(cfg: SweepConfig, db: Optional[str] = None, *, progress: bool = True,
                     console: Any = None, check_keys: bool = True, retry_errored: bool = False,
                     workers: Optional[int] = None, backend: str = "local",
                     address: Optional[str] = None,
                     llm_factory: Optional[Callable[[Any], Any]] = None,
                     handle_signals: bool = True, writer_nice: int = 0) -> SweepResult:
    """Run (or resume) a sweep; returns the final counts. See :func:`run_sweep`."""
    t0 = time.perf_counter()
    loop = asyncio.get_running_loop()
    location = db or default_db(cfg)
    store: Optional[Store] = None
    # planning in a thread of its own, ended after: shard processes fork only from a
    # process with one thread (LocalRunner.start_shards)
    with startup_gc(), concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="corpsim-plan") as planner:
        if backend == "local" and new_sqlite_file(location):
            # nothing stored to resume: every planned episode is pending, and the store
            # is created while the first episodes wait for their answers
            planned = await loop.run_in_executor(
                planner, lambda: plan_checked(cfg, check_keys=check_keys))
            pending = planned
            before = dict.fromkeys(("planned", *DONE_STATUSES, "harmful", "total"), 0)
            before["planned"] = before["total"] = len(planned)
        else:
            prep = await loop.run_in_executor(
                planner, lambda: prepare(cfg, db, check_keys=check_keys,
                                      retry_errored=retry_errored))
            store, planned, pending = prep.store, prep.planned, prep.pending
            before = store.counts(cfg.experiment_id)
    result = SweepResult(cfg.experiment_id, store.url if store else "", len(planned),
                         len(pending))
    bar: Optional[Any] = None
    if progress and pending:
        from .progress import make_progress  # plain lines when stdout is not a terminal

        bar = make_progress(len(planned), before["total"] - before["planned"],
                            cfg.experiment_id, console=console)
    tally = Tally(len(planned), before, on_change=bar.update if bar else None)

    if backend == "ray":
        from .ray_backend import run_on_ray

        if bar:
            bar.__enter__()
        assert store is not None
        try:  # in this (main) thread: Ray installs its signal handlers here
            run_on_ray(cfg, store, pending, tally, address=address)
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            if bar:
                bar.__exit__(None, None, None)
        result.written = tally.written
        result.counts = store.counts(cfg.experiment_id)
        result.seconds = time.perf_counter() - t0
        return result
    if backend != "local":
        raise ValueError(f"unknown backend {backend!r}; valid: local, ray")

    runner = LocalRunner(
        cfg, store, tally, workers=workers, llm_factory=llm_factory, location=location,
        open_store=lambda: register_plan(cfg, db, planned, retry_errored=retry_errored)[0])
    runner.start_shards(pending)  # before the progress bar's thread and signal handlers
    if writer_nice > 0 and runner.only_stores(pending):
        # the shards' episodes wait for this process's CPU, never the other way round:
        # on a 2-core machine shared with a local server, 256 in flight went from
        # 77-79% of ideal to 81-84% (bench_http.py, interleaved)
        with contextlib.suppress(OSError):
            os.nice(writer_nice)
    presses = {"n": 0}
    main_task = asyncio.current_task()

    def on_signal() -> None:
        presses["n"] += 1
        runner.interrupted = True
        if presses["n"] == 1:
            runner.stop.set()
            if bar:
                bar.progress.console.print("[yellow]stopping: finishing what is written; "
                                           "Ctrl-C again to stop at once[/]")
        elif main_task is not None:
            main_task.cancel()

    installed = []
    if handle_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
    try:
        with running_gc():
            if bar:
                with bar:
                    await runner.run(pending)
            else:
                await runner.run(pending)
    except asyncio.CancelledError:
        runner.interrupted = True
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    store = runner.store or await loop.run_in_executor(None, runner._open)
    result.db = store.url
    result.interrupted = runner.interrupted
    result.written = tally.written
    result.counts = store.counts(cfg.experiment_id)
    result.seconds = time.perf_counter() - t0
    return result


def run_sweep(cfg: SweepConfig, db: Optional[str] = None, **kwargs: Any) -> SweepResult:
    """Run (or resume) a sweep and wait for it. ``db``: SQLite path or SQLAlchemy URL
    (default: the config's ``database`` or ``results/<experiment_id>.db``). Keyword
    arguments: ``progress`` (rich bar), ``check_keys`` (API keys), ``retry_errored``
    (run errored episodes again), ``workers`` (process pool size), ``backend``
    (``local`` or ``ray``), ``address`` (Ray cluster), ``writer_nice`` (lower this
    process's CPU priority by this much when it only stores, its LLM episodes running
    in forked shards; ``corpsim sweep`` uses 5). Works inside Jupyter too."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_sweep(cfg, db, **kwargs))
    # a loop is already running (Jupyter): run ours in a thread
    kwargs["handle_signals"] = False
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["r"] = asyncio.run(arun_sweep(cfg, db, **kwargs))
        except BaseException as exc:  # pragma: no cover - re-raised below
            box["e"] = exc

    th = threading.Thread(target=target, name="corpsim-sweep")
    th.start()
    th.join()
    if "e" in box:
        raise box["e"]
    return box["r"]
