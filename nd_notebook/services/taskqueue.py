"""TaskQueue host service: Navidrome's persistent per-plugin task queues (spec section 4).

One ``TaskQueueService`` per loaded plugin with the ``taskqueue`` permission, over the SQLite
file ``<data_dir>/taskqueue.db`` (same schema, same statements, same error texts as Navidrome).
Queues live in memory per service instance: the plugin re-creates them after every load, which
also recovers tasks left ``running`` by a crash.

Each queue runs ``concurrency`` workers. A worker is one generator (``_worker``) that both
clocks drive: in real time each worker is a thread that blocks where Navidrome's goroutine
blocks; in virtual time the same generator is resumed by clock events, and a plugin call runs
at the start of its attempt while the attempt completes ``clock.call_duration`` later, so
concurrency, rate-limit spacing and backoff land on deterministic virtual times.

Python use (what plugins reach through ``task_*`` host functions)::

    tq.create_queue("jobs", {"concurrency": 2, "maxRetries": 3, "backoffMs": 500})
    task_id = tq.enqueue("jobs", b"payload")
    tq.get(task_id)  # {"status": "pending", "message": "", "attempt": 0}
"""

from __future__ import annotations

import base64
import collections
import contextlib
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .. import events
from ..errors import PluginCallError, ServiceError
from ..gojson import go_quote
from ._sqlite import open_db, plugin_data_dir

DEFAULT_CONCURRENCY = 1
DEFAULT_BACKOFF_MS = 1000
DEFAULT_RETENTION_MS = 3_600_000
MIN_RETENTION_MS = 60_000
MAX_RETENTION_MS = 604_800_000
MAX_QUEUE_NAME_LENGTH = 128
MAX_PAYLOAD_SIZE = 1024 * 1024
MAX_BACKOFF_MS = 3_600_000
CLEANUP_INTERVAL = 300.0  # seconds
POLL_INTERVAL = 5.0
_RECANCEL_SECONDS = 0.05  # how often close() cancels a worker's call again while it runs
_POLL_NS = 5_000_000_000
_CLEANUP_NS = 300_000_000_000
_ID_DRAWS = 16  # new ids tried when one is already stored
_ID_TAKEN = "UNIQUE constraint failed: tasks.id"
SHUTDOWN_TIMEOUT = 10.0

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "pending", "running", "completed", "failed", "cancelled")
STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)

EXPORT = "nd_task_execute"

MIGRATIONS = (
    """CREATE TABLE IF NOT EXISTS queues (
        name TEXT PRIMARY KEY,
        concurrency INTEGER NOT NULL DEFAULT 1,
        max_retries INTEGER NOT NULL DEFAULT 0,
        backoff_ms INTEGER NOT NULL DEFAULT 1000,
        delay_ms INTEGER NOT NULL DEFAULT 0,
        retention_ms INTEGER NOT NULL DEFAULT 3600000
    )""",
    """CREATE TABLE IF NOT EXISTS tasks (
        id TEXT PRIMARY KEY,
        queue_name TEXT NOT NULL REFERENCES queues(name),
        payload BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempt INTEGER NOT NULL DEFAULT 0,
        max_retries INTEGER NOT NULL,
        next_run_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        message TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS idx_tasks_dequeue ON tasks(queue_name, status, next_run_at)",
)

_CONFIG_KEYS = {"concurrency": "concurrency", "maxRetries": "max_retries",
                "max_retries": "max_retries", "backoffMs": "backoff_ms",
                "backoff_ms": "backoff_ms", "delayMs": "delay_ms", "delay_ms": "delay_ms",
                "retentionMs": "retention_ms", "retention_ms": "retention_ms"}


class TaskQueueService:
    """Navidrome's ``TaskService`` for one plugin (``maxConcurrency`` from its manifest)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.clock = ctx.clock
        options = ctx.permission("taskqueue") or {}
        max_concurrency = options.get("maxConcurrency")
        self.max_concurrency = 1 if max_concurrency is None else int(max_concurrency)
        data_dir = plugin_data_dir(ctx.data_dir)
        self.path = data_dir / "taskqueue.db"
        try:
            self._db: sqlite3.Connection | None = open_db(self.path, MIGRATIONS)
        except ServiceError as e:
            raise ServiceError(f"creating taskqueue schema: {e}") from None
        # mattn/go-sqlite3's default: durable across a process crash, not across power loss.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db_lock = threading.RLock()
        # Navidrome dequeues by (next_run_at, created_at). While no stored task was created
        # after this clock's now (always so for a fresh database or a clock that moved on),
        # created_at grows with rowid, and (next_run_at, rowid) picks the same task straight
        # from idx_tasks_dequeue instead of sorting every tie (a bulk enqueue shares one ms).
        # A clock behind the stored rows (a virtual clock restarted on an old data folder)
        # gets Navidrome's order as written.
        newest = self._db.execute("SELECT MAX(created_at) FROM tasks").fetchone()[0]
        self._tie_order = ("rowid" if newest is None or newest <= self.clock.now_ms()
                           else "created_at, rowid")
        self._lock = threading.RLock()
        self._queues: dict[str, _Queue] = {}
        self._closed = False
        self._unloading = False  # the plugin is being unloaded: a failed call is an interrupted one
        self._stopped = threading.Event()  # Navidrome's cancelled service context
        self._timers: set = set()
        self._threads: list[threading.Thread] = []
        self._cleanup_ns = self.clock.now_ns() + _CLEANUP_NS  # a ticker from creation
        self._cleanup_timer = self.clock.call_at_ns(self._cleanup_ns, self._cleanup_tick,
                                                    label=self._label("cleanup"), daemon=True)
        self._unregister_busy = self.clock.add_busy_check(self.has_pending_work)

    # -- the five host functions -----------------------------------------------------------
    def create_queue(self, name: str, config: dict[str, Any] | None = None, **options) -> None:
        """``CreateQueue``: register a queue in this instance and start its workers.

        ``config`` uses the JSON keys (``concurrency``, ``maxRetries``, ``backoffMs``,
        ``delayMs``, ``retentionMs``; missing = 0); keyword options may use snake_case.
        """
        cfg = QueueConfig.from_request(config, options)
        if len(name) == 0:
            raise ServiceError("queue name cannot be empty")
        if len(name.encode("utf-8")) > MAX_QUEUE_NAME_LENGTH:
            raise ServiceError(
                f"queue name exceeds maximum length of {MAX_QUEUE_NAME_LENGTH} bytes")
        requested = cfg.concurrency
        self._apply_defaults(name, cfg)
        with self._lock:
            allocated = sum(q.config.concurrency for q in self._queues.values())
            available = self.max_concurrency - allocated
            if available <= 0:
                self._log("warn", "TaskQueue concurrency budget exhausted", queue=name,
                          allocated=allocated, max_concurrency=self.max_concurrency)
                raise ServiceError(f"concurrency budget exhausted "
                                   f"({allocated}/{self.max_concurrency} allocated)")
            if cfg.concurrency > available:
                self._log("warn", "TaskQueue concurrency clamped", queue=name,
                          requested=cfg.concurrency, available=available,
                          max_concurrency=self.max_concurrency)
                cfg.concurrency = available
            if name in self._queues:
                raise ServiceError(f"queue {go_quote(name)} already exists")
            self._sql("creating queue", """
                INSERT INTO queues (name, concurrency, max_retries, backoff_ms, delay_ms,
                                    retention_ms)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET
                    concurrency = excluded.concurrency,
                    max_retries = excluded.max_retries,
                    backoff_ms = excluded.backoff_ms,
                    delay_ms = excluded.delay_ms,
                    retention_ms = excluded.retention_ms
            """, (name, cfg.concurrency, cfg.max_retries, cfg.backoff_ms, cfg.delay_ms,
                  cfg.retention_ms))
            recovered = self._sql("resetting stale tasks", """
                UPDATE tasks SET status = ?, updated_at = ? WHERE queue_name = ? AND status = ?
                RETURNING id, attempt
            """, (PENDING, self.clock.now_ms(), name, RUNNING), fetch="all")
            # rate.Every of a duration <= 0 (delayMs 0, or so large that Go's int64
            # nanoseconds wrap) is rate.Inf: no limit.
            limited = go_duration_ms(cfg.delay_ms) > 0
            queue = _Queue(name, cfg, _Limiter(cfg.delay_ms) if limited else None)
            self._queues[name] = queue
            self.ctx.emit(events.QUEUE_CREATED, queue=name, concurrency=cfg.concurrency,
                          requested_concurrency=requested, max_retries=cfg.max_retries,
                          backoff_ms=cfg.backoff_ms, delay_ms=cfg.delay_ms,
                          retention_ms=cfg.retention_ms, recovered=len(recovered))
            for task_id, attempt in recovered:
                self.ctx.emit(events.TASK_REVERTED, queue=name, task_id=task_id, attempt=attempt,
                              reason="crash recovery")
            for index in range(cfg.concurrency):
                self._start_worker(_Worker(queue, index))

    def enqueue(self, queue_name: str, payload: bytes | str | None = b"") -> str:
        """``Enqueue``: store a pending task and wake the queue's workers; returns its id.

        ``None`` is Go's nil slice, which Navidrome stores as SQL NULL and so refuses.
        """
        with self._lock:
            queue = self._queues.get(queue_name)
        if queue is None:
            raise ServiceError(f"queue {go_quote(queue_name)} does not exist")
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        elif payload is not None:
            payload = bytes(payload)
        if payload is not None and len(payload) > MAX_PAYLOAD_SIZE:
            raise ServiceError(f"payload size {len(payload)} exceeds maximum of "
                               f"{MAX_PAYLOAD_SIZE} bytes")
        now = self.clock.now_ms()
        for draw in range(_ID_DRAWS):
            task_id = self.clock.new_id()
            try:
                self._sql("enqueuing task", """
                    INSERT INTO tasks (id, queue_name, payload, status, attempt, max_retries,
                                       next_run_at, created_at, updated_at)
                    VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)
                """, (task_id, queue_name, payload, PENDING, queue.config.max_retries, now, now,
                      now))
                break
            except ServiceError as e:
                # A seeded virtual clock draws the ids of an earlier session on the same data
                # folder again; Navidrome's random ids never meet. Draw another.
                if draw == _ID_DRAWS - 1 or not str(e).endswith(_ID_TAKEN):
                    raise
        self.ctx.emit(events.TASK_ENQUEUED, queue=queue_name, task_id=task_id, attempt=0,
                      payload_size=len(payload or b""))
        self._notify(queue)
        return task_id

    def get(self, task_id: str) -> dict[str, Any]:
        """``Get``: ``{"status", "message", "attempt"}`` of any task in the database."""
        row = self._sql("getting task info",
                        "SELECT status, message, attempt FROM tasks WHERE id = ?", (task_id,),
                        fetch="one")
        if row is None:
            raise ServiceError(f"task {go_quote(task_id)} not found")
        return {"status": row[0], "message": row[1], "attempt": row[2]}

    def cancel(self, task_id: str) -> None:
        """``Cancel``: only a ``pending`` task (waiting backoff included) can be cancelled."""
        rows = self._sql("cancelling task", """
            UPDATE tasks SET status = ?, updated_at = ? WHERE id = ? AND status = ?
            RETURNING queue_name, attempt
        """, (CANCELLED, self.clock.now_ms(), task_id, PENDING), fetch="all")
        if not rows:
            row = self._sql("checking task existence", "SELECT status FROM tasks WHERE id = ?",
                            (task_id,), fetch="one")
            if row is None:
                raise ServiceError(f"task {go_quote(task_id)} not found")
            raise ServiceError(f"task {go_quote(task_id)} cannot be cancelled "
                               f"(status: {row[0]})")
        self.ctx.emit(events.TASK_CANCELLED, queue=rows[0][0], task_id=task_id,
                      attempt=rows[0][1], via="cancel")

    def clear_queue(self, queue_name: str) -> int:
        """``ClearQueue``: cancel every pending task of the queue; returns how many."""
        with self._lock:
            exists = queue_name in self._queues
        if not exists:
            raise ServiceError(f"queue {go_quote(queue_name)} does not exist")
        rows = self._sql("clearing queue", """
            UPDATE tasks SET status = ?, updated_at = ? WHERE queue_name = ? AND status = ?
            RETURNING id, attempt
        """, (CANCELLED, self.clock.now_ms(), queue_name, PENDING), fetch="all")
        for task_id, attempt in rows:
            self.ctx.emit(events.TASK_CANCELLED, queue=queue_name, task_id=task_id,
                          attempt=attempt, via="clear_queue")
        return len(rows)

    def unloading(self) -> None:
        """The Host is about to refuse the plugin's calls (``Host.unload``): a worker whose call
        fails from now on was interrupted, and its task goes back, attempt not counted."""
        self._unloading = True

    def close(self) -> None:
        """Stop workers (waiting up to 10 s), revert running tasks to pending, close the DB.

        Every operation afterwards fails (``...: sql: database is closed``), as in Navidrome.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stopped.set()
            workers = [w for q in self._queues.values() for w in q.workers]
            timers = list(self._timers)
            self._timers.clear()
        self.clock.cancel(self._cleanup_timer)
        for handle in timers:
            self.clock.cancel(handle)
        if self.clock.is_virtual:
            for worker in workers:
                self._v_stop(worker)
        else:
            for queue in list(self._queues.values()):
                with queue.cond:
                    for worker in queue.workers:
                        worker.cond.notify()
            current = threading.current_thread()
            for thread in self._threads:  # a running call dies; its task goes back to pending
                if thread is not current:
                    self.ctx.cancel_thread(thread)
            deadline = time.monotonic() + SHUTDOWN_TIMEOUT
            for thread in self._threads:
                # libextism drops a cancel that reaches an instance before its call has started
                # (a worker between its dequeue and its call): cancelled again until it ends.
                while thread is not current and thread.is_alive():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    thread.join(min(left, _RECANCEL_SECONDS))
                    self.ctx.cancel_thread(thread)
            if any(t.is_alive() and t is not current for t in self._threads):
                self._log("warn", "TaskQueue shutdown timed out")
        try:
            rows = self._sql("resetting running tasks", """
                UPDATE tasks SET status = ?, updated_at = ? WHERE status = ?
                RETURNING id, queue_name, attempt
            """, (PENDING, self.clock.now_ms(), RUNNING), fetch="all")
        except ServiceError as e:
            self._log("error", "Failed to reset running tasks on shutdown", error=str(e))
            rows = []
        for task_id, queue_name, attempt in rows:
            self.ctx.emit(events.TASK_REVERTED, queue=queue_name, task_id=task_id,
                          attempt=attempt, reason="close")
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        self._unregister_busy()

    # -- read helpers for notebooks --------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def list_queues(self) -> list[dict[str, Any]]:
        """The queues created in this instance, with their effective (clamped) config."""
        with self._lock:
            queues = list(self._queues.values())
        return [{"name": q.name, **q.config.as_dict(),
                 "workers": [w.state for w in q.workers]} for q in queues]

    def tasks(self, queue_name: str | None = None, status: str | None = None) -> list[dict]:
        """Every task row (all queues unless ``queue_name``), oldest first; times in Unix ms."""
        sql = ("SELECT id, queue_name, status, attempt, max_retries, message, next_run_at, "
               "created_at, updated_at, payload FROM tasks")
        where, params = [], []
        if queue_name is not None:
            where.append("queue_name = ?")
            params.append(queue_name)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._sql("listing tasks", sql + " ORDER BY created_at, rowid", params,
                         fetch="all")
        keys = ("task_id", "queue", "status", "attempt", "max_retries", "message", "next_run_at",
                "created_at", "updated_at", "payload")
        return [dict(zip(keys, row)) for row in rows]

    def has_pending_work(self) -> bool:
        """True while a queue of this instance has a pending or running task."""
        with self._lock:
            if self._closed or not self._queues:
                return False
            names = list(self._queues)
        marks = ",".join("?" * len(names))
        try:
            row = self._sql("checking pending work",
                            f"SELECT 1 FROM tasks WHERE queue_name IN ({marks}) "
                            "AND status IN ('pending', 'running') LIMIT 1", names, fetch="one")
        except ServiceError:
            return False
        return row is not None

    # -- the worker (one goroutine of Navidrome's, as a generator both clocks drive) --------
    def _worker(self, worker: _Worker):
        """Navidrome's ``worker``: drain at start, then drain on every wake-up or 5 s tick."""
        if not (yield from self._drain(worker)):
            return
        worker.next_tick_ns = self.clock.now_ns() + _POLL_NS
        while True:
            why = yield (_WAIT,)
            if why is _STOP:
                return
            if not (yield from self._drain(worker)):
                return

    def _drain(self, worker: _Worker):
        """Process ready tasks until there are none; False once the service is stopping."""
        queue = worker.queue
        if self._closed:
            return False
        task = self._dequeue(queue)
        while task is not None:
            if self._closed:  # stopping: the task dequeued with the last result goes back
                self._revert(task, "interrupted")
                return False
            worker.task = task
            waited = 0.0
            if queue.limiter is not None:
                # After the dequeue: the task already shows "running" while it waits a token.
                waited = queue.limiter.reserve(self.clock.now_ns()) / 1e9
                if waited > 0 and (yield (_SLEEP, waited)) is _STOP:
                    self._revert(task, "interrupted")
                    worker.task = None
                    return False
            task.limiter_wait = waited
            outcome = yield (_CALL, task)
            worker.task = None
            if outcome is _STOP or self._closed or self._unloading:
                self._revert(task, "interrupted")
                return False
            task = self._finish(queue, task, outcome)
        return not self._closed

    def _dequeue(self, queue: _Queue) -> _Task | None:
        now = self.clock.now_ms()
        try:
            row = self._sql("dequeuing task", f"""
                UPDATE tasks SET status = ?, attempt = attempt + 1, updated_at = ?
                WHERE id = (
                    SELECT id FROM tasks
                    WHERE queue_name = ? AND status = ? AND next_run_at <= ?
                    ORDER BY next_run_at, {self._tie_order} LIMIT 1
                )
                RETURNING id, payload, attempt, max_retries
            """, (RUNNING, now, queue.name, PENDING, now), fetch="one")
        except ServiceError as e:
            self._log("error", "Failed to dequeue task", queue=queue.name, error=str(e))
            return None
        if row is None:
            return None
        return _Task(row[0], queue.name, row[1], row[2], row[3])

    def _execute(self, worker: _Worker, task: _Task) -> _Outcome:
        """Call ``nd_task_execute`` (fresh instance) and classify the result."""
        payload = base64.b64encode(task.payload or b"").decode("ascii")
        request = {"queueName": task.queue, "taskId": task.id, "payload": payload,
                   "attempt": task.attempt}
        self.ctx.emit(events.TASK_ATTEMPT_STARTED, queue=task.queue, task_id=task.id,
                      attempt=task.attempt, worker=worker.index,
                      limiter_wait=task.limiter_wait)
        started = time.perf_counter()
        try:
            output = self.ctx.call_export(EXPORT, request)
        except PluginCallError as e:
            return _Outcome(False, "", str(e), time.perf_counter() - started, request)
        except Exception as e:  # noqa: BLE001 - any failure is a failed attempt, never a crash
            return _Outcome(False, "", str(e) or type(e).__name__, time.perf_counter() - started,
                            request)
        wall = time.perf_counter() - started
        if output is None:
            return _Outcome(True, "", None, wall, request)
        if isinstance(output, bytes):
            output = output.decode("utf-8", "replace")
        if not isinstance(output, str):  # Navidrome decodes the output into a Go string
            return _Outcome(False, "", f"json: cannot unmarshal {_json_kind(output)} into Go "
                            "value of type string", wall, request)
        return _Outcome(True, output, None, wall, request)

    def _finish(self, queue: _Queue, task: _Task, outcome: _Outcome) -> _Task | None:
        """Record an attempt's result (completed, failed, or pending again after a backoff),
        then dequeue the queue's next ready task: both statements in one transaction, one
        commit and one hold of the database lock per attempt (Navidrome runs them one after
        the other; nobody can tell them apart). Returns that task, or None."""
        now = self.clock.now_ms()
        common = {"queue": task.queue, "task_id": task.id, "attempt": task.attempt}
        timing = {"duration": outcome.duration, "wall_duration": outcome.wall}
        sql = "UPDATE tasks SET status = ?, message = ?, updated_at = ? WHERE id = ?"
        message = outcome.message or outcome.error
        if outcome.ok:
            failure, params = "Failed to mark task as completed", (
                COMPLETED, outcome.message, now, task.id)
        elif task.attempt > task.max_retries:
            failure, params = "Failed to mark task as failed", (FAILED, message, now, task.id)
        else:
            backoff = backoff_ms(queue.config.backoff_ms, task.attempt)
            next_run_at = now + backoff
            failure = "Failed to reschedule task for retry"
            sql = "UPDATE tasks SET status = ?, next_run_at = ?, updated_at = ? WHERE id = ?"
            params = (PENDING, next_run_at, now, task.id)
        following = self._record_and_dequeue(queue, failure, sql, params)
        if outcome.ok:
            self.ctx.emit(events.TASK_ATTEMPT_FINISHED, **common, outcome=COMPLETED,
                          message=outcome.message, error=None, **timing)
            self.ctx.emit(events.TASK_COMPLETED, **common, message=outcome.message)
            return following
        self._log("warn", "Task execution failed", **common, max_retries=task.max_retries,
                  error=outcome.error)
        if task.attempt > task.max_retries:
            self.ctx.emit(events.TASK_ATTEMPT_FINISHED, **common, outcome=FAILED, message=message,
                          error=outcome.error, **timing)
            self.ctx.emit(events.TASK_FAILED, **common, message=message)
            self._log("warn", "Task failed after all retries", **common)
            return following
        self.ctx.emit(events.TASK_ATTEMPT_FINISHED, **common, outcome="retry", message=message,
                      error=outcome.error, **timing)
        self.ctx.emit(events.TASK_RETRY_SCHEDULED, **common, backoff_ms=backoff,
                      next_run_at=next_run_at / 1000)
        with self._lock:
            if not self._closed:
                holder: list = []
                handle = self.clock.call_later(backoff / 1000,
                                               partial(self._retry_wakeup, queue, holder),
                                               label=self._label(f"retry {task.id}"))
                holder.append(handle)
                self._timers.add(handle)
        return following

    def _record_and_dequeue(self, queue: _Queue, failure: str, sql: str,
                            params) -> _Task | None:
        """An attempt's UPDATE (``failure`` logged if it fails) and the next dequeue, in one
        transaction; without one (the database closed or busy) one after the other."""
        with self._db_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                began = True
            except (AttributeError, sqlite3.Error):  # closed (None) or busy: as two statements
                began = False
            try:
                self._sql_logged(failure, sql, params)
                following = None if self._closed else self._dequeue(queue)
                if began:
                    self._db.execute("COMMIT")
            except sqlite3.Error as e:  # the COMMIT failed: neither statement took effect
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                self._log("error", failure, error=str(e))
                return None
        return following

    def _retry_wakeup(self, queue: _Queue, holder: list) -> None:
        with self._lock:
            self._timers.discard(holder[0])
        self._notify(queue)

    def _revert(self, task: _Task, reason: str) -> None:
        """Put an interrupted task back to pending without counting the attempt."""
        try:
            rows = self._sql("reverting task", """
                UPDATE tasks SET status = ?, attempt = MAX(attempt - 1, 0), updated_at = ?
                WHERE id = ? AND status = ? RETURNING attempt
            """, (PENDING, self.clock.now_ms(), task.id, RUNNING), fetch="all")
        except ServiceError as e:
            self._log("error", "Failed to revert task to pending", task_id=task.id, error=str(e))
            return
        if rows:
            self.ctx.emit(events.TASK_REVERTED, queue=task.queue, task_id=task.id,
                          attempt=rows[0][0], reason=reason)

    # -- wake-ups: Navidrome's capacity-1 signal channel and each worker's 5 s ticker --------
    def _notify(self, queue: _Queue) -> None:
        """Non-blocking send on the queue's signal channel (a waiting worker takes it)."""
        with queue.cond:
            if queue.waiters:
                worker = queue.waiters.popleft()
                if self.clock.is_virtual:
                    self.clock.cancel(worker.handle)
                    worker.handle = self.clock.call_soon(
                        partial(self._v_advance, worker, _WAKE), label=worker.label)
                else:
                    worker.mail = _WAKE
                    worker.cond.notify()  # that worker only, as Go's channel hands it to one
            else:
                queue.signal = True

    def _take_wakeup(self, worker: _Worker, *, tick_fired: bool = False):
        """What a worker's ``select`` gets without blocking: stop, a signal, a due tick, or None."""
        queue = worker.queue
        if self._closed:
            return _STOP
        if queue.signal:
            queue.signal = False
            return _WAKE
        now = self.clock.now_ns()
        if tick_fired or now >= worker.next_tick_ns:
            # A busy worker finds one buffered tick; the ticks it missed were dropped.
            missed = max(0, now - worker.next_tick_ns) // _POLL_NS + 1
            worker.next_tick_ns += missed * _POLL_NS
            return _TICK
        return None

    # -- real time: one thread per worker ---------------------------------------------------
    def _start_worker(self, worker: _Worker) -> None:
        worker.gen = self._worker(worker)
        worker.queue.workers.append(worker)
        worker.label = self._label(f"{worker.queue.name}#{worker.index}")
        if self.clock.is_virtual:
            worker.handle = self.clock.call_soon(partial(self._v_advance, worker, None),
                                                 label=worker.label)
            return
        thread = threading.Thread(target=self._r_run, args=(worker,), daemon=True,
                                  name=f"nd-{worker.label}")
        self._threads.append(thread)
        thread.start()

    def _r_run(self, worker: _Worker) -> None:
        # Its plugin calls die when the service closes (Navidrome cancels the service context).
        with self.ctx.cancellable_thread():
            self._r_loop(worker)

    def _r_loop(self, worker: _Worker) -> None:
        value = None
        try:
            while True:
                try:
                    op = worker.gen.send(value)
                except StopIteration:
                    return
                if op[0] is _WAIT:
                    worker.state = "waiting"
                    value = self._r_wait(worker)
                elif op[0] is _SLEEP:
                    worker.state = "rate limited"
                    value = _STOP if self._stopped.wait(op[1]) else _OK
                else:
                    worker.state = "running"
                    outcome = self._execute(worker, op[1])
                    outcome.duration = outcome.wall
                    value = outcome
                worker.state = "draining"
        except Exception as e:  # noqa: BLE001 - report, never die silently
            self._log("error", "TaskQueue worker crashed", queue=worker.queue.name,
                      error=f"{type(e).__name__}: {e}")
        finally:
            worker.state = "stopped"

    def _r_wait(self, worker: _Worker):
        queue = worker.queue
        with queue.cond:
            value = self._take_wakeup(worker)
            if value is not None:
                return value
            worker.mail = None
            queue.waiters.append(worker)
            try:
                while worker.mail is None:
                    if self._closed:
                        return _STOP
                    remaining = (worker.next_tick_ns - self.clock.now_ns()) / 1e9
                    if remaining <= 0:
                        return self._take_wakeup(worker, tick_fired=True)
                    worker.cond.wait(remaining)
                return worker.mail
            finally:
                if worker in queue.waiters:
                    queue.waiters.remove(worker)
                worker.mail = None

    # -- virtual time: the generator resumed by clock events --------------------------------
    def _v_advance(self, worker: _Worker, value) -> None:
        """Run worker's generator until it blocks on the clock, and schedule its resumption."""
        worker.handle = None
        queue = worker.queue
        while True:
            worker.state = "draining"
            try:
                op = worker.gen.send(value)
            except StopIteration:
                worker.state = "stopped"
                return
            if op[0] is _WAIT:
                with queue.cond:
                    value = self._take_wakeup(worker)
                    if value is None:
                        worker.state = "waiting"
                        queue.waiters.append(worker)
                        worker.handle = self.clock.call_at_ns(
                            worker.next_tick_ns, partial(self._v_tick, worker),
                            label=worker.label, daemon=True)
                        return
                continue
            if op[0] is _SLEEP:
                worker.state = "rate limited"
                worker.handle = self.clock.call_later(op[1], partial(self._v_advance, worker, _OK),
                                                      label=worker.label)
                return
            worker.state = "running"
            outcome = self._execute(worker, op[1])
            outcome.duration = self.clock.virtual_duration(EXPORT, outcome.request, outcome.wall)
            worker.handle = self.clock.call_later(outcome.duration,
                                                  partial(self._v_advance, worker, outcome),
                                                  label=worker.label)
            return

    def _v_tick(self, worker: _Worker) -> None:
        queue = worker.queue
        with queue.cond:
            if worker not in queue.waiters:
                return
            queue.waiters.remove(worker)
            value = self._take_wakeup(worker, tick_fired=True)
        self._v_advance(worker, value)

    def _v_stop(self, worker: _Worker) -> None:
        """Cancel the service context for one worker: it reverts what it holds and ends."""
        self.clock.cancel(worker.handle)
        worker.handle = None
        with worker.queue.cond:
            if worker in worker.queue.waiters:
                worker.queue.waiters.remove(worker)
        gen = worker.gen
        try:
            if worker.state == "new":
                gen.close()
            else:
                gen.send(_STOP)
                gen.close()  # it yielded again: nothing more to revert
        except StopIteration:
            pass
        except ValueError:  # closed from inside this worker's own plugin call
            return
        worker.state = "stopped"

    # -- cleanup of terminal tasks ----------------------------------------------------------
    def _cleanup_tick(self) -> None:
        if self._closed:
            return
        now = self.clock.now_ns()
        self._cleanup_ns += max(1, (now - self._cleanup_ns) // _CLEANUP_NS + 1) * _CLEANUP_NS
        self._cleanup_timer = self.clock.call_at_ns(self._cleanup_ns, self._cleanup_tick,
                                                    label=self._label("cleanup"), daemon=True)
        self.run_cleanup()

    def run_cleanup(self) -> int:
        """Delete terminal tasks older than their queue's retention (runs every 5 min)."""
        with self._lock:
            queues = list(self._queues.values())
        now = self.clock.now_ms()
        deleted = 0
        for queue in queues:
            try:
                rows = self._sql("cleaning up tasks", """
                    DELETE FROM tasks WHERE queue_name = ? AND status IN (?, ?, ?)
                    AND updated_at + ? < ? RETURNING id, status, attempt
                """, (queue.name, COMPLETED, FAILED, CANCELLED, queue.config.retention_ms, now),
                    fetch="all")
            except ServiceError as e:
                self._log("error", "Failed to cleanup tasks", queue=queue.name, error=str(e))
                continue
            for task_id, status, attempt in rows:
                self.ctx.emit(events.TASK_CLEANED_UP, queue=queue.name, task_id=task_id,
                              attempt=attempt, status=status)
            deleted += len(rows)
        return deleted

    # -- helpers ----------------------------------------------------------------------------
    def _apply_defaults(self, name: str, cfg: QueueConfig) -> None:
        if cfg.concurrency <= 0:
            cfg.concurrency = DEFAULT_CONCURRENCY
        if cfg.backoff_ms <= 0:
            cfg.backoff_ms = DEFAULT_BACKOFF_MS
        if cfg.retention_ms <= 0:
            cfg.retention_ms = DEFAULT_RETENTION_MS
        if cfg.retention_ms < MIN_RETENTION_MS:
            self._log("warn", "TaskQueue retention clamped to minimum", queue=name,
                      requested=cfg.retention_ms, min=MIN_RETENTION_MS)
            cfg.retention_ms = MIN_RETENTION_MS
        if cfg.retention_ms > MAX_RETENTION_MS:
            self._log("warn", "TaskQueue retention clamped to maximum", queue=name,
                      requested=cfg.retention_ms, max=MAX_RETENTION_MS)
            cfg.retention_ms = MAX_RETENTION_MS

    def _sql(self, what: str, sql: str, params=(), *, fetch: str | None = None):
        """One statement; failures become ``ServiceError("<what>: <sqlite text>")``."""
        with self._db_lock:
            if self._db is None:
                raise ServiceError(f"{what}: sql: database is closed")
            try:
                cursor = self._db.execute(sql, params)
                if fetch == "one":
                    return cursor.fetchone()
                if fetch == "all":
                    return cursor.fetchall()
                return cursor.rowcount
            except sqlite3.Error as e:
                raise ServiceError(f"{what}: {e}") from None

    def _sql_logged(self, message: str, sql: str, params) -> None:
        try:
            self._sql(message, sql, params)
        except ServiceError as e:
            self._log("error", message, error=str(e))

    def _log(self, level: str, message: str, **fields) -> None:
        self.ctx.emit(events.SERVICE_LOG, service="TaskQueue", level=level, message=message,
                      **fields)

    def _label(self, what: str) -> str:
        return f"taskqueue {self.ctx.plugin_id} {what}"


def go_duration_ms(ms: int) -> int:
    """``time.Duration(ms) * time.Millisecond`` in Go's int64 nanoseconds (wrapping)."""
    value = (ms * 1_000_000) & 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


def backoff_ms(base_ms: int, attempt: int) -> int:
    """Navidrome's ``backoffMs << (attempt-1)`` in int64, capped at one hour (overflow too)."""
    value = (base_ms << max(attempt - 1, 0)) & 0xFFFFFFFFFFFFFFFF
    if value >= 1 << 63:
        value -= 1 << 64
    if value <= 0 or value > MAX_BACKOFF_MS:
        return MAX_BACKOFF_MS
    return value


@dataclass
class QueueConfig:
    """``host.QueueConfig``: the five JSON fields (missing = 0, then Navidrome's defaults)."""

    concurrency: int = 0
    max_retries: int = 0
    backoff_ms: int = 0
    delay_ms: int = 0
    retention_ms: int = 0

    @classmethod
    def from_request(cls, config: dict[str, Any] | QueueConfig | None,
                     options: dict[str, Any]) -> QueueConfig:
        if isinstance(config, QueueConfig):
            values = config.as_dict()
        else:
            values = {}
            for key, value in {**(config or {}), **options}.items():
                attr = _CONFIG_KEYS.get(key)
                if attr is None:
                    continue  # Go's JSON decoding ignores unknown fields
                values[attr] = int(value or 0)
        return cls(**values)

    def as_dict(self) -> dict[str, int]:
        return {"concurrency": self.concurrency, "max_retries": self.max_retries,
                "backoff_ms": self.backoff_ms, "delay_ms": self.delay_ms,
                "retention_ms": self.retention_ms}


class _Limiter:
    """``rate.NewLimiter(rate.Every(delay), 1)``: first token now, then one per ``delay``."""

    def __init__(self, delay_ms: int):
        self.interval_ns = go_duration_ms(delay_ms)
        self.next_free_ns: int | None = None

    def reserve(self, now_ns: int) -> int:
        """Take a token; returns how long (ns) to wait for it."""
        start = now_ns if self.next_free_ns is None else max(now_ns, self.next_free_ns)
        self.next_free_ns = start + self.interval_ns
        return start - now_ns


class _Queue:
    def __init__(self, name: str, config: QueueConfig, limiter: _Limiter | None):
        self.name = name
        self.config = config
        self.limiter = limiter
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.signal = False  # the capacity-1 channel holds a signal
        self.waiters: collections.deque[_Worker] = collections.deque()
        self.workers: list[_Worker] = []


class _Worker:
    def __init__(self, queue: _Queue, index: int):
        self.queue = queue
        self.index = index
        self.gen: Any = None
        self.state = "new"
        self.next_tick_ns = 1 << 62  # the ticker starts after the first drain
        self.handle = None  # virtual time: the clock event that resumes this worker
        self.mail = None  # real time: what woke this worker
        self.cond = threading.Condition(queue.lock)  # ... and how: wakes this worker only
        self.task: _Task | None = None
        self.label = ""


@dataclass
class _Task:
    id: str
    queue: str
    payload: bytes
    attempt: int
    max_retries: int
    limiter_wait: float = 0.0


@dataclass
class _Outcome:
    ok: bool
    message: str
    error: str | None
    wall: float
    request: dict = field(default_factory=dict)
    duration: float = 0.0


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return "value"


class _Op(str):
    """A sentinel that prints nicely."""


_WAIT, _SLEEP, _CALL = _Op("wait"), _Op("sleep"), _Op("call")
_WAKE, _TICK, _STOP, _OK = _Op("wake"), _Op("tick"), _Op("stop"), _Op("ok")
