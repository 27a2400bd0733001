"""Background tasks: a bureau's 200,000-row import or a population issuance runs outside the request
that asked for it, in a small thread pool of the app process, and reports its progress in its
`BackgroundTask` row, which the page polls (any instance can answer it).

A kind's handler is registered with `@handler("kind")` and called as `fn(task, report)` inside an app
context with its own session; it commits its own work in chunks and calls
`report(processed=, succeeded=, rejected=, total=)` after each. It returns a dict kept as the task's
`result`. A task whose process died shows as interrupted once its heartbeat is older than
TASK_STALE_SECONDS: the handlers are safe to run again, so the bureau simply submits it again.

TASKS_INLINE (tests, the CLI) runs the task in the caller's thread before `submit` returns."""
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import current_app

from .extensions import db
from .models.tasks import DONE, FAILED, QUEUED, RUNNING, BackgroundTask
from .timeutil import utcnow

log = logging.getLogger(__name__)

HANDLERS = {}
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="h5app-task")


def handler(kind: str):
    def register(fn):
        HANDLERS[kind] = fn
        return fn
    return register


def submit(kind: str, *, params: dict, region_code: str | None = None, created_by_id: int | None = None,
           total: int | None = None) -> BackgroundTask:
    """Record the task, commit, and start it. Returns the row (committed; runs later unless inline)."""
    if kind not in HANDLERS:
        raise KeyError(f"no handler for background task {kind!r}")
    task = BackgroundTask(kind=kind, status=QUEUED, params=params, region_code=region_code,
                          created_by_id=created_by_id, total=total)
    db.session.add(task)
    db.session.flush()
    task_id = task.id  # read before the commit: reading it after would open a transaction here,
    db.session.commit()  # and on SQLite (BEGIN IMMEDIATE) the task's own session would wait for it
    app = current_app._get_current_object()
    if app.config.get("TASKS_INLINE"):
        run(app, task_id)
        db.session.refresh(task)
    else:
        _executor.submit(run, app, task_id)
    return task


def run(app, task_id: int, on_progress=None) -> None:
    """Run one task to its end in a fresh app context. `on_progress(task)` is called after each
    report (the CLI draws its progress bar from it)."""
    with app.app_context():
        session = db.session
        task = session.get(BackgroundTask, task_id)
        if task is None or task.status != QUEUED:
            return
        now = utcnow()
        task.status, task.started_at, task.heartbeat_at = RUNNING, now, now
        session.commit()

        def report(*, processed=None, succeeded=None, rejected=None, total=None):
            row = session.get(BackgroundTask, task_id)
            for name, value in (("processed", processed), ("succeeded", succeeded),
                                ("rejected", rejected), ("total", total)):
                if value is not None:
                    setattr(row, name, value)
            row.heartbeat_at = utcnow()
            session.commit()
            if on_progress is not None:
                on_progress(row)

        try:
            result = HANDLERS[task.kind](task, report)
        except Exception:
            # Never the exception's text on the page: it may quote a row of personal data.
            log.exception("background task %s (%s) failed", task_id, task.kind)
            session.rollback()
            task = session.get(BackgroundTask, task_id)
            task.status, task.error = FAILED, "任务执行出错，已处理的部分已保存；请重新提交（重复提交不会重复处理）"
        else:
            task = session.get(BackgroundTask, task_id)
            task.status, task.result = DONE, dict(result or {})
        task.finished_at = task.heartbeat_at = utcnow()
        session.commit()
        db.session.remove()


def is_interrupted(task: BackgroundTask, now=None) -> bool:
    """A running task not heard from for TASK_STALE_SECONDS: its process has gone."""
    if task.status != RUNNING or task.heartbeat_at is None:
        return False
    stale = timedelta(seconds=current_app.config.get("TASK_STALE_SECONDS", 300))
    return (now or utcnow()) - task.heartbeat_at > stale
