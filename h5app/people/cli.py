"""`flask people import FILE [--region CODE]`: the bureau page's import from the command line, with a
progress bar, run in this process (a file of any size; the same task and checks as the page)."""
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from .. import tasks
from ..extensions import db
from ..models import BackgroundTask, Region
from ..spreadsheets import SheetError
from . import importer

people = AppGroup("people", help="人员信息 / people records")


@people.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", "region_code",
              help="只导入人员信息在该地区（6位地区代码）的人员，如同该地区人社部门在页面上导入；不填为全部地区")
def import_people_command(path: Path, region_code: str | None):
    """导入人员信息（CSV 或 Excel）：与“人员信息导入”页面相同的检查和规则。"""
    if region_code is not None and not db.session.scalar(select(Region.id).where(Region.code == region_code)):
        raise click.ClickException(f"地区代码 {region_code} 不存在")
    with open(path, "rb") as source:  # the task deletes its copy when it ends; the file given stays
        upload = importer.save_upload(source, path.name, limited=False)
    try:
        prepared = importer.prepare(upload, path.name)
    except SheetError as refusal:
        upload.unlink(missing_ok=True)
        raise click.ClickException(refusal.message) from None
    task = BackgroundTask(kind=importer.KIND, params=prepared.params(), region_code=region_code,
                          total=prepared.total)
    db.session.add(task)
    db.session.flush()
    task_id = task.id
    db.session.commit()
    with click.progressbar(length=prepared.total or 0, label="导入人员信息", show_pos=True,
                           item_show_func=lambda _item: None) as bar:
        def on_progress(row):
            bar.update(max(row.processed - bar.pos, 0))

        tasks.run(current_app._get_current_object(), task_id, on_progress=on_progress)
    db.session.expire_all()
    task = db.session.get(BackgroundTask, task_id)
    if task.status != "done":
        raise click.ClickException(task.error or "导入未完成")
    result = task.result
    click.echo(f"共{result['rows']}行：新增{result['created']}，更新{result['updated']}，"
               f"无变化{result['unchanged']}，未导入{result['rejected']}")
    if result["rejected"] or result["noted"]:
        click.echo(f"未导入和有提示的行（行号、原因，身份证号已脱敏）：{importer.result_path(task)}")
