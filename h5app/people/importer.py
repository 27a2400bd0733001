"""人员信息导入: a bureau's file of people records from the social-insurance and employment systems
(CSV in UTF-8 or GBK, with or without BOM, or XLSX), 200,000 rows and more.

The file is saved, checked for its encoding and header at once (the page says what is wrong before
anything runs), and imported as a background task (h5app/tasks.py): read row by row (the csv module
over a text wrapper of the file; openpyxl's read-only sheet), checked (fields.py), merged by the
record rule (records.py) CHUNK rows per transaction, the progress written after each. Rows refused,
and rows taken with a remark, go to a result file with their line numbers and reasons, ID numbers,
phones and names masked. The uploaded file is deleted when the task ends. Taking one file again
changes nothing; an interrupted import is simply uploaded again."""
import codecs
import csv
import io
import logging
import os
import secrets
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

from flask import current_app
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from ..extensions import db
from ..identity import mask_id_number, mask_name, mask_text, normalize_id_number
from ..models import StaffUser
from ..spreadsheets import SheetError, safe_cell
from ..tasks import handler
from ..timeutil import local_today
from ..vouchers import audit
from .fields import RegionBook, clean_record, describe, header_positions, row_values
from .records import OUTCOME_LABELS, REJECTED, apply_records

KIND = "people_import"
CHUNK = 1000  # rows per transaction: a few statements each, progress written between them
MAX_BYTES = 200 * 1024 * 1024  # about 1.5 million rows of the template's columns
RESULT_HEADER = ["行号", "身份证号", "姓名", "结果", "原因"]

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A saved upload whose encoding and header have been checked."""

    path: str
    filename: str
    kind: str  # csv | xlsx
    encoding: str | None
    positions: dict  # field → column index
    total: int | None  # data rows (CSV: lines after the header; XLSX: as the sheet says)

    def params(self) -> dict:
        return asdict(self)


def import_dir() -> Path:
    path = Path(current_app.config.get("IMPORT_DIR") or Path(current_app.instance_path) / "imports")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def save_upload(stream, filename: str, *, limited: bool = True) -> Path:
    """Copy an upload to the import folder under a random name, readable by this user only (it
    holds ID numbers); refused beyond PEOPLE_IMPORT_MAX_BYTES unless not `limited` (the CLI)."""
    suffix = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    path = import_dir() / f"people-{secrets.token_hex(8)}{suffix}"
    limit = current_app.config.get("PEOPLE_IMPORT_MAX_BYTES", MAX_BYTES) if limited else float("inf")
    size = 0
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while block := stream.read(1 << 20):
            size += len(block)
            if size > limit:
                out.close()
                path.unlink()
                raise SheetError(f"文件超过{int(limit) // (1024 * 1024)}MB，请分成几个文件导入")
            out.write(block)
    if size == 0:
        path.unlink()
        raise SheetError("文件是空的")
    return path


def _csv_encoding(path: Path) -> tuple[str, int]:
    """(encoding, line count) in one pass over the bytes: UTF-8 (a BOM is dropped) if the whole
    file decodes as UTF-8, else GB18030 (what Excel in China saves as "CSV")."""
    decoders = {"utf-8-sig": codecs.getincrementaldecoder("utf-8-sig")(),
                "gb18030": codecs.getincrementaldecoder("gb18030")()}
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
            for name, decoder in list(decoders.items()):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    del decoders[name]
    for name, decoder in list(decoders.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del decoders[name]
    if not decoders:
        raise SheetError("文件编码无法识别，请另存为 UTF-8 或 GBK 编码的 CSV，或 Excel（.xlsx）文件")
    return next(iter(decoders)), lines + (last != b"\n")


def _is_xlsx(path: Path, filename: str) -> bool:
    with open(path, "rb") as handle:
        return filename.lower().endswith(".xlsx") or handle.read(2) == b"PK"


def prepare(path: Path, filename: str) -> Prepared:
    """Check a saved upload's encoding and header; raises SheetError saying what is wrong."""
    if _is_xlsx(path, filename):
        kind, encoding = "xlsx", None
        book = _open_book(path)
        try:
            sheet = book.worksheets[0]
            header = next(sheet.iter_rows(values_only=True, max_row=1), ())
            total = sheet.max_row - 1 if sheet.max_row else None
        finally:
            book.close()
    elif filename.lower().endswith((".csv", ".txt")) or "." not in filename:
        kind = "csv"
        encoding, lines = _csv_encoding(path)
        with open(path, encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle), [])
        total = max(lines - 1, 0)
    else:
        raise SheetError("只支持 CSV 或 Excel（.xlsx）文件")
    positions, missing = header_positions(header)
    if missing:
        raise SheetError("第一行表头缺少列：" + "、".join(missing) + "（可下载模板对照）")
    return Prepared(str(path), filename, kind, encoding, positions, total)


def _open_book(path):
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise SheetError("无法读取该Excel文件，请确认是 .xlsx 格式（不支持旧版 .xls）") from None


def rows(prepared: Prepared):
    """(line number, cells) of every data row, one at a time; blank rows are skipped."""
    if prepared.kind == "xlsx":
        book = _open_book(prepared.path)
        try:
            for line, cells in enumerate(book.worksheets[0].iter_rows(values_only=True, min_row=2), start=2):
                if any(cell is not None and str(cell).strip() for cell in cells):
                    yield line, cells
        finally:
            book.close()
        return
    with open(prepared.path, encoding=prepared.encoding, newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for line, cells in enumerate(reader, start=2):
            if any(cell.strip() for cell in cells):
                yield line, cells


def _masked_row(line: int, raw: dict, status: str, reason: str) -> list:
    number = raw.get("id_number")
    number = normalize_id_number(str(number)) if number is not None else ""
    name = str(raw.get("name") or "").strip()
    return [line, mask_id_number(number), mask_name(name), status, mask_text(reason)]


def _actor(task) -> audit.Actor:
    user = db.session.get(StaffUser, task.created_by_id) if task.created_by_id else None
    return audit.Actor.for_staff(user) if user is not None else audit.Actor.system("命令行导入")


def result_path(task) -> Path | None:
    name = (task.result or {}).get("result_file")
    return import_dir() / name if name else None


@handler(KIND)
def run_import(task, report) -> dict:
    prepared = Prepared(**task.params)
    session = db.session
    regions, today, scope = RegionBook.load(session), local_today(), task.region_code
    origin = f"导入#{task.id} {prepared.filename}"[:120]
    counts, processed = Counter(), 0
    result_name = f"people-import-{task.id}-result.csv"
    try:
        with open(import_dir() / result_name, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(RESULT_HEADER)
            source = rows(prepared)
            while chunk := list(islice(source, CHUNK)):
                lines = _import_chunk(session, chunk, prepared.positions, regions, today, scope, origin, counts)
                writer.writerows([[safe_cell(value) for value in line] for line in lines])
                processed += len(chunk)
                report(processed=processed, succeeded=counts["created"] + counts["updated"] + counts["unchanged"],
                       rejected=counts[REJECTED], total=max(prepared.total or 0, processed))
    except UnicodeDecodeError:
        raise SheetError("文件中有无法识别的字符，请另存为 UTF-8 编码的 CSV 后重新导入") from None
    finally:
        Path(prepared.path).unlink(missing_ok=True)
    result = {"filename": prepared.filename, "rows": processed, "created": counts["created"],
              "updated": counts["updated"], "unchanged": counts["unchanged"], "rejected": counts[REJECTED],
              "noted": counts["noted"], "result_file": result_name}
    audit.record(session, _actor(task), "people.import", region_code=scope,
                 details={"task_id": task.id, **{k: v for k, v in result.items() if k != "result_file"}})
    session.commit()
    return result


def _import_chunk(session, chunk, positions, regions, today, scope, origin, counts) -> list[list]:
    """Check and merge one chunk (the caller commits); the result file's lines for it, in line order."""
    lines, items, raws = [], [], {}
    for line, cells in chunk:
        raw = row_values(cells, positions)
        incoming, errors = clean_record(raw, regions, today, ref=line)
        if errors:
            counts[REJECTED] += 1
            lines.append(_masked_row(line, raw, OUTCOME_LABELS[REJECTED], describe(errors)))
        else:
            items.append(incoming)
            raws[line] = raw
    for outcome in apply_records(session, items, source="import", origin=origin, scope_region=scope):
        counts[outcome.status] += 1
        line = outcome.incoming.ref
        if not outcome.accepted:
            lines.append(_masked_row(line, raws[line], OUTCOME_LABELS[REJECTED], outcome.message))
        elif outcome.notes:
            counts["noted"] += 1
            lines.append(_masked_row(line, raws[line], f"{OUTCOME_LABELS[outcome.status]}（有提示）",
                                     "；".join(outcome.notes)))
    return sorted(lines, key=lambda row: row[0])  # committed with the progress (report)


def template_csv() -> bytes:
    """The import template: the headers and one example row."""
    from .fields import HINTS, LABELS

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([LABELS[name] for name in HINTS])
    writer.writerow([example for _hint, example in HINTS.values()])
    return out.getvalue().encode("utf-8-sig")
