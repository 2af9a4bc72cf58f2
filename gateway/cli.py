"""`gateway serve | migrate | admin ...`: stable commands that scripts can drive.

Admin commands print JSON on stdout (`token create` prints only the token);
errors are one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.admin import Admin, parse_duration
from gateway.db.identity import IdentityRepository
from gateway.db.migrate import MigrationError, apply_migrations
from gateway.db.pool import open_database
from gateway.errors import GatewayError
from gateway.events import cli as events_cli
from gateway.logs import configure_logging, get_logger
from gateway.settings import Settings, SettingsError, parse_bool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")

    commands.add_parser("migrate", help="apply pending database migrations")

    admin = commands.add_parser("admin", help="manage projects, users, members and tokens")
    objects = admin.add_subparsers(dest="object", required=True)

    project = objects.add_parser("project").add_subparsers(dest="action", required=True)
    project_create = project.add_parser("create", help="create a project; prints it as JSON")
    project_create.add_argument("path", help="full path, such as group/project")
    project_create.add_argument("--public", action="store_true", help="anyone may download")

    user = objects.add_parser("user").add_subparsers(dest="action", required=True)
    user.add_parser("create", help="create a user; prints it as JSON").add_argument("username")

    member = objects.add_parser("member").add_subparsers(dest="action", required=True)
    member_add = member.add_parser("add", help="add a user to a project or change their role")
    member_add.add_argument("--project", required=True, help="project path or id")
    member_add.add_argument("--user", required=True, help="user name")
    member_add.add_argument("--role", required=True,
                            choices=["guest", "reporter", "developer", "maintainer", "owner"])

    group = objects.add_parser("group").add_subparsers(dest="action", required=True)
    group.add_parser("create", help="create a group (and its parents)").add_argument("path")
    group_settings = group.add_parser("settings", help="show or change a group's package settings")
    group_settings.add_argument("path", metavar="GROUP")
    group_settings.add_argument("--duplicates-allowed", type=_bool, metavar="true|false",
                                help="whether a file name may be uploaded twice to one package")
    group_settings.add_argument("--exception-regex", metavar="RE",
                                help="package names or versions that invert the setting ('' clears)")

    token = objects.add_parser("token").add_subparsers(dest="action", required=True)
    token_create = token.add_parser("create", help="create a personal access token; prints only it")
    token_create.add_argument("--user", required=True)
    token_create.add_argument("--scopes", required=True, help="comma-separated: api, read_api")
    token_create.add_argument("--name", help="a label for the token")
    token_create.add_argument("--expires-at", type=_date, help="YYYY-MM-DD; no expiry if absent")
    deploy = token.add_parser("create-deploy", help="create a project deploy token; prints only it")
    deploy.add_argument("--project", required=True, help="project path or id")
    deploy.add_argument("--scopes", required=True,
                        help="comma-separated: read_package_registry, write_package_registry")
    deploy.add_argument("--name", help="a label for the token")
    deploy.add_argument("--expires-at", type=_date, help="YYYY-MM-DD; no expiry if absent")
    job = token.add_parser("create-job", help="create a CI job token; prints only it")
    job.add_argument("--project", required=True, help="project path or id")
    job.add_argument("--user", required=True, help="the user the job runs as")
    job.add_argument("--expires-in", default="1h", help="such as 30m, 1h, 2d (default 1h)")
    token.add_parser("revoke", help="revoke a token of any kind").add_argument("token_id", type=int)
    token_list = token.add_parser("list", help="list tokens (never their secrets)")
    token_list.add_argument("--user")
    token_list.add_argument("--project")

    events_cli.add_parsers(objects)

    protection = objects.add_parser("protection").add_subparsers(dest="action", required=True)
    rule_add = protection.add_parser("add", help="protect package names from pushes below a role")
    rule_add.add_argument("--project", required=True)
    rule_add.add_argument("--pattern", required=True, help="package name; * matches anything")
    rule_add.add_argument("--minimum-access-level-for-push", required=True,
                          choices=["maintainer", "owner"])
    protection.add_parser("list").add_argument("--project", required=True)
    protection.add_parser("remove").add_argument("rule_id", type=int)
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not true or false: {text!r}") from None


def _scope_list(text: str) -> list[str]:
    return [scope.strip() for scope in text.split(",") if scope.strip()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            settings = settings.replace(
                host=args.host or settings.host,
                port=settings.port if args.port is None else args.port,
            )
            settings.validate()
        configure_logging(settings.log_level, settings.log_format,
                          stream=sys.stdout if args.command == "serve" else sys.stderr)
        if args.command == "serve":
            serve(settings)
            return 0
        output = asyncio.run(_run_with_database(settings, _command(args, settings)))
    except (SettingsError, GatewayError, MigrationError) as exc:
        print(f"gateway: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    if output is not None:
        print(output if isinstance(output, str) else json.dumps(output))
    return 0


def _one_line(exc: Exception) -> str:
    text = exc.message if isinstance(exc, GatewayError) else str(exc)
    return " ".join(text.split())


def _command(args: argparse.Namespace, settings: Settings) -> Callable[[Admin, Any], Awaitable[Any]]:
    if args.command == "migrate":
        async def migrate(_: Admin, pool: Any) -> Any:
            async with pool.acquire() as conn:
                return {"applied": await apply_migrations(conn)}
        return migrate
    commands: dict[tuple[str, str], Callable[[Admin], Awaitable[Any]]] = {
        ("project", "create"): lambda a: a.create_project(args.path, args.public),
        ("group", "create"): lambda a: a.create_group(args.path),
        ("group", "settings"): lambda a: a.group_settings(args.path, args.duplicates_allowed,
                                                          args.exception_regex),
        ("user", "create"): lambda a: a.create_user(args.username),
        ("member", "add"): lambda a: a.add_member(args.project, args.user, args.role),
        ("token", "create"): lambda a: a.create_personal_token(
            args.user, _scope_list(args.scopes), args.name, args.expires_at),
        ("token", "create-deploy"): lambda a: a.create_deploy_token(
            args.project, _scope_list(args.scopes), args.name, args.expires_at),
        ("token", "create-job"): lambda a: a.create_job_token(
            args.project, args.user, parse_duration(args.expires_in)),
        ("token", "revoke"): lambda a: a.revoke_token(args.token_id),
        ("token", "list"): lambda a: a.list_tokens(args.user, args.project),
        ("protection", "add"): lambda a: a.add_protection_rule(
            args.project, args.pattern, args.minimum_access_level_for_push),
        ("protection", "list"): lambda a: a.list_protection_rules(args.project),
        ("protection", "remove"): lambda a: a.remove_protection_rule(args.rule_id),
    }
    if args.object in events_cli.OBJECTS:
        return events_cli.command(args, settings)
    action = (args.object, args.action)
    if action in commands:
        run = commands[action]
        return lambda admin, _: run(admin)
    raise AssertionError(f"unhandled command {action}")


async def _run_with_database(settings: Settings, command: Callable[[Admin, Any], Awaitable[Any]]) -> Any:
    # `migrate` applies migrations itself; every other command needs them applied.
    async with open_database(settings, migrate=True) as pool:
        return await command(Admin(IdentityRepository(pool)), pool)


def serve(settings: Settings) -> None:
    from aiohttp import web

    from gateway.app import create_app

    log = get_logger("gateway")
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port,
        access_log=None,  # the request middleware writes one canonical line instead
        print=lambda message: log.info("listening", host=settings.host, port=settings.port,
                                       storage="s3" if settings.s3 else "fs"),
        shutdown_timeout=30,
    )
