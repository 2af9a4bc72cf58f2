"""The route table."""

from __future__ import annotations

from aiohttp import web

from gateway.api import (
    generic, health, metrics, package_files, packages, protection_rules, resources,
)
from gateway.api import package_events
from gateway.api.http import defer_continue
from gateway.api.http import refuse_unknown_expect


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/-/health", health.liveness)
    app.router.add_get("/-/liveness", health.liveness)
    app.router.add_get("/-/readiness", health.readiness)
    app.router.add_get("/metrics", metrics.metrics)
    app.router.add_put(generic.ROUTE, generic.put_package_file, expect_handler=defer_continue)
    app.router.add_get(generic.ROUTE, generic.get_package_file,  # HEAD too
                       expect_handler=refuse_unknown_expect)
    app.router.add_get(packages.PROJECT_PACKAGES, packages.list_project_packages)
    app.router.add_get(packages.PROJECT_PACKAGE, packages.get_project_package)
    app.router.add_delete(packages.PROJECT_PACKAGE, packages.delete_project_package)
    app.router.add_get(packages.PACKAGE_FILES, packages.list_package_files)
    app.router.add_delete(packages.PACKAGE_FILE, packages.delete_package_file)
    app.router.add_get(packages.GROUP_PACKAGES, packages.list_group_packages)
    app.router.add_delete(generic.ROUTE, generic.delete_package_files)
    app.router.add_get(package_files.PACKAGE_PIPELINES, package_files.list_package_pipelines)
    app.router.add_get(protection_rules.RULES, protection_rules.list_rules)
    app.router.add_post(protection_rules.RULES, protection_rules.create_rule)
    app.router.add_patch(protection_rules.RULE, protection_rules.update_rule)
    app.router.add_delete(protection_rules.RULE, protection_rules.delete_rule)
    app.router.add_get(resources.VERSION, resources.get_version)
    app.router.add_get(resources.CURRENT_USER, resources.get_current_user)
    app.router.add_get(resources.PROJECT, resources.get_project)
    app.router.add_get(resources.GROUP, resources.get_group)
    package_events.add_routes(app)
