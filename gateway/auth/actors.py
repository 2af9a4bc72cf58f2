"""Who acts on a request, once their credential is checked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who acts: anonymous, a user (personal token), a deploy token, a CI job, or
    an actor the trusted proxy vouches for."""

    kind: str
    name: str | None = None
    user_id: int | None = None
    token_id: int | None = None
    scopes: frozenset[str] = frozenset()
    # Deploy and job tokens belong to one project; the proxy signs for one project.
    project_id: int | None = None
    proxy_project: str | None = None
    proxy_level: int | None = None
    # A job token's CI pipeline and job, when the admin gave them.
    ci_pipeline_id: int | None = None
    ci_job_id: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def record_kind(self) -> str:
        """The actor kind stored on package-file rows."""
        return {"user": "user", "deploy": "deploy_token", "job": "job", "proxy": "proxy"}[self.kind]


ANONYMOUS = Actor("anonymous")
