"""deploy/README.md documents every deploy file."""

from __future__ import annotations

from tests.deploy.files import DEPLOY, ROOT


def test_every_deploy_file_is_documented() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.name != "README.md":
            # Named by its path below deploy/, or by its own name inside its folder's section.
            relative = str(path.relative_to(DEPLOY))
            assert relative in readme or f"`{path.name}`" in readme, relative
    assert "../.dockerignore" in readme and (ROOT / ".dockerignore").exists()
