"""Flask commands, grouped by area: demo, users, apikeys, channels, vouchers, jobs, stats."""
import secrets

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from . import staffing
from .auth.forms import generate_password, password_problem
from .extensions import db
from .models import ApiKey, Channel, Institution, Region, StaffUser
from .models.integration import SCOPE_BUREAU, SCOPE_CHANNEL, SCOPE_INSTITUTION
from .models.staff import BUREAU, STAFF_ROLES

users = AppGroup("users", help="工作人员账户 / staff accounts")
apikeys = AppGroup("apikeys", help="合作方 API 密钥 / partner API keys")
channels = AppGroup("channels", help="登录渠道 / SSO channels")
vouchers = AppGroup("vouchers", help="培训券定时任务 / voucher jobs")
jobs = AppGroup("jobs", help="就业岗位 / job postings")
stats = AppGroup("stats", help="查询统计 / supervision statistics")
settlements = AppGroup("settlements", help="结算核销 / settlements")
certificates = AppGroup("certificates", help="培训证书 / certificates")


@users.command("create")
@click.option("--username", required=True)
@click.option("--name", required=True, help="姓名")
@click.option("--role", type=click.Choice(sorted(STAFF_ROLES)), required=True)
@click.option("--region", "region_code", help="人社部门账户的地区代码（6位）")
@click.option("--institution", "institution_code", help="机构账户所属机构编码")
@click.option("--supervisor", is_flag=True, help="人社部门主管（可添加经办人员）")
@click.option("--password", help="不填则随机生成并显示一次")
def create_user(username, name, role, region_code, institution_code, supervisor, password):
    """创建工作人员账户。"""
    if staffing.username_taken(db.session, username):
        raise click.ClickException(f"用户名 {username} 已存在")
    user = StaffUser(username=username, name=name, role=role, is_supervisor=supervisor)
    if role == BUREAU:
        if not region_code or not db.session.scalar(select(Region.id).where(Region.code == region_code)):
            raise click.ClickException("人社部门账户需要 --region，且地区代码须已存在")
        user.region_code = region_code
    else:
        institution = db.session.scalar(select(Institution).where(Institution.code == (institution_code or "")))
        if institution is None:
            raise click.ClickException("机构账户需要 --institution，且机构编码须已存在")
        user.institution_id = institution.id
    generated = password is None
    password = password or generate_password()
    problem = password_problem(password)
    if problem:
        raise click.ClickException(problem)
    user.set_password(password)
    user.must_change_password = generated
    db.session.add(user)
    db.session.commit()
    click.echo(f"已创建 {STAFF_ROLES[role]} 账户 {username}")
    if generated:
        click.echo(f"初始密码（只显示这一次）：{password}")


@apikeys.command("create")
@click.option("--name", help="用途说明，例如 省就业平台")
@click.option("--bureau", "bureau", help="人社部门的地区代码")
@click.option("--institution", "institution", help="机构编码")
@click.option("--channel", "channel", help="渠道代码")
@click.option("--scope", type=click.Choice([SCOPE_BUREAU, SCOPE_INSTITUTION, SCOPE_CHANNEL]), help="（旧写法）范围")
@click.option("--code", help="（旧写法）地区代码 / 机构编码 / 渠道代码")
def create_apikey(name, bureau, institution, channel, scope, code):
    """创建 API 密钥：只显示一次，库中只存 SHA-256 摘要。"""
    from .api.keys import create_key

    given = [(s, c) for s, c in ((SCOPE_BUREAU, bureau), (SCOPE_INSTITUTION, institution), (SCOPE_CHANNEL, channel),
                                 (scope, code)) if s and c]
    if len(given) != 1:
        raise click.ClickException("请只指定一个范围：--bureau 地区代码、--institution 机构编码 或 --channel 渠道代码")
    scope, code = given[0]
    try:
        key, token = create_key(db.session, name or f"{scope}:{code}", scope, code)
    except LookupError as missing:
        raise click.ClickException(str(missing)) from None
    click.echo(f"已创建 {key.prefix}（{scope}:{code}）")
    click.echo(f"API 密钥（只显示这一次，请妥善保存）：\n{token}")


@apikeys.command("revoke")
@click.argument("prefix")
def revoke_apikey(prefix):
    """按前缀吊销 API 密钥。"""
    from .api.keys import revoke_key

    if revoke_key(db.session, prefix) is None:
        raise click.ClickException("找不到该密钥")
    click.echo(f"已吊销 {prefix}")


@apikeys.command("list")
def list_apikeys():
    """列出 API 密钥（不含密钥本身）。"""
    for key in db.session.scalars(select(ApiKey).order_by(ApiKey.id)):
        state = "已吊销" if key.revoked_at else "有效"
        used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "从未使用"
        click.echo(f"{key.prefix}\t{key.scope_type}:{key.scope_code}\t{key.name}\t{state}\t{used}")


@channels.command("create")
@click.option("--code", required=True, help="渠道代码，用在 /sso/<代码>")
@click.option("--name", required=True, help="渠道名称，例如 智慧人社")
def create_channel(code, name):
    """创建登录渠道并显示其签名密钥。"""
    if db.session.scalar(select(Channel.id).where(Channel.code == code)):
        raise click.ClickException(f"渠道 {code} 已存在")
    secret = secrets.token_urlsafe(32)
    db.session.add(Channel(code=code, name=name, secret=secret))
    db.session.commit()
    click.echo(f"已创建渠道 {name}（{code}）\n登录地址：/sso/{code}?ticket=...\n签名密钥（交给渠道方）：{secret}")


@channels.command("secret")
@click.argument("code")
def channel_secret(code):
    """显示渠道的签名密钥（交给渠道方配置）。"""
    channel = db.session.scalar(select(Channel).where(Channel.code == code))
    if channel is None:
        raise click.ClickException(f"找不到渠道 {code}")
    click.echo(channel.secret)


@vouchers.command("expire")
def expire_command():
    """把已过期未使用的培训券记为“已失效”，并提醒7天内到期的持券人。"""
    from .vouchers.lifecycle import expire_overdue, notify_expiring

    expired = expire_overdue(db.session)
    warned = notify_expiring(db.session)
    click.echo(f"已失效 {expired} 张；发送到期提醒 {warned} 条")


@jobs.command("recommend")
def recommend_command():
    """向已授权的劳动者推送与其培训、证书匹配的新岗位（每个岗位只推一次）。"""
    from .recommendations import notify_recommendations

    click.echo(f"发送岗位推荐 {notify_recommendations(db.session)} 条")


@stats.command("rollup")
@click.option("--rebuild", is_flag=True, help="清空后按全部培训券重新统计")
def rollup_command(rebuild):
    """把已结束各日的发券、领券、用券、核销数汇总到日统计表（每日凌晨运行；查询统计页面也会自动补齐）。"""
    from .statistics.rollup import roll_up

    click.echo(f"写入日统计 {roll_up(db.session, rebuild=rebuild)} 行")


@settlements.command("match")
@click.option("--region", "region_code", help="只匹配该地区发放的培训券（6位地区代码）；不填为全部地区")
def match_command(region_code):
    """比对证书与已使用的通用券，为应补贴劳动者本人的人员生成结算（每晚运行；重复运行不会重复生成）。"""
    from .vouchers import audit
    from .vouchers.settlement import match_worker_subsidies

    if region_code and not db.session.scalar(select(Region.id).where(Region.code == region_code)):
        raise click.ClickException(f"地区代码 {region_code} 不存在")
    made = match_worker_subsidies(db.session, region_code, audit.Actor.system("证书比对"))
    click.echo(f"新生成劳动者本人补贴结算 {len(made)} 笔")


@certificates.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--region", "region_code", required=True, help="导入证书的人社部门地区代码（6位）")
def import_certificates_command(path, region_code):
    """从 CSV（UTF-8/GBK）或 Excel 导入培训证书；列：身份证号、姓名、证书编号、职业、等级、发证日期、发证机构。
    证书使劳动者本人补贴到期的，同时生成结算。"""
    from pathlib import Path

    from .vouchers import audit
    from .vouchers.certificates import import_certificates
    from .vouchers.errors import ValidationFailed

    if not db.session.scalar(select(Region.id).where(Region.code == region_code)):
        raise click.ClickException(f"地区代码 {region_code} 不存在")
    file = Path(path)
    actor = audit.Actor("system", None, f"证书导入 {file.name}", region_code=region_code)
    try:
        report = import_certificates(db.session, file.name, file.read_bytes(), actor)
    except ValidationFailed as refusal:
        lines = [refusal.message] + [f"第{row['line']}行：{row['message']}" for row in refusal.details.get("rows", [])]
        raise click.ClickException("\n".join(lines)) from None
    click.echo(f"已导入证书 {report.added} 张；新生成劳动者本人补贴结算 {report.matched} 笔")


@click.command("demo")
def demo_command():
    """生成演示数据（地区、政策、机构、班期、券模板、劳动者、工作人员）并显示登录方式。"""
    from .demo.seed import seed_demo

    if not current_app.config["DEMO_MODE"]:
        raise click.ClickException("演示数据只能在演示模式下生成（H5APP_ENV=development 或 DEMO_MODE=1）：它带有公开的演示密码")
    for line in seed_demo(db.session):
        click.echo(line)


def register(app: Flask) -> None:
    from .people.cli import people

    app.cli.add_command(people)
    for group in (users, apikeys, channels, vouchers, jobs, stats, settlements, certificates):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    app.cli.add_command(apikeys, name="api-key")  # the name the partner API docs use
