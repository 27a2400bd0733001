"""资金拨付表: what the bureau pays, per payee, with the account to pay to — the sheet the finance
bureau stamps (seed 003 §三(九): "将系统生成的资金拨付表盖章后报同级财政部门"). It is printed as it
is: 30 lines a page, each page with its own total, the grand total at the end, and the lines for
signatures. The only export that carries full account numbers; ID numbers stay masked."""
import csv
import io
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.pagebreak import Break
from sqlalchemy import and_, select

from ..models import Institution, PayeeAccount, Person, Region, Settlement, SettlementLine, Voucher
from ..models.settlement import ACCOUNT_ACTIVE, LINE_APPROVED, PAYEE_KINDS
from ..spreadsheets import safe_cell
from ..timeutil import local_today

LINES_PER_PAGE = 30
HEADER = ["序号", "收款方类型", "收款方", "户名", "开户行", "账号", "金额（元）", "券数", "券码", "结算申请编号", "银行回单号"]
AMOUNT_COLUMN, ACCOUNT_COLUMN = HEADER.index("金额（元）"), HEADER.index("账号")
SIGNATURES = "经办人：　　　　　复核人：　　　　　负责人：　　　　　（单位盖章）"


@dataclass
class Entry:
    payee_kind: str
    payee: str
    account_name: str
    bank_name: str
    account_number: str
    amount_fen: int
    codes: list[str]
    settlement_id: int
    reference: str


@dataclass
class Sheet:
    title: str
    bureau: str
    entries: list[Entry]
    # Lines left out because their payee has no account yet: they cannot be paid, so the sheet
    # the finance bureau stamps does not count them (entries, total in fen).
    missing_accounts: tuple[int, int] = (0, 0)

    @property
    def total_fen(self) -> int:
        return sum(entry.amount_fen for entry in self.entries)

    @property
    def pages(self) -> list[list[Entry]]:
        return [self.entries[i:i + LINES_PER_PAGE] for i in range(0, len(self.entries), LINES_PER_PAGE)] or [[]]


def build(session, *, region_code: str, settlement_ids=None, unpaid_only: bool = True, region_prefix=None) -> Sheet:
    """One entry per payee and settlement (and bank batch, once paid): approved lines not yet paid
    (`unpaid_only`, the sheet made before paying), or every approved line of `settlement_ids`.
    Paid lines show the account they were paid to; unpaid ones the account in force now."""
    from ..models import under_prefix

    query = (
        select(SettlementLine.settlement_id, Settlement.person_id, Institution.name, Person.name, Voucher.code,
               SettlementLine.approved_amount_fen, SettlementLine.amount_fen, SettlementLine.paid_at,
               SettlementLine.payment_batch_id, SettlementLine.payee_account_id,
               Settlement.institution_id)
        .join(Settlement, Settlement.id == SettlementLine.settlement_id)
        .join(Voucher, Voucher.id == SettlementLine.voucher_id)
        .outerjoin(Institution, Institution.id == Settlement.institution_id)
        .outerjoin(Person, Person.id == Settlement.person_id)
        .where(SettlementLine.decision == LINE_APPROVED)
        .order_by(SettlementLine.settlement_id, SettlementLine.id)
    )
    if settlement_ids is not None:
        query = query.where(SettlementLine.settlement_id.in_(list(settlement_ids)))
    if region_prefix is not None:
        query = query.where(under_prefix(Settlement.region_code, region_prefix))
    if unpaid_only:
        query = query.where(SettlementLine.paid_at.is_(None))
    rows = session.execute(query).all()

    accounts = _accounts(session, rows)
    references = _references(session, {row.payment_batch_id for row in rows if row.payment_batch_id})
    grouped: dict[tuple, Entry] = {}
    for (settlement_id, person_id, institution_name, person_name, code, approved, computed, paid_at, batch_id,
         paid_account_id, institution_id) in rows:
        account = accounts.get(("id", paid_account_id)) if paid_account_id else (
            accounts.get(("person", person_id)) if person_id else accounts.get(("institution", institution_id)))
        kind = "worker" if person_id else "institution"
        key = (settlement_id, batch_id)
        entry = grouped.get(key)
        if entry is None:
            entry = grouped[key] = Entry(
                PAYEE_KINDS[kind], person_name if person_id else institution_name,
                account.account_name if account else "", account.bank_name if account else "",
                account.account_number if account else "", 0, [], settlement_id, references.get(batch_id, ""))
        entry.amount_fen += approved if approved is not None else computed
        entry.codes.append(code)
    bureau = session.scalar(select(Region.name).where(Region.code == region_code)) or region_code
    title = "资金拨付表（待拨付）" if unpaid_only else "资金拨付表"
    payable = [e for e in grouped.values() if e.account_number]
    missing = [e for e in grouped.values() if not e.account_number]
    return Sheet(title, f"{bureau}人力资源和社会保障局", payable,
                 (len(missing), sum(e.amount_fen for e in missing)))


def _accounts(session, rows) -> dict:
    """The accounts the entries name, in three queries at most, whatever the number of lines."""
    accounts = {}
    paid_ids = {row.payee_account_id for row in rows if row.payee_account_id}
    if paid_ids:
        for account in session.scalars(select(PayeeAccount).where(PayeeAccount.id.in_(paid_ids))):
            accounts[("id", account.id)] = account
    for column, kind, ids in ((PayeeAccount.person_id, "person", {r.person_id for r in rows if r.person_id}),
                              (PayeeAccount.institution_id, "institution",
                               {r.institution_id for r in rows if not r.person_id and r.institution_id})):
        if ids:
            for account in session.scalars(select(PayeeAccount).where(
                    and_(column.in_(ids), PayeeAccount.status == ACCOUNT_ACTIVE)).order_by(PayeeAccount.id)):
                accounts[(kind, getattr(account, column.key))] = account
    return accounts


def _references(session, batch_ids: set) -> dict:
    from ..models import PaymentBatch

    if not batch_ids:
        return {}
    return dict(session.execute(select(PaymentBatch.id, PaymentBatch.reference)
                                .where(PaymentBatch.id.in_(batch_ids))).all())


def _table(sheet: Sheet) -> list[list]:
    """The printed rows: entries, a 本页合计 after every page, 总计 at the end."""
    rows, number = [], 0
    for page in sheet.pages:
        for entry in page:
            number += 1
            rows.append([number, entry.payee_kind, entry.payee, entry.account_name, entry.bank_name,
                         entry.account_number, entry.amount_fen / 100, len(entry.codes), "、".join(entry.codes),
                         entry.settlement_id, entry.reference])
        rows.append(["本页合计", "", "", "", "", "", sum(e.amount_fen for e in page) / 100,
                     sum(len(e.codes) for e in page), "", "", ""])
    rows.append(["总计", "", "", "", "", "", sheet.total_fen / 100, sum(len(e.codes) for e in sheet.entries),
                 "", "", ""])
    return rows


def _missing_note(sheet: Sheet) -> str | None:
    count, total = sheet.missing_accounts
    if not count:
        return None
    return f"另有 {count} 笔共 {total / 100:,.2f} 元因收款方缺少收款账户未列入本表，补充账户后再行拨付。"


def csv_bytes(sheet: Sheet) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([sheet.title, sheet.bureau, f"制表日期 {local_today().isoformat()}"])
    writer.writerow(HEADER)
    for row in _table(sheet):
        writer.writerow([_csv_cell(column, value) for column, value in enumerate(row)])
    if _missing_note(sheet):
        writer.writerow([_missing_note(sheet)])
    writer.writerow([SIGNATURES])
    return out.getvalue().encode("utf-8-sig")


def _csv_cell(column: int, value):
    if column == AMOUNT_COLUMN:
        return f"{value:.2f}"
    if column == ACCOUNT_COLUMN and value:
        # Opened in Excel or WPS, a 19-digit account number would read 6.22848E+18, its last digits
        # gone for good: a leading tab keeps the cell text, every digit shown.
        return "\t" + value
    return safe_cell(value)


def xlsx_bytes(sheet: Sheet) -> bytes:
    book = Workbook()
    ws = book.active
    ws.title = "资金拨付表"
    ws.append([f"{sheet.bureau} {sheet.title}"])
    ws.append([f"制表日期 {local_today().isoformat()}　　金额单位：元"])
    ws.append(HEADER)
    thin = Side(style="thin")
    per_page = LINES_PER_PAGE + 1  # the entries and the page's total
    table = _table(sheet)
    for index, row in enumerate(table):
        ws.append([safe_cell(v) for v in row])
        current = ws.max_row
        ws.cell(current, 7).number_format = "#,##0.00"
        for cell in ws[current]:
            cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
        if row[0] in ("本页合计", "总计"):
            for cell in ws[current]:
                cell.font = Font(bold=True)
            if row[0] == "本页合计" and (index + 1) % per_page == 0 and index + 2 < len(table):
                ws.row_breaks.append(Break(id=current))
    if _missing_note(sheet):
        ws.append([_missing_note(sheet)])
    ws.append([SIGNATURES])
    ws["A1"].font = Font(bold=True, size=14)
    for column, width in zip("ABCDEFGHIJK", (8, 10, 24, 20, 24, 24, 14, 8, 40, 12, 20)):
        ws.column_dimensions[column].width = width
    for (cell,) in ws.iter_rows(min_row=4, min_col=9, max_col=9):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.print_title_rows = "3:3"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

