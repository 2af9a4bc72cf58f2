"""`gateway admin events | hook ... | gate ...`: the same as the REST API, for operators."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.catalog import Page
from gateway.events.record import EVENT_KINDS
from gateway.events.repository import EventRepository
from gateway.events.service import EventFilter, PackageEvents
from gateway.settings import Settings

OBJECTS = ("events", "hook", "gate")
PAGE_SIZE = 100
Command = Callable[[Any, Any], Awaitable[Any]]  # (Admin, pool) -> output


def add_parsers(objects: Any) -> None:
    events = objects.add_parser("events", help="print a project's package events as JSON lines")
    events.set_defaults(action="list")
    events.add_argument("--project", required=True, help="project path or id")
    events.add_argument("--kind", choices=EVENT_KINDS)
    events.add_argument("--package-name")
    events.add_argument("--after", type=_time, help="only events after this ISO 8601 time")

    hook = objects.add_parser("hook", help="webhooks called on package events").add_subparsers(
        dest="action", required=True)
    add = hook.add_parser("add", help="add a webhook to a project; prints it (never its secret)")
    add.add_argument("--project", required=True, help="project path or id")
    add.add_argument("--url", required=True)
    add.add_argument("--secret", help="signs each payload: X-Gateway-Signature-256")
    add.add_argument("--events", type=_kinds, help=f"comma-separated, default all: {','.join(EVENT_KINDS)}")
    hook.add_parser("list", help="a project's webhooks").add_argument("--project", required=True)
    hook.add_parser("remove", help="remove a webhook").add_argument("hook_id", type=int)
    deliveries = hook.add_parser("deliveries", help="a webhook's deliveries and their attempts")
    deliveries.add_argument("hook_id", type=int)
    deliveries.add_argument("--limit", type=int, default=PAGE_SIZE)

    gate = objects.add_parser("gate", help="hold new files until a pipeline verifies them").add_subparsers(
        dest="action", required=True)
    gate_set = gate.add_parser("set", help="turn the gate on (for every package, or some)")
    gate_set.add_argument("--project", required=True)
    gate_set.add_argument("--pattern", action="append", default=[],
                          help="package name to gate, * matches anything; repeat for more")
    gate.add_parser("clear", help="turn the gate off").add_argument("--project", required=True)
    gate.add_parser("show", help="the project's gate").add_argument("--project", required=True)


def _time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _kinds(text: str) -> list[str]:
    return [kind.strip() for kind in text.split(",") if kind.strip()]


def command(args: argparse.Namespace, settings: Settings) -> Command:
    def service(pool: Any) -> PackageEvents:
        return PackageEvents(EventRepository(pool), settings)

    async def project_id(admin: Any) -> int:
        return (await admin.project(args.project)).id

    async def run(admin: Any, pool: Any) -> Any:
        events = service(pool)
        match (args.object, args.action):
            case ("events", "list"):
                return await _event_lines(events, await project_id(admin), EventFilter(
                    kind=args.kind, package_name=args.package_name, after=args.after))
            case ("hook", "add"):
                return await events.add_hook(await project_id(admin), args.url, args.secret,
                                             args.events)
            case ("hook", "list"):
                return await events.hooks(await project_id(admin))
            case ("hook", "remove"):
                return await events.remove_hook(args.hook_id, None)
            case ("hook", "deliveries"):
                listing = await events.deliveries(args.hook_id, None,
                                                  Page(1, max(1, min(args.limit, 1000))))
                return listing.items
            case ("gate", "set"):
                return await events.set_gate(await project_id(admin), args.pattern)
            case ("gate", "clear"):
                return await events.clear_gate(await project_id(admin))
            case ("gate", "show"):
                return await events.gate(await project_id(admin))
        raise AssertionError(f"unhandled command {args.object} {args.action}")

    return run


async def _event_lines(events: PackageEvents, project_id: int, where: EventFilter) -> str | None:
    """Every matching event, newest first, one JSON object a line."""
    lines: list[str] = []
    number = 1
    while True:
        listing = await events.list_events(project_id, where, Page(number, PAGE_SIZE))
        lines.extend(json.dumps(item) for item in listing.items)
        if not listing.has_more:
            return "\n".join(lines) if lines else None
        number += 1
