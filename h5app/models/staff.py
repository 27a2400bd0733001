"""Staff accounts: bureau clerks and supervisors, institution officers and verifiers."""
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import created_at_column
from .institutions import Institution

# Every signed-in user's role, named once here (the column stores it); h5app/access.py checks it.
WORKER, BUREAU, OFFICER, VERIFIER = "worker", "bureau", "officer", "verifier"
STAFF_ROLES = {BUREAU: "人社部门", OFFICER: "机构专员", VERIFIER: "核券人员"}


class StaffUser(UserMixin, db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)  # bureau staff
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    is_supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Bumped at sign-out and password change: every session cookie issued before stops working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()

    institution: Mapped[Institution | None] = relationship()

    def get_id(self) -> str:
        return f"s:{self.id}"

    @property
    def is_active(self) -> bool:
        return self.active

    def set_password(self, password: str) -> None:
        # scrypt, werkzeug's default: memory-hard and salted.
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_officer(self) -> bool:
        """机构专员: manages the institution's classes, staff and scan guns (a verifier only verifies)."""
        return self.role == OFFICER

    @property
    def role_label(self) -> str:
        return STAFF_ROLES.get(self.role, self.role)
