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
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.admin import Admin, AdminError, CiPipeline, parse_duration
from gateway.configuration import (
    check_settings, describe, describe_database, render_table, require_embedded_cluster,
)
from gateway.db.inventory import InventoryRepository
from gateway.db.migrate import MigrationError, apply_migrations
from gateway.db.pool import open_database
from gateway.errors import GatewayError
from gateway.events import cli as events_cli
from gateway.logs import configure_logging
from gateway.server import StartupError, serve
from gateway.settings import Settings, SettingsError, parse_bool, read_sources
from gateway.storage import open_object_store, open_object_stores
from gateway.storage_migration import migrate_storage
from gateway.supervisor import supervise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve",
                                help="run the HTTP server (creates the database on first start)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="serving processes sharing the port, under one supervisor (default 1)")
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # set by the supervisor

    commands.add_parser("init",
                        help="create the database (embedded or GATEWAY_DATABASE_URL) and migrate it")
    commands.add_parser("migrate", help="apply pending database migrations")

    gc = commands.add_parser("gc", help="remove what failed or crashed uploads left in storage; "
                                        "prints a JSON summary")
    gc.add_argument("--min-age", type=_age, metavar="DURATION",
                    help="leave anything younger alone, such as 0s, 30m, 2h "
                         "(default: the upload timeout plus 10 minutes)")
    gc.add_argument("--dry-run", action="store_true", help="report what would go, remove nothing")

    config = commands.add_parser("config", help="show or check the effective settings")
    config_actions = config.add_subparsers(dest="action", required=True)
    config_show = config_actions.add_parser(
        "show", help="print each setting, where it came from, secrets masked")
    config_show.add_argument("--json", action="store_true", help="JSON instead of a table")
    config_actions.add_parser(
        "check", help="validate the settings, reach the database and the bucket")

    storage = commands.add_parser("storage", help="move package files between stores")
    storage_actions = storage.add_subparsers(dest="action", required=True)
    storage_migrate = storage_actions.add_parser(
        "migrate", help="copy every file to one store, check it, switch its row (resumable)")
    storage_migrate.add_argument("--to", required=True, choices=["s3", "fs"], dest="target",
                                 help="the store every file should end up in")

    admin = commands.add_parser("admin",
                                help="manage projects, users, members and tokens")
    objects = admin.add_subparsers(dest="object", required=True)

    project = objects.add_parser("project", help="create and list projects").add_subparsers(
        dest="action", required=True)
    project_create = project.add_parser("create", help="create a project; prints it as JSON")
    project_create.add_argument("path", help="full path, such as group/project")
    project_create.add_argument("--public", action="store_true", help="anyone may download")
    project.add_parser("list", help="list every project as JSON")

    user = objects.add_parser("user", help="create and list users").add_subparsers(
        dest="action", required=True)
    user.add_parser("create", help="create a user; prints it as JSON").add_argument("username")
    user.add_parser("list", help="list every user as JSON")

    member = objects.add_parser("member", help="give users roles in projects").add_subparsers(
        dest="action", required=True)
    member.add_parser("list", help="list a project's members and roles").add_argument(
        "--project", required=True, help="project path or id")
    member_add = member.add_parser("add", help="add a user to a project or change their role")
    member_add.add_argument("--project", required=True, help="project path or id")
    member_add.add_argument("--user", required=True, help="user name")
    member_add.add_argument("--role", required=True,
                            choices=["guest", "reporter", "developer", "maintainer", "owner"])

    package = objects.add_parser("package", help="list packages").add_subparsers(
        dest="action", required=True)
    package.add_parser("list", help="a project's packages with file counts and sizes").add_argument(
        "--project", required=True, help="project path or id")
    objects.add_parser("usage", help="bytes and files per project")

    group = objects.add_parser("group", help="create groups, change their package settings"
                               ).add_subparsers(dest="action", required=True)
    group.add_parser("create", help="create a group (and its parents)").add_argument("path")
    group_settings = group.add_parser("settings", help="show or change a group's package settings")
    group_settings.add_argument("path", metavar="GROUP")
    group_settings.add_argument("--duplicates-allowed", type=_bool, metavar="true|false",
                                help="whether a file name may be uploaded twice to one package")
    group_settings.add_argument("--exception-regex", metavar="RE",
                                help="package names or versions that invert the setting ('' clears)")

    token = objects.add_parser("token", help="create, list and revoke tokens").add_subparsers(
        dest="action", required=True)
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
    job.add_argument("--pipeline-id", type=_positive_int, help="the job's CI pipeline id")
    job.add_argument("--ref", help="the pipeline's branch or tag (needs --pipeline-id)")
    job.add_argument("--sha", help="the pipeline's commit (needs --pipeline-id)")
    job.add_argument("--job-id", type=_positive_int, help="the CI job id (needs --pipeline-id)")
    token.add_parser("revoke", help="revoke a token of any kind").add_argument("token_id", type=int)
    token_list = token.add_parser("list", help="list tokens (never their secrets)")
    token_list.add_argument("--user", help="only this user's tokens")
    token_list.add_argument("--project", help="only this project's tokens")

    events_cli.add_parsers(objects)

    protection = objects.add_parser("protection", help="package protection rules").add_subparsers(
        dest="action", required=True)
    rule_add = protection.add_parser("add", help="protect package names from pushes below a role")
    rule_add.add_argument("--project", required=True)
    rule_add.add_argument("--pattern", required=True, help="package name; * matches anything")
    rule_add.add_argument("--minimum-access-level-for-push", choices=["maintainer", "owner", "admin"])
    rule_add.add_argument("--minimum-access-level-for-delete",
                          choices=["maintainer", "owner", "admin"])
    protection.add_parser("list", help="a project's protection rules").add_argument(
        "--project", required=True, help="project path or id")
    protection.add_parser("remove", help="remove a protection rule").add_argument(
        "rule_id", type=int)
    _add_data_dir_option(parser)
    return parser


def _add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """`--data-dir` on every command, wherever it stands on the line, so a command
    run from another folder reads the same data directory."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _add_data_dir_option(sub)
    if parser.prog != "gateway":
        parser.add_argument("--data-dir", default=argparse.SUPPRESS, metavar="DIR",
                            help="the gateway's data directory (default: GATEWAY_DATA_DIR, "
                                 "else ./gateway-data)")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


def _age(text: str) -> dt.timedelta:
    try:
        return parse_duration(text, allow_zero=True)
    except GatewayError as exc:
        raise argparse.ArgumentTypeError(exc.detail or text) from None


def _bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not true or false: {text!r}") from None


def _pipeline(args: argparse.Namespace) -> CiPipeline | None:
    if args.pipeline_id is None:
        if args.ref is not None or args.sha is not None or args.job_id is not None:
            raise AdminError("--ref, --sha and --job-id need --pipeline-id")
        return None
    return CiPipeline(args.pipeline_id, args.ref, args.sha, args.job_id)


def _scope_list(text: str) -> list[str]:
    return [scope.strip() for scope in text.split(",") if scope.strip()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings, overrides = _settings_for(args)
        configure_logging(settings.log_level, settings.log_format,
                          stream=sys.stdout if args.command == "serve" else sys.stderr)
        if args.command == "serve":
            if args.workers > 1 and not args.worker:
                supervise(settings, args.workers)
            else:
                serve(settings, worker=args.worker)
            return 0
        if args.command == "config" and args.action == "show":
            rows = describe(settings, read_sources(), overrides)
            print(json.dumps(rows) if args.json else render_table(rows))
            return 0
        if args.command == "gc":
            from gateway.gc import run_collection

            require_embedded_cluster(settings, create=False)
            output = asyncio.run(run_collection(settings, args.min_age, args.dry_run))
            print(json.dumps(output))
            return 0
        output, status = asyncio.run(_run(settings, args))
    except (SettingsError, GatewayError, MigrationError, StartupError) as exc:
        print(f"gateway: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    if output is not None:
        print(output if isinstance(output, str) else json.dumps(output))
    return status


def _settings_for(args: argparse.Namespace) -> tuple[Settings, dict[str, str]]:
    """Settings from the environment, then what the command line says; `overrides`
    names the settings the command line set, for `config show`."""
    settings, overrides = Settings.from_env(), {}
    if "data_dir" in args:
        settings = settings.replace(data_dir=Path(args.data_dir))
        overrides["data_dir"] = "command line --data-dir"
    if args.command == "serve":
        if args.host:
            settings, overrides["host"] = settings.replace(host=args.host), "command line --host"
        if args.port is not None:
            settings, overrides["port"] = settings.replace(port=args.port), "command line --port"
    settings.validate()
    return settings, overrides


def _one_line(exc: Exception) -> str:
    text = exc.message if isinstance(exc, GatewayError) else str(exc)
    return " ".join(text.split())


def _admin_command(args: argparse.Namespace) -> Callable[[Admin], Awaitable[Any]]:
    commands: dict[tuple[str, str], Callable[[Admin], Awaitable[Any]]] = {
        ("project", "create"): lambda a: a.create_project(args.path, args.public),
        ("project", "list"): lambda a: a.list_projects(),
        ("user", "list"): lambda a: a.list_users(),
        ("member", "list"): lambda a: a.list_members(args.project),
        ("package", "list"): lambda a: a.list_packages(args.project),
        ("usage", None): lambda a: a.usage(),
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
            args.project, args.user, parse_duration(args.expires_in), _pipeline(args)),
        ("token", "revoke"): lambda a: a.revoke_token(args.token_id),
        ("token", "list"): lambda a: a.list_tokens(args.user, args.project),
        ("protection", "add"): lambda a: a.add_protection_rule(
            args.project, args.pattern, args.minimum_access_level_for_push,
            args.minimum_access_level_for_delete),
        ("protection", "list"): lambda a: a.list_protection_rules(args.project),
        ("protection", "remove"): lambda a: a.remove_protection_rule(args.rule_id),
    }
    action = (args.object, getattr(args, "action", None))
    if action in commands:
        return commands[action]
    raise AssertionError(f"unhandled command {action}")


from gateway.logs import configure_logging
from gateway.server import StartupError, serve
from gateway.settings import Settings, SettingsError, parse_bool, read_sources
from gateway.storage import open_object_store, open_object_stores
from gateway.storage_migration import migrate_storage
from gateway.supervisor import supervise


async def _run(settings: Settings, args: argparse.Namespace) -> tuple[Any, int]:
    """A command that needs the database: (what to print, exit status)."""
    if args.command == "config":
        report = await check_settings(settings)
        return report, 0 if report["ok"] else 1
    if args.command == "storage":
        return await _migrate_storage(settings, args.target)
    creating = args.command in {"init", "migrate"}
    # Only `init` may create an embedded cluster; `migrate` may fill an empty external
    # database (a deploy's migration job). Anything else finds an existing one or stops.
    require_embedded_cluster(settings, create=args.command == "init")
    async with open_database(settings, migrate=False) as pool:
        schema = await InventoryRepository(pool).schema_version()
        if schema is None and not creating:
            raise SettingsError(f"the database has no gateway schema yet; run `gateway init` first "
                                f"({describe_database(settings)})")
        if creating:
            if args.command == "init":
                async with open_object_store(settings):
                    pass  # the bucket is reachable, or the objects folder exists
            async with pool.acquire() as conn:
                applied = await apply_migrations(conn)
            return {"database": describe_database(settings), "applied": applied,
                    "schema_version": await InventoryRepository(pool).schema_version()}, 0
        async with pool.acquire() as conn:
            await apply_migrations(conn)  # an older schema is brought up to date first
        admin = Admin.for_pool(pool)
        if args.object in events_cli.OBJECTS:
            return await events_cli.command(args, settings)(admin, pool), 0
        return await _admin_command(args)(admin), 0


async def _migrate_storage(settings: Settings, target: str) -> tuple[Any, int]:
    if settings.s3 is None:
        raise SettingsError("storage migrate moves files between the local folder and S3: "
                            "set the GATEWAY_S3_* settings first")
    require_embedded_cluster(settings, create=False)

    def progress(done: int, total: int, moved_bytes: int) -> None:
        end = "\r" if sys.stderr.isatty() and done < total else "\n"
        print(f"storage migrate: {done}/{total} files, {moved_bytes / 2**20:.1f} MiB moved",
              end=end, file=sys.stderr, flush=True)

    async with open_database(settings, migrate=False) as pool, \
            open_object_stores(settings) as stores:
        report = await migrate_storage(pool, stores, target, part_size=settings.part_size,
                                       progress=progress)
    return report.as_json(), 1 if report.failed else 0
