"""TaskQueue throughput, as ratios against baselines measured in the same run.

Run: python bench/taskqueue.py [--tasks N] [--virtual-tasks N] [--plugin-virtual-tasks N]

Prints:
- bare call:        LoadedPlugin.call("nd_task_execute", ...) in a loop on a Host with
                    snapshots=False (a fresh instance per call, initialised in the call: the
                    bare fresh-instance rate); the runs below use the default (instances
                    initialised ahead, runtime/prepared.py)
- real time c=1/4:  tasks/s through a real Go plugin with 1 and 4 workers, from the first
                    enqueue until the queue is idle, and its ratio to the bare call rate
- warm-up:          before each run with the Go plugin, 8 calls and the wait until its memory
                    snapshot is in use (the steady state; the time it took is printed)
- ready call:       plugin.call on an instance prepared ahead with nothing else running,
                    against libextism's export call alone: nd-notebook's call path
- floor:            libextism alone on the snapshot module (create, reseed with the touch
                    list of runtime/pagetouch.py, call, free; no Python engine, no
                    nd-notebook call path), on one and on two threads: the fastest any
                    fresh-instance call can be on this machine, as a ratio to the bare call
                    rate and as the least wall time of the virtual run
- floor, 4 threads: four threads that each make (one C helper call), call and free instances
                    of the snapshot module, then also each attempt's SQLite transaction as
                    the task queue runs it: the ceiling of 4 workers with nothing else of
                    nd-notebook (no events, capture, JSON or call path)
- virtual time:     simulated seconds per wall second for 10,000 tasks with retries (a third
                    fail twice, backoff 1 s, 4 workers, each call modelled as 0.5 s), with a
                    Python stand-in for the plugin (the service's own cost) and with the real
                    Go plugin (each attempt then costs one real plugin call)

The real-time runs come in rounds (``--rounds``, 3): bare, then 1 and 4 workers, then bare
again; each round's ratios are against the mean of the bare rates just before and after it, and
the median round is printed, since the runs share the machine with everything else.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
from pathlib import Path

# Imported now: Host() would import it on a background thread during the first measurement
# (manifest.prefetch_schema_support).
import jsonschema  # noqa: F401

from nd_notebook import Host, build
from nd_notebook.clock import VirtualClock
from nd_notebook.context import PluginContext, PluginSettings
from nd_notebook.errors import PluginCallFailedError
from nd_notebook.events import EventLog
from nd_notebook.services.taskqueue import TaskQueueService

GO_SOURCE = r'''
package main

import (
	"fmt"
	"strings"

	"github.com/navidrome/navidrome/plugins/pdk/go/host"
	"github.com/navidrome/navidrome/plugins/pdk/go/lifecycle"
	"github.com/navidrome/navidrome/plugins/pdk/go/taskworker"
)

type worker struct{}

func init() {
	lifecycle.Register(worker{})
	taskworker.Register(worker{})
}

func main() {}

func (worker) OnInit() error {
	if err := host.TaskCreateQueue("c1", host.QueueConfig{Concurrency: 1}); err != nil {
		return err
	}
	return host.TaskCreateQueue("c4", host.QueueConfig{Concurrency: 4, MaxRetries: 3, BackoffMs: 1000})
}

// "fail" payloads fail their first two attempts.
func (worker) OnTaskExecute(req taskworker.TaskExecuteRequest) (string, error) {
	if strings.HasPrefix(string(req.Payload), "fail") && req.Attempt < 3 {
		return "", fmt.Errorf("attempt %d failed", req.Attempt)
	}
	return "ok", nil
}
'''

MANIFEST = {"name": "bench", "author": "bench", "version": "1",
            "permissions": {"taskqueue": {"maxConcurrency": 5}}}
CALL_SECONDS = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per real-time run")
    parser.add_argument("--virtual-tasks", type=int, default=10_000)
    parser.add_argument("--plugin-virtual-tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="bare / 1 worker / 4 workers rounds, each ratio against the bare "
                             "rates measured just before and after it")
    args = parser.parse_args()
    wasm = build(GO_SOURCE)

    with tempfile.TemporaryDirectory(prefix="bench-taskqueue-") as tmp:
        bares = [bare_call_rate(Path(tmp) / "bare0", wasm, args.tasks)]
        ratios: dict[str, list[float]] = {"c1": [], "c4": []}
        for r in range(args.rounds):
            rates = {q: real_time_rate(Path(tmp) / f"{q}-{r}", wasm, q, args.tasks)
                     for q in ("c1", "c4")}
            bares.append(bare_call_rate(Path(tmp) / f"bare{r + 1}", wasm, args.tasks))
            for queue, rate in rates.items():
                ratios[queue].append(rate / ((bares[-2] + bares[-1]) / 2))
        floor = instance_floor(Path(tmp) / "floor", wasm, args.tasks)
        bare_4, sql_4 = attempt_floor(Path(tmp) / "attempts", wasm, 2 * args.tasks)
        ready_ms, export_ms = ready_call_cost(Path(tmp) / "ready", wasm)
        bare = statistics.median(bares)
        print(f"bare call               {bare:9.1f} calls/s  (median of {len(bares)}: "
              f"{', '.join(f'{b:.0f}' for b in bares)})")
        for queue, label in (("c1", "1 worker "), ("c4", "4 workers")):
            rounds = ratios[queue]
            print(f"real time, {label}    ratio {statistics.median(rounds):5.2f} (median of "
                  f"{len(rounds)} rounds: {', '.join(f'{x:.2f}' for x in rounds)})")
        for label, folder, n, fn in (
                ("Python plugin", "stub", args.virtual_tasks, virtual_speed_stub),
                ("Go plugin    ", "vplugin", args.plugin_virtual_tasks,
                 lambda f, k: virtual_speed_plugin(f, wasm, k))):
            speed, wall, span, attempts = fn(Path(tmp) / folder, n)
            print(f"virtual, {label}  {n} tasks, {attempts} attempts: {span:7.0f} simulated s in "
                  f"{wall:6.2f} s wall = {speed:8.0f} simulated s per wall s "
                  f"({attempts / wall:6.0f} attempts/s)")
        per_instance, rate_1, rate_2, kernel_1, kernel_2 = floor
        attempts = args.plugin_virtual_tasks + 2 * ((args.plugin_virtual_tasks + 2) // 3)
        print(f"floor: libextism alone creates, reseeds, calls and frees an instance of the "
              f"snapshot module in {per_instance:.3f} ms: {rate_1:.0f} calls/s on one thread "
              f"(ratio {rate_1 / bare:.2f}), {rate_2:.0f} calls/s on two (ratio "
              f"{rate_2 / bare:.2f}); {attempts} attempts need at least "
              f"{attempts / max(rate_1, rate_2):.1f} s; kernel CPU per call {kernel_1:.3f} ms "
              f"on one thread, {kernel_2:.3f} ms on two")
        print(f"floor, 4 threads: libextism alone (create and reseed in one helper call, call, "
              f"free) {bare_4:.0f} calls/s (ratio {bare_4 / bare:.2f}); with each attempt's "
              f"SQLite transaction as the task queue runs it {sql_4:.0f}/s (ratio "
              f"{sql_4 / bare:.2f}): the most 4 workers could reach with no events, no "
              f"output capture, no JSON and no call path")
        print(f"on an instance prepared ahead, nothing else running: plugin.call {ready_ms:.3f} ms, "
              f"the export alone in libextism {export_ms:.3f} ms: nd-notebook's call path "
              f"{ready_ms - export_ms:.3f} ms")
        for state, seconds in _warmups:
            print(f"warm-up before a Go run: memory snapshot {state!r} after {seconds:.2f} s")
        print("targets: real time, 4 workers / bare call >= 2; virtual Go plugin <= 10 s wall")


def bare_call_rate(folder: Path, wasm: bytes, n: int) -> float:
    """Plugin calls per second of the same export, one after the other, no instance ahead."""
    with Host(folder, clock="real", snapshots=False) as host:
        plugin = host.load(wasm, manifest=MANIFEST, name="bench")
        request = {"queueName": "c1", "taskId": "x" * 22, "payload": "", "attempt": 1}
        for _ in range(20):  # warm up
            plugin.call("nd_task_execute", request)
        started = time.perf_counter()
        for _ in range(n):
            plugin.call("nd_task_execute", request)
        return n / (time.perf_counter() - started)


def warmed(host: Host, wasm: bytes):
    """The plugin loaded, called until its memory snapshot is in use (runtime/snapshot.py;
    taken in the background after a few calls): the steady state a queue runs in."""
    plugin = host.load(wasm, manifest=MANIFEST, name="bench")
    request = {"queueName": "c1", "taskId": "x" * 22, "payload": "", "attempt": 1}
    started = time.perf_counter()
    for _ in range(8):
        plugin.call("nd_task_execute", request)
    plugin.instances.snapshot_ready.wait(120)
    _warmups.append((plugin.instances.snapshot, time.perf_counter() - started))
    return plugin


_warmups: list[tuple[str, float]] = []


def instance_floor(folder: Path, wasm: bytes, n: int) -> tuple[float, float, float, float,
                                                                float]:
    """What libextism alone needs per call once the snapshot is in use, no Python engine, no
    nd-notebook call path: (median ms per create + reseed + call + free, calls/s on one
    thread, calls/s on two threads at once, and the kernel's CPU ms per call in each case:
    mapping and unmapping an instance's memory). No fresh-instance call can go faster."""
    import resource
    import statistics
    import threading

    def kernel_seconds() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_stime

    from extism_sys import ffi, lib

    from nd_notebook.runtime.prepared import _create

    request = (b'{"queueName":"c1","taskId":"xxxxxxxxxxxxxxxxxxxxxx","payload":"",'
               b'"attempt":1}')
    with Host(folder, clock="real") as host:
        plugin = warmed(host, wasm)
        lane = plugin.instances._lanes[0]  # the snapshot module's compiled plugin
        for _ in range(40):  # the touch list is learnt from the calls (runtime/pagetouch.py)
            plugin.call("nd_task_execute", {"queueName": "c1", "taskId": "x" * 22,
                                            "payload": "", "attempt": 1})
        touch = plugin.instances.touch.input if plugin.instances.touch else b""

        def one() -> float:
            started = time.perf_counter()
            ptr = _create(lane.compiled)
            if lane.init_export:
                lib.extism_plugin_call_with_host_context(ptr, lane.init_export.encode(), touch,
                                                         len(touch), ffi.NULL)
            lib.extism_plugin_call_with_host_context(ptr, b"nd_task_execute", request,
                                                     len(request), ffi.NULL)
            lib.extism_plugin_free(ptr)
            return time.perf_counter() - started

        kernel = kernel_seconds()
        times = [one() for _ in range(n)]
        kernel_1 = (kernel_seconds() - kernel) / n * 1000
        kernel = kernel_seconds()
        started = time.perf_counter()
        threads = [threading.Thread(target=lambda: [one() for _ in range(n // 2)])
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        both = 2 * (n // 2) / (time.perf_counter() - started)
        kernel_2 = (kernel_seconds() - kernel) / (2 * (n // 2)) * 1000
        return statistics.median(times) * 1000, n / sum(times), both, kernel_1, kernel_2


def attempt_floor(folder: Path, wasm: bytes, n: int) -> tuple[float, float]:
    """(calls/s, attempts/s) on 4 threads at once: each makes a snapshot instance as a call
    finding none ready does (runtime/native.py's create and reseed in one call), calls the
    export and frees the instance; for the attempts/s each then records its result and
    dequeues the next task in the task queue's own transaction (a TaskQueueService whose
    workers never run). Nothing else of nd-notebook runs: no events of the call, no log or
    stdout capture, no JSON, no call slots."""
    import threading

    from nd_notebook.runtime import native
    from nd_notebook.runtime.prepared import RESEED_EXPORT

    request = (b'{"queueName":"c1","taskId":"xxxxxxxxxxxxxxxxxxxxxx","payload":"",'
               b'"attempt":1}')
    clock = VirtualClock()  # never run: the service's own workers stay idle
    ctx = PluginContext(plugin_id="bench", data_dir=folder / "data",
                        permissions={"taskqueue": {"maxConcurrency": 4}}, config={},
                        settings=PluginSettings(), clock=clock, events=EventLog(clock.now),
                        call_export=lambda export, request: "ok",
                        has_export=lambda name: True)
    service = TaskQueueService(ctx)
    service.create_queue("q", {"concurrency": 1})
    for _ in range(n + 8):
        service.enqueue("q", b"")
    queue = service._queues["q"]
    record = "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?"
    try:
        with Host(folder / "host", clock="real") as host:
            plugin = warmed(host, wasm)
            lane = plugin.instances._lanes[0]
            for _ in range(40):  # its touch list (runtime/pagetouch.py)
                plugin.call("nd_task_execute", {"queueName": "c1", "taskId": "x" * 22,
                                                "payload": "", "attempt": 1})
            touch = plugin.instances.touch.input if plugin.instances.touch else b""
            if native.helper() is None:
                raise SystemExit(f"the C helper is needed: {native.status}")

            def worker(count: int, sql: bool) -> None:
                task = service._dequeue(queue) if sql else None
                for _ in range(count):
                    ptr, _id, _rc = native.prepare(lane.compiled, RESEED_EXPORT, touch)
                    native.call(ptr, b"nd_task_execute", request, 1 << 20)
                    native.free_all([ptr])
                    if sql:
                        task = service._record_and_dequeue(
                            queue, "Failed to mark task as completed", record,
                            ("completed", "ok", clock.now_ms(), task.id))

            def rate(sql: bool) -> float:
                count = n // 4 - (1 if sql else 0)
                threads = [threading.Thread(target=worker, args=(count, sql)) for _ in range(4)]
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                return 4 * count / (time.perf_counter() - started)

            return rate(False), rate(True)
    finally:
        service.close()


def ready_call_cost(folder: Path, wasm: bytes, n: int = 200) -> tuple[float, float]:
    """(ms per ``plugin.call`` of the task export on an instance already prepared, ms per
    libextism export call alone on such instances): nd-notebook's call path is the difference.
    The instances are made first (as the pool thread makes them) and handed to the calls in
    place of the pool's, so nothing runs beside the calls."""
    import contextlib
    import gc

    from extism_sys import ffi, lib

    from nd_notebook.runtime import native, prepared

    request = {"queueName": "c1", "taskId": "x" * 22, "payload": "", "attempt": 1}
    raw = b'{"queueName":"c1","taskId":"xxxxxxxxxxxxxxxxxxxxxx","payload":"","attempt":1}'
    with Host(folder, clock="virtual") as host:
        plugin = warmed(host, wasm)
        pool = plugin.instances
        for _ in range(20):  # the touch list learnt
            plugin.call("nd_task_execute", request)
        compiled = pool._lanes[0].compiled
        given = pool.touch.input if pool.touch is not None else b""
        made = [native.prepare(compiled, prepared.RESEED_EXPORT, given) for _ in range(2 * n)]
        instances = [prepared.Instance(ptr, None, id=id_) for ptr, id_, _ in made]
        handed = iter(instances[:n])

        @contextlib.contextmanager
        def take():
            yield next(handed)

        pool.take = take
        gc.collect()
        time.sleep(0.2)
        started = time.perf_counter()
        for _ in range(n):
            plugin.call("nd_task_execute", request, raw=True)
        ours = (time.perf_counter() - started) / n
        started = time.perf_counter()
        for instance in instances[n:]:
            lib.extism_plugin_call_with_host_context(instance.ptr, b"nd_task_execute", raw,
                                                     len(raw), ffi.NULL)
        alone = (time.perf_counter() - started) / n
        native.free_all([instance.ptr for instance in instances])
    return ours * 1000, alone * 1000


def real_time_rate(folder: Path, wasm: bytes, queue: str, n: int) -> float:
    """Tasks per second from the first enqueue until every task is completed."""
    with Host(folder, clock="real") as host:
        plugin = warmed(host, wasm)
        started = time.perf_counter()
        for _ in range(n):
            plugin.tasks.enqueue(queue, b"")
        if not host.run_until_idle(max_seconds=600):
            raise SystemExit("real-time run did not finish within 600 s")
        elapsed = time.perf_counter() - started
        done = len(plugin.tasks.tasks(status="completed"))
        if done != n:
            raise SystemExit(f"only {done}/{n} tasks completed")
        return n / elapsed


def virtual_speed_plugin(folder: Path, wasm: bytes, n: int) -> tuple[float, float, float, int]:
    with Host(folder, clock="virtual") as host:
        host.clock.call_duration = CALL_SECONDS
        plugin = warmed(host, wasm)
        for i in range(n):
            plugin.tasks.enqueue("c4", b"fail" if i % 3 == 0 else b"ok")
        return (*_timed_idle(host.clock), len(host.events.select("task_attempt_started")))


def virtual_speed_stub(folder: Path, n: int) -> tuple[float, float, float, int]:
    """The same workload with a Python function standing in for the plugin."""
    clock = VirtualClock(call_duration=CALL_SECONDS)

    def call_export(export, request):
        if base64.b64decode(request["payload"]) == b"fail" and request["attempt"] < 3:
            raise PluginCallFailedError(f"plugin call failed: attempt {request['attempt']} failed")
        return "ok"

    ctx = PluginContext(plugin_id="bench", data_dir=folder,
                        permissions={"taskqueue": {"maxConcurrency": 4}}, config={},
                        settings=PluginSettings(), clock=clock, events=EventLog(clock.now),
                        call_export=call_export, has_export=lambda name: True)
    service = TaskQueueService(ctx)
    service.create_queue("c4", {"concurrency": 4, "maxRetries": 3, "backoffMs": 1000})
    for i in range(n):
        service.enqueue("c4", b"fail" if i % 3 == 0 else b"ok")
    try:
        return (*_timed_idle(clock), len(ctx.events.select("task_attempt_started")))
    finally:
        service.close()


def _timed_idle(clock) -> tuple[float, float, float]:
    start = clock.now()
    started = time.perf_counter()
    if not clock.run_until_idle():
        raise SystemExit("virtual run did not become idle")
    wall = time.perf_counter() - started
    span = clock.now() - start
    return span / wall, wall, span


if __name__ == "__main__":
    main()
