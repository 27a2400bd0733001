"""证书导入 in the bureau console: the certificate system's file, all or nothing, every bad row named
with its ID number masked. A certificate that makes a worker's own subsidy due (seed 003 §三(五))
submits that settlement in the same import, for 结算审核."""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from markupsafe import Markup

from ..access import BUREAU, roles_required
from ..extensions import db
from ..spreadsheets import csv_bytes, download
from ..vouchers import audit
from ..vouchers.certificates import COLUMNS, REQUIRED, import_certificates
from ..vouchers.errors import DomainError
from .forms import CertificateImportForm
from .routes import bp

# What each column holds, in the order of the template; the header is the column's first name.
COLUMN_HINTS = {
    "id_number": ("18位居民身份证号，须已有人员记录", "（18位身份证号）"),
    "name": ("与身份证号的实名信息一致", "张三"),
    "number": ("不能与已有证书重复，64个字符以内", "（证书编号）"),
    "occupation": ("与培训班期的职业（工种）一致才能比对补贴", "电工"),
    "level": ("如 四级", "四级"),
    "issued_on": ("如 2026-03-01 或 2026/3/1", "2026-03-01"),
    "issuer": ("发证机构全称", "绍兴市职业技能鉴定中心"),
    "certificate_name": ("选填，不填为“职业+等级职业技能等级证书”", ""),
}


def _columns() -> list[dict]:
    return [{"header": COLUMNS[field][0], "required": field in REQUIRED, "hint": hint}
            for field, (hint, _example) in COLUMN_HINTS.items()]


@bp.route("/certificates", methods=["GET", "POST"])
@roles_required(BUREAU)
def certificates():
    form = CertificateImportForm()
    message, errors = None, []
    if form.validate_on_submit():
        upload = form.file.data
        try:
            report = import_certificates(db.session, upload.filename, upload.read(),
                                         audit.Actor.for_staff(current_user))
        except DomainError as refusal:  # an unreadable file (SheetError) or bad rows: nothing was imported
            message, errors = refusal.message, refusal.details.get("rows", [])
        else:
            done = f"已导入证书{report.added}张，新生成劳动者本人补贴结算{report.matched}笔"
            if report.matched:
                flash(Markup('{}，<a href="{}">去结算审核</a>').format(done, url_for("bureau.settlements")), "success")
            else:
                flash(done, "success")
            return redirect(url_for("bureau.certificates"))
    return render_template("bureau/certificates.html", form=form, message=message, errors=errors,
                           columns=_columns()), (400 if message or form.errors else 200)


@bp.route("/certificates/template.csv")
@roles_required(BUREAU)
def certificate_template():
    body = csv_bytes([COLUMNS[field][0] for field in COLUMN_HINTS],
                     [[example for _hint, example in COLUMN_HINTS.values()]])
    return download(body, "证书导入模板.csv", "text/csv")
