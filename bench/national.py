"""A country's worth of vouchers: 20,000,000 vouchers held by 12,500,000 people, 45,000,000 audit
rows, 31 provinces × 10 cities × 10 districts, ~20,000 institutions and ~200,000 classes, one open
general template per city plus the provinces' own, settlements with their lines for every settled
voucher — and then a day of events (~300,000 verifications today across the country). Times, in
process through Flask's test client, each request for a different sampled person, voucher,
institution or region (so no cache flatters a page):

    卡券中心, 我的卡券, the voucher page (a worker), 查询统计 (a city's and a province's clerk),
    结算审核 lists (待审核 and 已拨付), the institution's settlement list, 审计日志 (a city's and a
    province's clerk), and the API look-ups GET /api/v1/vouchers/{code},
    /api/v1/people/{id_number}/vouchers, /api/v1/settlements (a province's bureau key).

Prints median, p95 and max ms, statements per request and response size; flags any page over the
target: **median under 100 ms, p95 under 300 ms**. The first roll-up of every past day (what
`flask stats rollup` does from cron) is timed separately, before the pages.

    python bench/national.py --vouchers 200000                     # a small country first
    python bench/national.py                                       # 20,000,000 vouchers (PostgreSQL)
    python bench/national.py --reuse                               # time the last load again
    python bench/national.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/national \\
        --vouchers 5000000 --requests 50

PostgreSQL only. The database is created if missing and **emptied** (its public schema dropped)
unless --reuse finds a load of the same --vouchers in it (recorded in the table bench_national).
People and audit rows scale with --vouchers (12.5M and 45M at 20M).

How it loads: the schema comes from the models (db.create_all()); every secondary index and unique
constraint is dropped; institutions, classes and people (valid ID numbers, ISO 7064 check digit, so
the API's look-up accepts them) are generated in Python and streamed with COPY FROM STDIN (psycopg's
cursor.copy(), ~10,000 rows a write, into a table truncated in the same transaction, WITH (FREEZE):
rows land frozen and all-visible, no VACUUM pass needed before index-only scans work). Vouchers and
their audit rows are made one of two ways (--generator):

  copy  drawn row by row in Python and COPYed the same way (the audit rows spooled to a temporary
        file and copied after the vouchers commit). What the issue names; the default up to
        2,000,000 vouchers. Python is the limit: ~50 µs a voucher with its audit rows on this shared
        2-core machine (5M took 314 s at load average 8), i.e. ~17 minutes for 20M before a single
        index is built — too slow for the full country.
  sql   INSERT … SELECT FROM generate_series on the server (no Python per row): the same draw —
        statuses, times, classes, today's verifications — in SQL with random(); audit rows from the
        vouchers with one INSERT … SELECT (a LATERAL VALUES row per event), sign-ins to fill up to
        the audit count; then VACUUM (FREEZE) of both. The default above 2,000,000.

Foreign keys stay declared but are not checked row by row (session_replication_role = replica;
the rows are consistent by construction). Settlements, their lines, payee accounts and staff
accounts are derived from the loaded vouchers with INSERT … SELECT (a GROUP BY over the settled and
some used vouchers). Then every unique constraint and index is created again from the SQLAlchemy
metadata (AddConstraint, Index.create, maintenance_work_mem 1GB) and the database is ANALYZEd.
Columns other engineers add to the models keep working: every NOT NULL column with a Python
default gets that default as a server default in the bench database (a callable one is called
once; timestamps get now()), and the loader names only the columns it knows. "Today's"
verifications are dated from the load: timing a --reuse load on a later day shows them as
yesterday's (a warning says so)."""
import argparse
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, event, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.schema import AddConstraint  # noqa: E402
from sqlalchemy.sql.schema import UniqueConstraint  # noqa: E402

from h5app import create_app  # noqa: E402
from h5app.api.keys import create_key  # noqa: E402
from h5app.auth.users import session_values  # noqa: E402
from h5app.codes import ALPHABET  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import Person, Region, StaffUser, Voucher, VoucherTemplate  # noqa: E402
from h5app.models.integration import SCOPE_BUREAU  # noqa: E402
from h5app.policies import ensure_policies  # noqa: E402
from h5app.statistics.rollup import roll_up  # noqa: E402
from h5app.timeutil import local_today, start_of_local_day, utcnow  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/national"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
FULL_VOUCHERS, FULL_PEOPLE, FULL_AUDIT = 20_000_000, 12_500_000, 45_000_000
FULL_INSTITUTIONS, FULL_CLASSES, FULL_TODAY = 20_000, 200_000, 300_000
MEDIAN_TARGET_MS, P95_TARGET_MS = 100, 300
BLOCK = 10_000  # rows per COPY write

PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区", "21": "辽宁省", "22": "吉林省",
    "23": "黑龙江省", "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省",
    "37": "山东省", "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区", "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区", "61": "陕西省", "62": "甘肃省",
    "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
}
ZHEJIANG_CITIES = ["杭州市", "宁波市", "温州市", "嘉兴市", "湖州市", "绍兴市", "金华市", "衢州市", "舟山市", "台州市"]
CITIES_PER_PROVINCE = DISTRICTS_PER_CITY = 10
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建国建华志强海燕春梅晓东文博子涵浩然欣怡雨轩"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# Of an open template's vouchers; a targeted template's are first offered (OFFERED_SHARE stay so).
OPEN_MIX = (("claimed", 0.40), ("used", 0.22), ("settled", 0.25), ("expired", 0.10), ("revoked", 0.03))
OFFERED_SHARE = 0.5
EVENTS_BY_STATUS = {"offered": 0, "claimed": 1, "used": 2, "settled": 3, "expired": 2, "revoked": 2}


# --- the country -----------------------------------------------------------------------------------

@dataclass
class Country:
    scale: float
    vouchers: int
    people: int
    audit: int
    institutions: int
    classes: int
    today_verifications: int
    provinces: list[str] = field(default_factory=list)  # '330000'
    cities: list[str] = field(default_factory=list)  # '330600', in province order
    districts: list[str] = field(default_factory=list)  # '330602', in city order

    @classmethod
    def of(cls, vouchers: int) -> "Country":
        scale = vouchers / FULL_VOUCHERS
        n_districts = len(PROVINCES) * CITIES_PER_PROVINCE * DISTRICTS_PER_CITY
        country = cls(scale, vouchers, max(round(FULL_PEOPLE * scale), 1), round(FULL_AUDIT * scale),
                      max(round(FULL_INSTITUTIONS * scale), n_districts),
                      max(round(FULL_CLASSES * scale), 4 * n_districts), round(FULL_TODAY * scale))
        for p in PROVINCES:
            country.provinces.append(p + "0000")
            for c in range(1, CITIES_PER_PROVINCE + 1):
                city = f"{p}{c:02d}00"
                country.cities.append(city)
                country.districts += [f"{city[:4]}{d:02d}" for d in range(1, DISTRICTS_PER_CITY + 1)]
        return country

    @property
    def institutions_per_district(self) -> int:
        return self.institutions // len(self.districts)

    @property
    def classes_per_district(self) -> int:
        return self.classes // len(self.districts)


def region_rows(country: Country, policy_id: int) -> list[dict]:
    rows = []
    for province in country.provinces:
        pname = PROVINCES[province[:2]]
        rows.append({"code": province, "name": pname, "parent_code": None, "policy_id": policy_id})
    for city in country.cities:
        pname = PROVINCES[city[:2]]
        n = int(city[2:4])
        cname = ZHEJIANG_CITIES[n - 1] if city[:2] == "33" else f"{pname[:2]}第{n}市"
        rows.append({"code": city, "name": cname, "parent_code": city[:2] + "0000", "policy_id": policy_id})
        rows += [{"code": f"{city[:4]}{d:02d}", "name": f"{cname[:-1]}第{d}区", "parent_code": city,
                  "policy_id": policy_id} for d in range(1, DISTRICTS_PER_CITY + 1)]
    return rows


# --- fast text for COPY ------------------------------------------------------------------------------

class Clock:
    """'YYYY-MM-DD HH:MM:SS' of naive-UTC seconds since the epoch, the day part cached."""

    def __init__(self):
        self.days: dict[int, str] = {}

    def __call__(self, seconds: float) -> str:
        s = int(seconds)
        day, rest = divmod(s, 86400)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        return f"{prefix} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"


def epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


_B32 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())


def voucher_code(k: int) -> str:
    """A code in the app's alphabet that looks random (an odd multiplier mod 2^75 is a bijection):
    75 bits are 15 base-32 symbols, the first of 80 bits' 16 always the zero symbol."""
    value = (k * 0x4F1BBCDCBFA53E0AB3 + 0x2545F491) & ((1 << 75) - 1)
    return "V" + base64.b32encode(value.to_bytes(10, "big")).translate(_B32)[1:].decode()


class IdNumbers:
    """Valid resident ID numbers (GB 11643, ISO 7064 MOD 11-2 check), unique per person index."""

    def __init__(self, districts: list[str]):
        self.districts = districts
        self.born0 = date(1966, 1, 1)
        self._district_sum = [sum(int(c) * w for c, w in zip(d, ID_WEIGHTS[:6])) for d in districts]
        self._days: dict[int, tuple[str, int]] = {}

    def of(self, i: int) -> str:
        d, j = i % len(self.districts), i // len(self.districts)
        day, seq = j % 13000, j // 13000
        born = self._days.get(day)
        if born is None:
            s = (self.born0 + timedelta(days=day)).strftime("%Y%m%d")
            born = self._days[day] = (s, sum(int(c) * w for c, w in zip(s, ID_WEIGHTS[6:14])))
        tail = f"{seq % 1000:03d}"
        total = self._district_sum[d] + born[1] + int(tail[0]) * 8 + int(tail[1]) * 4 + int(tail[2]) * 2
        return f"{self.districts[d]}{born[0]}{tail}{ID_CHECK[total % 11]}"


# --- schema -------------------------------------------------------------------------------------------

def pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}):
            connection.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    engine.dispose()


def server_defaults() -> list[str]:
    """ALTER … SET DEFAULT for every NOT NULL column that has a Python default and no server one,
    so COPY may leave out columns it does not know (added to the models by anyone, any time)."""
    statements = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if column.primary_key or column.nullable or column.server_default is not None or column.default is None:
                continue
            default = column.default
            if default.is_scalar:
                value = default.arg
            elif default.is_callable:
                if column.unique:
                    continue  # per-row values (codes): the loader fills them
                try:
                    value = default.arg(None)
                except Exception:  # noqa: BLE001  (a default that needs a context: leave it to the loader)
                    continue
            else:
                continue
            if isinstance(value, datetime):
                sql = "(now() AT TIME ZONE 'utc')"
            elif isinstance(value, bool):
                sql = "true" if value else "false"
            elif isinstance(value, int | float):
                sql = repr(value)
            elif isinstance(value, list | dict):
                sql = "'" + json.dumps(value).replace("'", "''") + "'"
            elif isinstance(value, str):
                sql = "'" + value.replace("'", "''") + "'"
            elif isinstance(value, date):
                sql = f"'{value.isoformat()}'"
            else:
                sql = "'" + str(value).replace("'", "''") + "'"
            statements.append(f'ALTER TABLE "{table.name}" ALTER COLUMN "{column.name}" SET DEFAULT {sql}')
    return statements


def drop_secondary(connection) -> None:
    """Every index and unique constraint but the primary keys (created again after the load)."""
    for table in db.metadata.sorted_tables:
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.name:
                connection.exec_driver_sql(f'ALTER TABLE "{table.name}" DROP CONSTRAINT IF EXISTS "{constraint.name}"')
        for index in table.indexes:
            connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
    # unique=True on a column is a constraint the metadata names by convention; anything left over:
    leftovers = connection.execute(text(
        "SELECT i.relname, t.relname, c.conname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid "
        "WHERE n.nspname = 'public' AND NOT x.indisprimary")).all()
    for index, table, constraint in leftovers:
        if constraint:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{constraint}"')
        else:
            connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index}"')


def create_secondary(engine, report) -> None:
    """Unique constraints and indexes from the metadata, biggest tables' memory allowance raised."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        for table in db.metadata.sorted_tables:
            started = time.perf_counter()
            n = 0
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint):
                    connection.execute(AddConstraint(constraint))
                    n += 1
            for index in table.indexes:
                index.create(connection)
                n += 1
            if n and time.perf_counter() - started > 1:
                report(f"  {table.name}: {n} indexes in {time.perf_counter() - started:.0f}s")


# --- the load -------------------------------------------------------------------------------------------

class Copier:
    """COPY … FROM STDIN into one table on its own connection, truncated first in the same
    transaction so that FREEZE applies."""

    def __init__(self, conninfo: str, table: str, columns: list[str]):
        self.connection = psycopg.connect(conninfo)
        self.connection.execute("SET session_replication_role = replica")
        self.connection.execute(f'TRUNCATE "{table}" CASCADE')
        self.cursor = self.connection.cursor()
        cols = ", ".join(f'"{c}"' for c in columns)
        self._context = self.cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN WITH (FREEZE)')
        self.copy = self._context.__enter__()
        self.lines: list[str] = []
        self.rows = 0

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= BLOCK:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.rows += len(self.lines)
            self.copy.write("\n".join(self.lines) + "\n")
            self.lines = []

    def close(self) -> int:
        self.flush()
        self._context.__exit__(None, None, None)
        self.connection.commit()
        self.connection.close()
        return self.rows


class Spool:
    """COPY text lines kept in a temporary file, to be copied later."""

    def __init__(self):
        self.file = tempfile.TemporaryFile("w+", encoding="utf-8", buffering=1 << 20)
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= BLOCK:
            self.file.write("\n".join(self.lines) + "\n")
            self.lines = []

    def into(self, copier: Copier) -> None:
        if self.lines:
            self.file.write("\n".join(self.lines) + "\n")
        self.file.seek(0)
        while chunk := self.file.read(1 << 20):
            copier.copy.write(chunk)
        copier.rows = None
        self.file.close()


VOUCHERS_SQL = """
INSERT INTO vouchers (id, code, template_id, person_id, status, offered_at, claimed_at, expires_at, used_at,
                      class_id, institution_id, settled_at, revoked_at, revoke_reason, created_at)
SELECT k, 'V' || translate(lpad(to_hex(k * 11400714819 + 2654435761), 15, '0'), '0123456789abcdef', '23456789ABCDEFGH'),
       template_id, i + 1, CASE WHEN status = 'today' THEN 'used' ELSE status END,
       CASE WHEN targeted THEN created END, claimed,
       CASE WHEN status = 'expired' THEN least(claimed + interval '180 days',
                                               %(midnight)s - interval '1 day' - u3 * interval '30 days')
            WHEN claimed IS NOT NULL THEN claimed + interval '180 days' END,
       used,
       CASE WHEN used IS NOT NULL THEN d * %(cpd)s + mod(j + r, %(cpd)s) + 1 END,
       CASE WHEN used IS NOT NULL THEN d * %(ipd)s + mod(mod(j + r, %(cpd)s), %(ipd)s) + 1 END,
       CASE WHEN status = 'settled' THEN least(used + interval '5 days' + u3 * interval '25 days',
                                               %(midnight)s - interval '1 minute') END,
       CASE WHEN status = 'revoked' THEN claimed + u3 * interval '10 days' END,
       CASE WHEN status = 'revoked' THEN '政策调整' END,
       created
FROM (
  SELECT *, CASE WHEN status = 'today' THEN %(midnight)s + u2 * (%(now)s - %(midnight)s)
                 WHEN status IN ('used', 'settled')
                 THEN least(claimed + u2 * interval '20 days', %(midnight)s - interval '1 hour') END AS used
  FROM (
    SELECT *, CASE WHEN status <> 'offered' THEN least(
                created + CASE WHEN targeted THEN u1 * interval '20 days' ELSE interval '0' END,
                %(midnight)s - interval '1 hour') END AS claimed
    FROM (
      SELECT *, %(year_start)s + u0 * CASE WHEN status IN ('settled', 'expired') THEN %(span_settled)s
                                           ELSE %(span_any)s END AS created
      FROM (
        SELECT k, i, r, d, j, targeted, template_id, u0, u1, u2, u3,
               CASE WHEN targeted AND uo < 0.5 THEN 'offered'
                    WHEN us < 0.40 THEN CASE WHEN ut < %(p_today)s THEN 'today' ELSE 'claimed' END
                    WHEN us < 0.62 THEN 'used' WHEN us < 0.87 THEN 'settled' WHEN us < 0.97 THEN 'expired'
                    ELSE 'revoked' END AS status
        FROM (
          SELECT k, i, r, mod(i, %(nd)s) AS d, i / %(nd)s AS j, (r = 1 AND mod(i, 2) = 1) AS targeted,
                 CASE WHEN r = 0 THEN (%(city)s::int[])[mod(i, %(nd)s) / 10 + 1]
                      WHEN mod(i, 2) = 1 THEN (%(targeted)s::int[])[mod(i, %(nd)s) / 100 + 1]
                      ELSE (%(open)s::int[])[mod(i, %(nd)s) / 100 + 1] END AS template_id,
                 random() AS us, random() AS uo, random() AS ut, random() AS u0, random() AS u1,
                 random() AS u2, random() AS u3
          FROM (SELECT k, mod(k - 1, %(people)s) AS i, (k - 1) / %(people)s AS r
                FROM generate_series(1, %(vouchers)s::bigint) k) g
        ) a
      ) b
    ) c
  ) e
) f
"""

AUDIT_SQL = """
INSERT INTO audit_events (at, actor_type, actor_id, actor_label, action, voucher_id, from_status, to_status,
                          person_id, institution_id, region_code, details)
SELECT e.at, e.actor_type, e.actor_id, e.label, e.action, v.id, e.before, e.after, v.person_id, e.inst,
       t.region_code, '{}'
FROM vouchers v JOIN voucher_templates t ON t.id = v.template_id
CROSS JOIN LATERAL (VALUES
  (v.offered_at, 'system', NULL::int, '系统', 'voucher.offer', NULL::text, 'offered', NULL::int),
  (v.claimed_at, 'person', v.person_id, '劳动者', 'voucher.claim',
   CASE WHEN v.offered_at IS NOT NULL THEN 'offered' END, 'claimed', NULL::int),
  (v.used_at, 'staff', NULL::int, '核券人员', 'voucher.verify', 'claimed', 'used', v.institution_id),
  (v.settled_at, 'staff', NULL::int, '人社部门', 'voucher.settle', 'used', 'settled', v.institution_id),
  (CASE WHEN v.status = 'expired' THEN v.expires_at END, 'system', NULL::int, '系统', 'voucher.expire',
   'claimed', 'expired', NULL::int),
  (v.revoked_at, 'staff', NULL::int, '人社部门', 'voucher.revoke', 'claimed', 'revoked', NULL::int)
) AS e(at, actor_type, actor_id, label, action, before, after, inst)
WHERE e.at IS NOT NULL
"""

LOGINS_SQL = """
INSERT INTO audit_events (at, actor_type, actor_id, actor_label, action, person_id, region_code, details)
SELECT %(year_start)s + random() * (%(now)s - %(year_start)s), 'person', p, '劳动者', 'person.sso_login', p,
       (%(districts)s::text[])[mod(p - 1, %(nd)s) + 1], '{}'
FROM (SELECT 1 + mod(g * 7919, %(people)s) AS p FROM generate_series(1, %(n)s::bigint) g) x
"""


def vouchers_by_sql(conninfo: str, country: Country, city_template: list[int], province_open: list[int],
                    province_targeted: list[int], now: datetime, midnight: datetime, year_start: datetime,
                    report) -> float:
    """Vouchers and their audit rows with INSERT … SELECT FROM generate_series: the same country
    as the COPY path draws (OPEN_MIX, the same people, classes and times), no Python per row."""
    if country.vouchers > 2 * country.people:
        raise SystemExit("the SQL generator gives a person at most two vouchers")
    started = time.perf_counter()
    targeted_share = 0.5 * max(country.vouchers - country.people, 0) / country.vouchers
    p_today = country.today_verifications / (country.vouchers * OPEN_MIX[0][1] * (1 - targeted_share * OFFERED_SHARE))
    params = {"midnight": midnight, "now": now, "year_start": year_start,
              "span_settled": (midnight - timedelta(days=60)) - year_start,
              "span_any": (midnight - timedelta(days=2)) - year_start, "p_today": min(p_today, 1.0),
              "nd": len(country.districts), "cpd": country.classes_per_district,
              "ipd": country.institutions_per_district, "people": country.people, "vouchers": country.vouchers,
              "city": city_template, "open": province_open, "targeted": province_targeted,
              "districts": country.districts}
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SET session_replication_role = replica")
        connection.execute("SET work_mem = '256MB'")
        connection.execute(VOUCHERS_SQL, params)
        report(f"  vouchers: {country.vouchers:,} in {time.perf_counter() - started:.0f}s")
        events = connection.execute(AUDIT_SQL).rowcount
        logins = max(country.audit - events, 0)
        connection.execute(LOGINS_SQL, dict(params, n=logins))
        report(f"  audit rows: {events:,} voucher events and {logins:,} sign-ins ({time.perf_counter() - started:.0f}s)")
        # Set every page all-visible and frozen now, before any index exists (COPY FREEZE's effect).
        connection.execute("VACUUM (FREEZE) vouchers")
        connection.execute("VACUUM (FREEZE) audit_events")
        counts = connection.execute("SELECT status, count(*) FROM vouchers GROUP BY status ORDER BY status").fetchall()
    seconds = time.perf_counter() - started
    report(f"  vouchers and audit rows in {seconds:.0f}s; " + ", ".join(f"{s} {n:,}" for s, n in counts))
    return seconds


def load(app, url: str, country: Country, rng: random.Random, report, generator: str = "copy") -> dict:
    timings = {}
    engine = db.engine
    conninfo = pg_conninfo(url)
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    db.create_all()
    with engine.begin() as connection:
        for statement in server_defaults():
            connection.exec_driver_sql(statement)
        drop_secondary(connection)

    now = utcnow()
    today = local_today(now)
    midnight = start_of_local_day(today)
    year_start = start_of_local_day(date(today.year, 1, 1))
    policies = ensure_policies(db.session)
    policy_id = policies["default"].id
    db.session.execute(Region.__table__.insert(), region_rows(country, policy_id))
    db.session.commit()
    db.session.close()
    claim_from, claim_to = date(today.year, 1, 1), today + timedelta(days=90)
    timings["regions"] = time.perf_counter() - started

    clock = Clock()
    t_now, t_midnight, t_year = epoch(now), epoch(midnight), epoch(year_start)
    created_str = clock(t_midnight - 200 * 86400)

    # Institutions and classes: ipd institutions and cpd classes in each district.
    started = time.perf_counter()
    ipd, cpd, n_d = country.institutions_per_district, country.classes_per_district, len(country.districts)
    copier = Copier(conninfo, "institutions", ["id", "code", "name", "region_code", "type", "status", "created_at"])
    for d, district in enumerate(country.districts):
        for j in range(ipd):
            iid = d * ipd + j + 1
            copier.add(f"{iid}\tJG{iid:08d}\t培训学校{iid}\t{district}\tprivate_school\tactive\t{created_str}")
    copier.close()
    copier = Copier(conninfo, "classes", ["id", "institution_id", "course_name", "occupation", "project_type",
                                          "price_fen", "hours", "capacity", "starts_on", "ends_on", "status",
                                          "trainees_completed", "ratings_count", "created_at"])
    occupations = ["电工", "焊工", "育婴员", "保育员", "养老护理员", "中式烹调师", "美容师", "电子商务师", "茶艺师", "家政服务员"]
    span_days = max((today - claim_from).days, 1)
    for d in range(n_d):
        for m in range(cpd):
            cid = d * cpd + m + 1
            starts = claim_from + timedelta(days=rng.randrange(span_days))
            ends = starts + timedelta(days=20)
            done = ends < today
            copier.add(f"{cid}\t{d * ipd + m % ipd + 1}\t{occupations[m % 10]}培训班{cid}\t{occupations[m % 10]}\t"
                       f"employment_skills\t150000\t40\t60\t{starts}\t{ends}\t{'completed' if done else 'open'}\t"
                       f"{40 if done else 0}\t{rng.randrange(30) if done else 0}\t{created_str}")
    copier.close()
    timings["institutions and classes"] = time.perf_counter() - started

    # People.
    started = time.perf_counter()
    ids = IdNumbers(country.districts)
    copier = Copier(conninfo, "people", [
        "id", "name", "id_number", "groups", "region_code", "hukou_region_code", "residence_region_code",
        "insurance_region_code", "insurance_months", "verified_via", "qr_code", "job_consent", "session_epoch",
        "created_at"])
    names = [s + g for s in SURNAMES for g in GIVEN] + [s + g + h for s in SURNAMES[:20] for g in GIVEN for h in GIVEN[:9]]
    groups = ['[]', '[]', '[]', '["unemployed"]', '["rural_migrant"]', '["graduate"]']
    for i in range(country.people):
        d, _j = i % n_d, i // n_d
        district = country.districts[d]
        copier.add(f"{i + 1}\t{names[i % len(names)]}\t{ids.of(i)}\t{groups[i % 6]}\t{district}\t{district}\t"
                   f"{district}\t{district}\t{i % 97}\tsso:bench\tP{i + 1:015d}\tf\t0\t"
                   f"{clock(t_year - (i % 400) * 86400)}")
    copier.close()
    timings["people"] = time.perf_counter() - started
    report(f"  people: {country.people:,} in {timings['people']:.0f}s")

    # Templates: each city's open general template, each province's open one (with a stock) and
    # its targeted one (offered by a general issuance to a population).
    common = {"policy_id": policy_id, "status": "active", "distribution_mode": "general", "face_value_fen": 150000,
              "claim_starts_on": claim_from, "claim_ends_on": claim_to, "valid_days": 180, "eligible_groups": [],
              "project_types": [], "claimed_count": 0}
    rows = [dict(common, name=f"{r['name']}职业技能培训券", voucher_type="通用", region_code=r["code"],
                 function_mode="face_value", audience="open", stock=None)
            for r in region_rows(country, policy_id) if r["code"] in set(country.cities)]
    for province in country.provinces:
        name = PROVINCES[province[:2]]
        rows.append(dict(common, name=f"{name}紧缺工种培训券", voucher_type="紧缺", region_code=province,
                         function_mode="credential", audience="open",
                         stock=max(country.people // len(country.provinces), 100)))
        rows.append(dict(common, name=f"{name}重点群体培训券", voucher_type="重点群体", region_code=province,
                         function_mode="face_value", audience="targeted", stock=None))
    db.session.execute(VoucherTemplate.__table__.insert(), rows)
    db.session.commit()
    template_ids = dict(db.session.execute(select(VoucherTemplate.region_code + ":" + VoucherTemplate.audience,
                                                  VoucherTemplate.id)).all())
    city_template = [template_ids[f"{c}:open"] for c in country.cities]
    province_open = [template_ids[f"{p}:open"] for p in country.provinces]
    province_targeted = [template_ids[f"{p}:targeted"] for p in country.provinces]
    db.session.close()  # no transaction left open beside the COPYs

    started = time.perf_counter()
    if generator == "sql":
        timings["vouchers and audit rows (INSERT … SELECT)"] = vouchers_by_sql(
            conninfo, country, city_template, province_open, province_targeted, now, midnight, year_start, report)
    else:
        # Vouchers and their audit rows.
        started = time.perf_counter()
        vouchers = Copier(conninfo, "vouchers", [
            "id", "code", "template_id", "person_id", "status", "offered_at", "claimed_at", "expires_at", "used_at",
            "class_id", "institution_id", "settled_at", "revoked_at", "revoke_reason", "created_at"])
        # Audit rows go to a file first: TRUNCATE … CASCADE of the vouchers (for FREEZE) locks the audit
        # table until the vouchers' transaction commits, so they are copied after it.
        audit = Spool()
        # Expected voucher events per voucher; logins fill the rest of the audit rows.
        targeted_share = 0.5 * max(country.vouchers - country.people, 0) / country.vouchers
        per_open = sum(EVENTS_BY_STATUS[s] * p for s, p in OPEN_MIX)
        per_voucher = (1 - targeted_share) * per_open + targeted_share * (1 + (1 - OFFERED_SHARE) * per_open)
        logins = max(country.audit / country.vouchers - per_voucher, 0)
        p_today = country.today_verifications / (country.vouchers * OPEN_MIX[0][1] * (1 - targeted_share * OFFERED_SHARE))
        cumulative, total = [], 0.0
        for status, share in OPEN_MIX:
            total += share
            cumulative.append((total, status))
        n_audit = 0
        counts: dict[str, int] = {}
        span_settled = (t_midnight - 60 * 86400) - t_year
        span_any = (t_midnight - 2 * 86400) - t_year
        for k in range(country.vouchers):
            i, r = k % country.people, k // country.people
            d, j = i % n_d, i // n_d
            city = d // DISTRICTS_PER_CITY
            province = city // CITIES_PER_PROVINCE
            if r == 0:
                template_id, region, targeted = city_template[city], country.cities[city], False
            elif i % 2:
                template_id, region, targeted = province_targeted[province], country.provinces[province], True
            else:
                template_id, region, targeted = province_open[province], country.provinces[province], False
            vid = k + 1
            pid = i + 1
            roll = rng.random()
            status = "offered"
            if not targeted or rng.random() >= OFFERED_SHARE:
                for bound, status in cumulative:
                    if roll < bound:
                        break
            # When: settled ones early enough to have been claimed, used and paid before today.
            created = t_year + rng.random() * (span_settled if status in ("settled", "expired") else span_any)
            offered_at = claimed = used = settled = revoked = expires = None
            if targeted:
                offered_at = created
            if status != "offered":
                claimed = created + (rng.random() * 20 * 86400 if targeted else 0)
                expires = claimed + 180 * 86400
            institution_id = class_id = None
            if status == "claimed" and rng.random() < p_today and claimed < t_midnight:
                status = "used"
                used = t_midnight + rng.random() * max(t_now - t_midnight, 1)
            elif status in ("used", "settled"):
                used = min(claimed + rng.random() * 20 * 86400, t_midnight - 3600)
                if status == "settled":
                    settled = min(used + 5 * 86400 + rng.random() * 25 * 86400, t_midnight - 60)
            elif status == "expired":
                expires = min(expires, t_midnight - 86400 - rng.random() * 30 * 86400)
            elif status == "revoked":
                revoked = claimed + rng.random() * 10 * 86400
            if used is not None:
                m = (j + r) % cpd
                class_id, institution_id = d * cpd + m + 1, d * ipd + m % ipd + 1
            counts[status] = counts.get(status, 0) + 1
            vouchers.add("\t".join((
                str(vid), voucher_code(vid), str(template_id), str(pid), status,
                clock(offered_at) if offered_at else r"\N", clock(claimed) if claimed else r"\N",
                clock(expires) if expires else r"\N", clock(used) if used else r"\N",
                str(class_id) if class_id else r"\N", str(institution_id) if institution_id else r"\N",
                clock(settled) if settled else r"\N", clock(revoked) if revoked else r"\N",
                "政策调整" if revoked else r"\N", clock(created))))
            # Its audit rows: offer, claim, verify, settle, expire, revoke as they happened.
            events = []
            if targeted:
                events.append((created, "system", r"\N", "系统", "voucher.offer", r"\N", "offered", r"\N"))
            if claimed is not None:
                events.append((claimed, "person", str(pid), "劳动者", "voucher.claim",
                               "offered" if targeted else r"\N", "claimed", r"\N"))
            if used is not None:
                events.append((used, "staff", r"\N", "核券人员", "voucher.verify", "claimed", "used", str(institution_id)))
            if settled is not None:
                events.append((settled, "staff", r"\N", "人社部门", "voucher.settle", "used", "settled",
                               str(institution_id)))
            if status == "expired":
                events.append((expires, "system", r"\N", "系统", "voucher.expire", "claimed", "expired", r"\N"))
            if revoked is not None:
                events.append((revoked, "staff", r"\N", "人社部门", "voucher.revoke", "claimed", "revoked", r"\N"))
            for at, actor_type, actor_id, label, action, before, after, inst in events:
                n_audit += 1
                audit.add(f"{n_audit}\t{clock(at)}\t{actor_type}\t{actor_id}\t{label}\t{action}\t{vid}\t{before}\t"
                          f"{after}\t{pid}\t{inst}\t{region}\t\\N\t{{}}")
            extra = int(logins) + (rng.random() < logins - int(logins))
            for _ in range(extra):
                n_audit += 1
                audit.add(f"{n_audit}\t{clock(t_year + rng.random() * (t_now - t_year))}\tperson\t{pid}\t劳动者\t"
                          f"person.sso_login\t\\N\t\\N\t\\N\t{pid}\t\\N\t{country.districts[d]}\t\\N\t{{}}")
            if vid % 1_000_000 == 0:
                report(f"  vouchers: {vid:,} ({time.perf_counter() - started:.0f}s)")
        vouchers.close()
        report(f"  vouchers copied ({time.perf_counter() - started:.0f}s); copying the audit rows")
        copier = Copier(conninfo, "audit_events", [
            "id", "at", "actor_type", "actor_id", "actor_label", "action", "voucher_id", "from_status", "to_status",
            "person_id", "institution_id", "region_code", "reason", "details"])
        audit.into(copier)
        copier.close()
        timings["vouchers and audit rows"] = time.perf_counter() - started
        report(f"  vouchers: {country.vouchers:,}, audit rows: {n_audit:,} in {timings['vouchers and audit rows']:.0f}s; "
               + ", ".join(f"{s} {n:,}" for s, n in sorted(counts.items())))

    # Derived rows, set-based on the server.
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SET session_replication_role = replica")
        connection.execute("SET work_mem = '256MB'")
        for table in ("people", "vouchers", "audit_events", "institutions", "classes"):
            connection.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))")
        # Paid settlements: each class's settled vouchers, one per paying bureau (the template's region).
        connection.execute(
            "INSERT INTO settlements (institution_id, class_id, region_code, status, submitted_at, reviewed_at, "
            "paid_at, created_at) "
            "SELECT v.institution_id, v.class_id, t.region_code, 'paid', min(v.settled_at) - interval '5 days', "
            "min(v.settled_at) - interval '2 days', max(v.settled_at), min(v.settled_at) - interval '6 days' "
            "FROM vouchers v JOIN voucher_templates t ON t.id = v.template_id WHERE v.status = 'settled' "
            "GROUP BY v.institution_id, v.class_id, t.region_code ORDER BY min(v.settled_at)")
        # Open applications: a seventh of the classes apply for their used vouchers (not today's).
        connection.execute(
            "INSERT INTO settlements (institution_id, class_id, region_code, status, submitted_at, reviewed_at, "
            "created_at) "
            "SELECT v.institution_id, v.class_id, t.region_code, "
            "CASE WHEN mod(v.class_id, 14) = 0 THEN 'submitted' ELSE 'reviewed' END, max(v.used_at) + interval '1 day', "
            "CASE WHEN mod(v.class_id, 14) = 0 THEN NULL ELSE max(v.used_at) + interval '2 days' END, "
            "max(v.used_at) + interval '1 day' "
            "FROM vouchers v JOIN voucher_templates t ON t.id = v.template_id "
            "WHERE v.status = 'used' AND mod(v.class_id, 7) = 0 AND v.used_at < %s "
            "GROUP BY v.institution_id, v.class_id, t.region_code ORDER BY max(v.used_at)", (midnight,))
        connection.execute(
            "INSERT INTO settlement_lines (settlement_id, voucher_id, eligible, attendance_rate, exam_passed, "
            "amount_fen, reference_fen, decision, approved_amount_fen, paid_amount_fen, paid_at, decided_by) "
            "SELECT s.id, v.id, true, 0.9, true, t.face_value_fen, t.face_value_fen, "
            "CASE s.status WHEN 'submitted' THEN 'pending' ELSE 'approved' END, "
            "CASE s.status WHEN 'submitted' THEN NULL ELSE t.face_value_fen END, "
            "CASE s.status WHEN 'paid' THEN t.face_value_fen END, "
            "CASE s.status WHEN 'paid' THEN v.settled_at END, "
            "CASE s.status WHEN 'submitted' THEN NULL ELSE 'staff:1' END "
            "FROM vouchers v JOIN voucher_templates t ON t.id = v.template_id "
            "JOIN settlements s ON s.class_id = v.class_id AND s.region_code = t.region_code "
            "WHERE (v.status = 'settled' AND s.status = 'paid') "
            "OR (v.status = 'used' AND s.status <> 'paid' AND v.used_at < %s) ORDER BY s.id, v.id", (midnight,))
        connection.execute(
            "INSERT INTO payee_accounts (institution_id, account_name, bank_name, account_number, status, "
            "entered_by, created_at) SELECT id, name, '中国工商银行', lpad(id::text, 19, '6'), 'active', "
            "'人社部门', created_at FROM institutions")
        # Staff: an officer per institution, a clerk per city and per province (one password hash).
        staff = StaffUser(username="x", name="x", role="bureau")
        staff.set_password("bench-password-0123")
        connection.execute(
            "INSERT INTO staff_users (username, password_hash, name, role, institution_id, created_at) "
            "SELECT 'officer_' || code, %s, '机构专员', 'officer', id, created_at FROM institutions",
            (staff.password_hash,))
        connection.execute(
            "INSERT INTO staff_users (username, password_hash, name, role, region_code, created_at) "
            "SELECT 'clerk_' || code, %s, name || '经办人', 'bureau', code, now() AT TIME ZONE 'utc' "
            "FROM regions WHERE parent_code IS NULL OR code LIKE '____00'", (staff.password_hash,))
        connection.execute(
            "UPDATE voucher_templates t SET claimed_count = (SELECT count(*) FROM vouchers v "
            "WHERE v.template_id = t.id AND v.status <> 'offered') WHERE t.stock IS NOT NULL")
    timings["settlements, accounts, staff (INSERT … SELECT)"] = time.perf_counter() - started

    started = time.perf_counter()
    create_secondary(engine, report)
    timings["indexes and unique constraints"] = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for table in ("settlements", "settlement_lines", "payee_accounts", "staff_users", "regions",
                      "voucher_templates", "policies"):
            connection.execute(f'VACUUM ANALYZE "{table}"')
        connection.execute("ANALYZE")
    timings["VACUUM/ANALYZE"] = time.perf_counter() - started
    return timings


# --- timing ------------------------------------------------------------------------------------------------

@dataclass
class Result:
    label: str
    times: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    slowest: tuple[float, str, object] = (0.0, "", None)  # (ms, statement, parameters)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]

    @property
    def over(self) -> bool:
        return statistics.median(self.times) >= MEDIAN_TARGET_MS or self.percentile(0.95) >= P95_TARGET_MS


class Statements:
    """Counts the statements a request runs and remembers the slowest one."""

    def __init__(self, engine):
        self.count = 0
        self.slowest = (0.0, "", None)
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def reset(self):
        self.count, self.slowest = 0, (0.0, "", None)

    def before(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        conn.info["bench_started"] = time.perf_counter()

    def after(self, conn, cursor, statement, parameters, context, executemany):
        ms = (time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())) * 1000
        if ms > self.slowest[0]:
            self.slowest = (ms, statement, parameters)


def sign_in(client, user_id: str) -> None:
    with client.session_transaction() as session:
        session.update(session_values(user_id))


def run_pages(app, country: Country, requests: int, rng: random.Random, report) -> list[Result]:
    with app.app_context():
        counter = Statements(db.engine)
        n_people = db.session.scalar(select(func.max(Person.id)))
        n_vouchers = db.session.scalar(select(func.max(Voucher.id)))
        clerks = dict(db.session.execute(select(StaffUser.region_code, StaffUser.id).where(
            StaffUser.role == "bureau", StaffUser.username.like("clerk_%"))).all())
        officers = db.session.scalars(select(StaffUser.id).where(StaffUser.role == "officer")).all()
        keys = {}
        for province in country.provinces:
            _key, token = create_key(db.session, f"bench {province}", SCOPE_BUREAU, province)
            keys[province] = token
        template_region = dict(db.session.execute(select(VoucherTemplate.id, VoucherTemplate.region_code)).all())
        n = requests + 3  # three warm-up requests a page, not counted

        def sample_vouchers():
            ids = [rng.randrange(1, n_vouchers + 1) for _ in range(n)]
            rows = {v.id: v for v in db.session.execute(select(Voucher.id, Voucher.code, Voucher.person_id,
                                                               Voucher.template_id).where(Voucher.id.in_(ids)))}
            return [rows[i] for i in ids if i in rows]

        page_vouchers, api_vouchers = sample_vouchers(), sample_vouchers()
        api_people = db.session.execute(select(Person.id_number, Person.region_code).where(
            Person.id.in_([rng.randrange(1, n_people + 1) for _ in range(n)]))).all()
        cities = [c for c in country.cities]
        provinces = list(country.provinces)
        db.session.remove()

    def person(i):
        return f"p:{rng.randrange(1, n_people + 1)}"

    def province_of(code):
        return code[:2] + "0000"

    pages = [
        # (label, who is signed in (or an API token), url)
        ("卡券中心 /worker/cards", lambda i: (person(i), None, "/worker/cards")),
        ("我的卡券 /worker/vouchers", lambda i: (person(i), None, "/worker/vouchers")),
        ("券详情 /worker/vouchers/<code>", lambda i: (
            f"p:{page_vouchers[i % len(page_vouchers)].person_id}", None,
            f"/worker/vouchers/{page_vouchers[i % len(page_vouchers)].code}")),
        ("查询统计 city clerk", lambda i: (f"s:{clerks[rng.choice(cities)]}", None, "/bureau/statistics")),
        ("查询统计 province clerk", lambda i: (f"s:{clerks[rng.choice(provinces)]}", None, "/bureau/statistics")),
        ("结算审核 待审核 (province)", lambda i: (f"s:{clerks[rng.choice(provinces)]}", None,
                                            "/bureau/settlements?status=submitted")),
        ("结算审核 已拨付 (province)", lambda i: (f"s:{clerks[rng.choice(provinces)]}", None,
                                            "/bureau/settlements?status=paid")),
        ("结算审核 已拨付 (city)", lambda i: (f"s:{clerks[rng.choice(cities)]}", None,
                                        "/bureau/settlements?status=paid")),
        ("机构结算列表 /institution/settlements", lambda i: (f"s:{rng.choice(officers)}", None,
                                                      "/institution/settlements")),
        ("审计日志 city clerk", lambda i: (f"s:{clerks[rng.choice(cities)]}", None, "/bureau/audit")),
        ("审计日志 province clerk", lambda i: (f"s:{clerks[rng.choice(provinces)]}", None, "/bureau/audit")),
        ("API GET /vouchers/{code}", lambda i: (None, keys[province_of(
            template_region[api_vouchers[i % len(api_vouchers)].template_id])],
            f"/api/v1/vouchers/{api_vouchers[i % len(api_vouchers)].code}")),
        ("API GET /people/{id}/vouchers", lambda i: (None, keys[province_of(api_people[i % len(api_people)][1])],
                                                      f"/api/v1/people/{api_people[i % len(api_people)][0]}/vouchers")),
        ("API GET /settlements", lambda i: (None, keys[rng.choice(provinces)], "/api/v1/settlements")),
    ]
    results = []
    for label, make in pages:
        result = Result(label)
        client = app.test_client()
        for i in range(n):
            user, token, url = make(i)
            headers = {}
            if user:
                sign_in(client, user)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            counter.reset()
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            ms = (time.perf_counter() - started) * 1000
            if i < 3:
                continue
            result.times.append(ms)
            result.statements.append(counter.count)
            result.sizes.append(len(response.data))
            if response.status_code != 200:
                result.errors[response.status_code] = result.errors.get(response.status_code, 0) + 1
            if counter.slowest[0] > result.slowest[0]:
                result.slowest = counter.slowest
        results.append(result)
        report(f"  {label}: median {statistics.median(result.times):.0f} ms")
    return results


# --- main ------------------------------------------------------------------------------------------------

def recorded_load(engine) -> dict | None:
    with engine.connect() as connection:
        if not connection.scalar(text("SELECT to_regclass('public.bench_national') IS NOT NULL")):
            return None
        row = connection.execute(text("SELECT * FROM bench_national ORDER BY loaded_at DESC LIMIT 1")).mappings().first()
        return dict(row) if row else None


def record_load(engine, country: Country, timings: dict) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS bench_national (vouchers bigint, people bigint, audit_events bigint, "
            "today_verifications bigint, loaded_on date, loaded_at timestamp, timings text)")
        connection.execute(text(
            "INSERT INTO bench_national VALUES (:v, :p, :a, :t, :d, now() AT TIME ZONE 'utc', :timings)"),
            {"v": country.vouchers, "p": country.people, "a": country.audit, "t": country.today_verifications,
             "d": local_today(), "timings": json.dumps(timings, ensure_ascii=False)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"PostgreSQL; emptied (default {DEFAULT_URL})")
    parser.add_argument("--vouchers", type=int, default=FULL_VOUCHERS,
                        help="vouchers to load (default 20,000,000); people, audit rows, institutions, classes "
                             "and today's verifications scale with it")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page (default 40)")
    parser.add_argument("--reuse", action="store_true",
                        help="skip the load when the database holds one of the same --vouchers")
    parser.add_argument("--generator", choices=("auto", "copy", "sql"), default="auto",
                        help="how vouchers and audit rows are made: COPY of rows drawn in Python, or INSERT … "
                             "SELECT FROM generate_series on the server; auto: COPY up to 2,000,000 vouchers")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("PostgreSQL only: --database-url postgresql+psycopg://…")

    def report(message: str) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)

    country = Country.of(args.vouchers)
    ensure_database(args.database_url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "SECRET_KEY": SECRET_KEY,
                      "RATELIMIT_ENABLED": False})
    rng = random.Random(args.seed)
    with app.app_context():
        previous = recorded_load(db.engine)
        reuse = args.reuse and previous is not None and previous["vouchers"] == country.vouchers
        if args.reuse and not reuse:
            report("no load of this scale recorded: loading")
        if reuse:
            report(f"reusing the load of {previous['loaded_at']:%Y-%m-%d %H:%M} UTC: {previous['vouchers']:,} vouchers")
            timings = json.loads(previous["timings"])
            if previous["loaded_on"] != local_today():
                report("warning: loaded on another day — its 'today' verifications are now past days")
        else:
            report(f"loading {country.vouchers:,} vouchers, {country.people:,} people, {country.audit:,} audit rows, "
                   f"{country.institutions:,} institutions, {country.classes:,} classes")
            started = time.perf_counter()
            generator = args.generator if args.generator != "auto" else (
                "copy" if country.vouchers <= 2_000_000 else "sql")
            timings = load(app, args.database_url, country, rng, report, generator)
            timings["total load"] = time.perf_counter() - started
        started = time.perf_counter()
        rolled = roll_up(db.session)
        rollup_seconds = time.perf_counter() - started
        if not reuse:
            timings["first roll-up (flask stats rollup)"] = rollup_seconds
            record_load(db.engine, country, timings)
        counts = db.session.execute(text(
            "SELECT (SELECT count(*) FROM vouchers), (SELECT count(*) FROM people), (SELECT count(*) FROM audit_events), "
            "(SELECT count(*) FROM settlements), (SELECT count(*) FROM settlement_lines), "
            "(SELECT count(*) FROM vouchers WHERE used_at >= :midnight), pg_size_pretty(pg_database_size(current_database()))"),
            {"midnight": start_of_local_day(local_today())}).one()
        db.session.remove()
    report(f"roll-up of past days: {rolled:,} month rows in {rollup_seconds:.1f}s")
    results = run_pages(app, country, args.requests, rng, report)

    load1, load5, _ = os.getloadavg()
    print()
    print(f"PostgreSQL, {counts[0]:,} vouchers, {counts[1]:,} people, {counts[2]:,} audit rows, {counts[3]:,} settlements "
          f"({counts[4]:,} lines), {counts[5]:,} verified today; database {counts[6]}; "
          f"load average {load1:.1f} / {load5:.1f} (1 / 5 min)")
    for step, seconds in timings.items():
        print(f"  load: {step}: {seconds:.0f}s")
    print(f"\n{args.requests} requests a page, each for another sampled person / voucher / region; "
          f"target median < {MEDIAN_TARGET_MS} ms, p95 < {P95_TARGET_MS} ms\n")
    print(f"| page | median ms | p95 ms | max ms | statements | KB | |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        flag = "**over target**" if r.over else "ok"
        if r.errors:
            flag += " errors " + ", ".join(f"{code}×{n}" for code, n in r.errors.items())
        stmts = f"{min(r.statements)}–{max(r.statements)}" if min(r.statements) != max(r.statements) else str(r.statements[0])
        print(f"| {r.label} | {statistics.median(r.times):.0f} | {r.percentile(0.95):.0f} | {max(r.times):.0f} | "
              f"{stmts} | {statistics.median(r.sizes) / 1024:.1f} | {flag} |")
    slow = [r for r in results if r.over]
    for r in slow:
        ms, statement, parameters = r.slowest
        print(f"\n{r.label}: slowest statement {ms:.0f} ms:\n  {' '.join(statement.split())[:1500]}\n  {parameters!r}"[:2500])


if __name__ == "__main__":
    main()
