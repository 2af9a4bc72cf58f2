"""The route table."""

from __future__ import annotations

from aiohttp import web

from gateway.api import generic, health, packages
from gateway.api.http import defer_continue
from gateway.api.http import refuse_unknown_expect


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/-/health", health.health)
    app.router.add_put(generic.ROUTE, generic.put_package_file, expect_handler=defer_continue)
    app.router.add_get(generic.ROUTE, generic.get_package_file,  # HEAD too
                       expect_handler=refuse_unknown_expect)
    app.router.add_get(packages.PROJECT_PACKAGES, packages.list_project_packages)
    app.router.add_get(packages.PROJECT_PACKAGE, packages.get_project_package)
    app.router.add_delete(packages.PROJECT_PACKAGE, packages.delete_project_package)
    app.router.add_get(packages.PACKAGE_FILES, packages.list_package_files)
    app.router.add_delete(packages.PACKAGE_FILE, packages.delete_package_file)
    app.router.add_get(packages.GROUP_PACKAGES, packages.list_group_packages)
