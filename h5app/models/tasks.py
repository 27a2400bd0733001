"""Background tasks (后台任务): long imports and issuances that run outside the request, with progress
the page polls. The row is the shared state, so any app instance can show it."""
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import created_at_column

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
TASK_STATUS_LABELS = {QUEUED: "排队中", RUNNING: "进行中", DONE: "已完成", FAILED: "失败"}


class BackgroundTask(db.Model):
    __tablename__ = "background_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # What to do (e.g. {"path": ..., "filename": ...} or an issuance's filters); never personal data.
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    total: Mapped[int | None] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # The outcome for the page (counts by kind, the rejected-rows file's name, a message).
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Bumped with each progress report: a running task not heard from for a while has died with its process.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def status_label(self) -> str:
        return TASK_STATUS_LABELS.get(self.status, self.status)

    @property
    def percent(self) -> int:
        if self.status == DONE:
            return 100
        if not self.total:
            return 0
        return min(99, self.processed * 100 // self.total)

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED)

    @property
    def is_done(self) -> bool:
        return self.status == DONE

    @property
    def is_failed(self) -> bool:
        return self.status == FAILED
