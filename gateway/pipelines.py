"""CI provenance: which pipelines pushed a package's files.

A job token created with `--pipeline-id` (and optionally ref, sha, job id)
stamps every file it pushes; a package's pipelines are those of its files.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from gateway.catalog import Catalog, Listing, Page
from gateway.db.pipelines import PipelineRepository
from gateway.models import Package


class PackagePipelines:
    def __init__(self, pipelines: PipelineRepository, catalog: Catalog) -> None:
        self._pipelines = pipelines
        self._catalog = catalog

    async def list(self, project_id: int, package_id: int, page: Page) -> Listing[asyncpg.Record]:
        """Newest first; the package must be the project's and not hidden (404 otherwise)."""
        package = await self._catalog.package(project_id, package_id, displayable=True)
        total = await self._pipelines.count_for_package(package.id)
        if page.offset >= total:
            return Listing([], page, total, has_more=False)
        items = await self._pipelines.for_package(package.id, page.size, page.offset)
        return Listing(items, page, total, has_more=page.offset + len(items) < total)

    async def latest(self, packages: Sequence[Package]) -> dict[int, asyncpg.Record]:
        """Each package's latest pipeline (GitLab's `pipeline` field), by package id."""
        if not packages:
            return {}
        return await self._pipelines.latest_for_packages([p.id for p in packages])
