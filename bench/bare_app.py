"""The yardstick for bench/api_verify.py: a bare Flask endpoint that reads a JSON body and runs
one guarded UPDATE on the same database (same engine settings as the app: on SQLite WAL and
BEGIN IMMEDIATE), then commits. Served by gunicorn with the same worker settings as the API."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from h5app.database import configure_engine  # noqa: E402
from h5app.timeutil import utcnow  # noqa: E402

engine = create_engine(os.environ["DATABASE_URL"], pool_size=10)
configure_engine(engine, 30000)
GUARDED = text("UPDATE vouchers SET status = 'used', used_at = :now, class_id = :class_id "
               "WHERE code = :code AND status = 'claimed'")

app = Flask(__name__)


@app.post("/bare/verify")
def verify():
    body = request.get_json()
    with engine.begin() as connection:
        changed = connection.execute(GUARDED, {"now": utcnow(), "class_id": body["class_id"],
                                               "code": body["code"]}).rowcount
    return jsonify({"result": "verified" if changed == 1 else "already_used"}), (200 if changed == 1 else 409)
