"""Run a sweep's episodes as Ray tasks that write straight to a shared results store.

``corpsim sweep CONFIG --backend ray --address ray://head:10001 --db postgresql://...``:
the driver (where the command runs) validates the config and writes the plan; each Ray
task runs a chunk of planned episodes and stores each finished one itself, in one
transaction, only if it is still planned — so a task that Ray retries, or a driver
that is restarted, never stores an episode twice. Scripted agents: one CPU per task.
LLM agents: each task runs its chunk on asyncio with ``c`` episodes in flight, and the
driver keeps the sum of ``c`` over running tasks within each model's, each provider's
and the global limit — the limits hold across the whole cluster.

Every node needs corpsim installed (``pip install 'corpsim[ray]'``) and the API keys
of the providers used in its environment; the store must be reachable from every node
(PostgreSQL; a SQLite file works only on a single machine).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Optional

from .store import Store

_REMOTES: dict[str, Any] = {}


def _scripted_task(url: str, chunk: list[Any], ctx: dict[str, Any]) -> list[tuple[str, bool, bool]]:
    from .store import Store
    from .worker import run_scripted_chunk

    store = Store(url, create=False)
    fins = run_scripted_chunk(chunk, ctx)
    written = store.record(fins)
    return [(f.status, f.harmful, w) for f, w in zip(fins, written)]


def _llm_task(url: str, chunk: list[Any], ctx: dict[str, Any],
              concurrency: int) -> list[tuple[str, bool, bool]]:
    from .store import Store
    from .worker import run_llm

    store = Store(url, create=False)

    async def main() -> list[tuple[str, bool, bool]]:
        sem = asyncio.Semaphore(max(1, concurrency))

        class _Slot:
            def __init__(self, _p: Any):
                pass

            async def __aenter__(self) -> None:
                await sem.acquire()

            async def __aexit__(self, *exc: Any) -> None:
                sem.release()

        async def one(p: Any) -> tuple[str, bool, bool]:
            f = await run_llm(p, ctx, slot=_Slot)
            w = (await asyncio.to_thread(store.record, [f]))[0]
            return (f.status, f.harmful, w)

        return list(await asyncio.gather(*(one(p) for p in chunk)))

    return asyncio.run(main())


def _remotes() -> tuple[Any, Any]:
    import ray

    if not _REMOTES:
        _REMOTES["scripted"] = ray.remote(num_cpus=1, max_retries=3)(_scripted_task)
        _REMOTES["llm"] = ray.remote(num_cpus=1, max_retries=3)(_llm_task)
    return _REMOTES["scripted"], _REMOTES["llm"]


# Stops the processes of a local Ray this driver started once the driver is gone (even
# after kill -9, which skips every exit handler). It kills those pids and their
# descendants (Ray's agents and workers) only: never anything found by name.
_WATCHDOG = r"""
import os, signal, sys, time
driver, roots = int(sys.argv[1]), [int(x) for x in sys.argv[2:]]
def stat(p):  # (state, start time) or None
    try:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], fields[19]
    except OSError:
        return None
def alive(p, start=None):
    st = stat(p)
    return st is not None and st[0] != "Z" and (start is None or st[1] == start)
def tree(p):
    out = [p]
    try:
        with open(f"/proc/{p}/task/{p}/children") as f:
            for c in f.read().split():
                out += tree(int(c))
    except OSError:
        pass
    return out
known = {}  # every process Ray started, with its start time (a reused pid is spared)
while alive(driver) and any(alive(p) for p in roots):
    for p in roots:
        for q in tree(p):
            st = stat(q)
            if st is not None:
                known.setdefault(q, st[1])
    time.sleep(0.5)
if not alive(driver):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for q, start in known.items():
            if alive(q, start):
                try:
                    os.kill(q, sig)
                except OSError:
                    pass
        deadline = time.time() + 5
        while any(alive(q, s) for q, s in known.items()) and time.time() < deadline:
            time.sleep(0.1)
"""


def _watch_local_ray(ray: Any) -> None:
    """Start the watchdog over the local Ray's processes (best effort)."""
    import subprocess
    import sys

    try:
        node = ray._private.worker._global_node
        pids = [str(info.process.pid) for infos in node.all_processes.values()
                for info in infos if info.process is not None]
    except Exception:  # another Ray version: nothing to watch with
        return
    if pids:
        subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), *pids],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)


def init_ray(address: Optional[str] = None, **kwargs: Any) -> Any:
    """Connect to ``address`` (or $RAY_ADDRESS), else start a local Ray, whose processes
    stop when this driver ends, even by ``kill -9`` (a small watchdog process)."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray backend needs Ray: pip install 'corpsim[ray]'") from None
    if not ray.is_initialized():
        addr = address or os.environ.get("RAY_ADDRESS") or None
        opts: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                "configure_logging": False}
        if addr is None:
            opts["include_dashboard"] = False
        opts.update(kwargs)
        ray.init(address=addr, **opts)
        if addr is None:
            _watch_local_ray(ray)
    return ray


def run_on_ray(cfg: Any, store: Store, pending: list[Any], tally: Any,
               address: Optional[str] = None, chunk_size: int = 16) -> None:
    """Run ``pending`` on Ray; ``tally.add_results`` after each task."""
    ray = init_ray(address)
    if store.dialect == "sqlite" and (address or os.environ.get("RAY_ADDRESS")):
        import warnings

        warnings.warn("a SQLite store with a Ray cluster works only if every node sees the "
                      "same file; use PostgreSQL (--db postgresql://...) for a cluster",
                      stacklevel=2)
    from .worker import context_from_config

    scripted_remote, llm_remote = _remotes()
    ctx = dict(context_from_config(cfg))
    url = store.url
    conc = cfg.concurrency

    scripted = [p for p in pending if p.kind == "scripted"]
    llm = [p for p in pending if p.kind == "llm"]
    queue: list[tuple[str, list[Any], int]] = []  # (kind, chunk, slots)
    for i in range(0, len(scripted), chunk_size):
        queue.append(("scripted", scripted[i:i + chunk_size], 0))
    groups: dict[str, list[Any]] = {}
    for p in llm:
        groups.setdefault(p.agent, []).append(p)
    model_limit: dict[str, int] = {}
    for label, eps in groups.items():
        lim = conc.models.get(label, conc.models.get(eps[0].model or "", conc.per_model))
        model_limit[label] = min(lim or conc.total, conc.total)
        c = max(1, min(model_limit[label], 32))
        for i in range(0, len(eps), 4 * c):
            part = eps[i:i + 4 * c]
            queue.append(("llm", part, min(c, len(part))))

    used_model: dict[str, int] = {}
    used_prov: dict[str, int] = {}
    used_total = 0
    running: dict[Any, tuple[str, list[Any], int]] = {}
    max_scripted = max(1, int(ray.available_resources().get("CPU", 1)) * 2)

    def can_start(kind: str, part: list[Any], c: int) -> bool:
        if kind == "scripted":
            return sum(1 for k, _, _ in running.values() if k == "scripted") < max_scripted
        p = part[0]
        prov = p.provider or "unknown"
        plim = conc.providers.get(prov, conc.per_provider)
        return (used_model.get(p.agent, 0) + c <= model_limit[p.agent]
                and (plim is None or used_prov.get(prov, 0) + c <= plim)
                and used_total + c <= conc.total)

    try:
        while queue or running:
            i = 0
            while i < len(queue):
                kind, part, c = queue[i]
                if can_start(kind, part, c):
                    queue.pop(i)
                    if kind == "scripted":
                        ref = scripted_remote.remote(url, part, ctx)
                    else:
                        ref = llm_remote.remote(url, part, ctx, c)
                        p = part[0]
                        used_model[p.agent] = used_model.get(p.agent, 0) + c
                        prov = p.provider or "unknown"
                        used_prov[prov] = used_prov.get(prov, 0) + c
                        used_total += c
                    running[ref] = (kind, part, c)
                else:
                    i += 1
            if not running:
                break
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                kind, part, c = running.pop(ref)
                if kind == "llm":
                    p = part[0]
                    used_model[p.agent] -= c
                    used_prov[p.provider or "unknown"] -= c
                    used_total -= c
                tally.add_results(ray.get(ref))
    except BaseException:
        for ref in running:
            ray.cancel(ref, force=True)
        raise
