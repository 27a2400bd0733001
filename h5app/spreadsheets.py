"""Reading uploaded rosters (CSV in UTF-8 or GBK, XLSX) and writing exports (CSV, XLSX) that a
spreadsheet cannot mistake for formulas."""
import csv
import io
import zipfile

from flask import Response, send_file
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from .vouchers.errors import ValidationFailed

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class SheetError(ValidationFailed):
    """The file itself cannot be read as the table asked for (its rows are judged by the service)."""


def safe_cell(value):
    """A text cell starting like a formula gets a leading apostrophe, so Excel and WPS show it as
    text instead of running it (CSV/formula injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetError("文件编码无法识别，请另存为 UTF-8 编码的 CSV 或 Excel（.xlsx）文件")


class Table(list):
    """The rows of a sheet that hold anything, header first, with the line of the file each is on
    (`lines`): a blank line is dropped but still counted, so a message names the line the user sees."""

    def __init__(self, numbered: list[tuple[int, list[str]]]):
        super().__init__(row for _line, row in numbered)
        self.lines = [line for line, _row in numbered]


class Row(dict):
    """One record of a table by field, with the `line` of the file it came from."""

    line: int


def read_table(filename: str, data: bytes) -> Table:
    """All rows of the first sheet as text, header row included; blank rows left out (counted)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise SheetError("文件超过2MB，请分批上传")
    if not data.strip():
        raise SheetError("文件是空的")
    name = (filename or "").lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
            raise SheetError("无法读取该Excel文件，请确认是 .xlsx 格式（不支持旧版 .xls）") from None
        sheet = book.worksheets[0]
        rows = [["" if cell is None else str(cell).strip() for cell in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
    elif name.endswith(".csv") or name.endswith(".txt") or not name:
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(_decode(data)))]
    else:
        raise SheetError("只支持 CSV 或 Excel（.xlsx）文件")
    table = Table([(line, row) for line, row in enumerate(rows, start=1) if any(row)])
    if len(table) > MAX_ROWS + 1:
        raise SheetError(f"一次最多上传{MAX_ROWS}行，请分批上传")
    return table


def records(rows: list[list[str]], columns: dict[str, tuple[str, ...]], required: set[str]) -> list[Row]:
    """Rows as dicts keyed by field, finding each field's column by any of its header names; each
    knows its line in the file (the Table's, else counted from the header as line 1)."""
    if not rows:
        raise SheetError("文件中没有数据")
    header = [cell.strip().lower() for cell in rows[0]]
    positions = {}
    for field, names in columns.items():
        for name in names:
            if name.lower() in header:
                positions[field] = header.index(name.lower())
                break
    missing = [columns[field][0] for field in columns if field in required and field not in positions]
    if missing:
        raise SheetError("表头缺少列：" + "、".join(missing) + "（第一行应为表头）")
    lines = getattr(rows, "lines", range(1, len(rows) + 1))
    found = []
    for line, row in zip(lines[1:], rows[1:], strict=True):
        record = Row({field: (row[i] if i < len(row) else "") for field, i in positions.items()})
        record.line = line
        found.append(record)
    return found


def numbers(rows: list[dict]) -> list[int]:
    """What each row is called in a message: its line in the file for the records of a table, its
    place in the list (from 1) for rows sent otherwise (the API's)."""
    return [getattr(row, "line", place) for place, row in enumerate(rows, start=1)]


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[safe_cell(v) for v in row] for row in rows])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def xlsx_bytes(title: str, header: list[str], rows: list[list], formats: dict[int, str] | None = None) -> bytes:
    return xlsx_book([(title, header, rows, formats or {})])


def xlsx_book(sheets: list[tuple]) -> bytes:
    """A workbook of (title, header, rows[, {column index: number format}]) sheets, every text cell
    formula-safe; numbers stay numbers, shown in the column's number format (e.g. "0%")."""
    book = Workbook()
    book.remove(book.active)
    for title, header, rows, *rest in sheets:
        formats = rest[0] if rest else {}
        sheet = book.create_sheet(title[:31])
        sheet.append(header)
        for row in rows:
            sheet.append([safe_cell(v) for v in row])
        for index, number_format in formats.items():
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index + 1, max_col=index + 1):
                if isinstance(cell.value, (int, float)):
                    cell.number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(body: bytes, name: str, mimetype: str) -> Response:
    """A file to save, named as a clerk would name it (Chinese): Flask's send_file writes the
    Content-Disposition with the ASCII fallback and the UTF-8 name (RFC 6266). Kept by no cache:
    exports carry people's (masked) data and, the 资金拨付表, full account numbers."""
    response = send_file(io.BytesIO(body), mimetype=mimetype, as_attachment=True, download_name=name,
                         conditional=False, etag=False)
    response.headers["Cache-Control"] = "no-store"
    return response
