"""The committed Alembic migrations build the schema from empty, on SQLite and PostgreSQL, and
their head matches the models exactly (no change left for autogenerate to find)."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from h5app.extensions import db

from .migration_support import empty_database


@pytest.fixture
def migrated_app(make_app, tmp_path):
    with empty_database(tmp_path) as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            yield app
            db.session.remove()
            db.engine.dispose()


def test_upgrade_from_empty_creates_every_model_table(migrated_app):
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables


def test_migration_head_matches_the_models(migrated_app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree; run `flask db migrate`: {diff}"


def test_downgrade_to_base_and_upgrade_again(migrated_app):
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert "vouchers" in inspect(db.engine).get_table_names()
