"""Operator commands: `init`, `--data-dir`, `config show|check`, `migrate`, listings."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from gateway.db.migrate import load_migrations
from gateway.embedded import EmbeddedPostgres
from tests.harness import GatewayFactory
from tests.serve_process import clean_env, gateway_cli


async def test_a_command_pointed_at_the_wrong_folder_creates_nothing(tmp_path: Path) -> None:
    code, out, err = await gateway_cli("admin", "project", "list", env=clean_env(), cwd=tmp_path)
    assert code == 1 and out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("gateway: error: no gateway database in ")
    assert str(tmp_path / "gateway-data" / "postgres") in line and "gateway init" in line
    assert not (tmp_path / "gateway-data").exists()  # no second, empty database appeared


async def test_init_then_commands_from_any_folder_with_data_dir(cluster_dir: Path) -> None:
    data_dir, elsewhere = cluster_dir / "data", cluster_dir / "elsewhere"
    elsewhere.mkdir()
    code, out, err = await gateway_cli("init", "--data-dir", str(data_dir), env=clean_env(),
                                       cwd=cluster_dir)
    assert code == 0, err
    report = json.loads(out)
    assert report["applied"] == [m.name for m in load_migrations()]
    assert report["schema_version"] == load_migrations()[-1].version
    assert (data_dir / "postgres" / "PG_VERSION").exists()

    env = clean_env()
    code, _, err = await gateway_cli("admin", "project", "create", "demo/app", "--data-dir",
                                     str(data_dir), env=env, cwd=elsewhere)
    assert code == 0, err
    # The environment names the folder just as well as the option.
    code, out, _ = await gateway_cli("admin", "project", "list",
                                     env=clean_env(GATEWAY_DATA_DIR=str(data_dir)), cwd=elsewhere)
    assert [p["path"] for p in json.loads(out)] == ["demo/app"]
    assert not (elsewhere / "gateway-data").exists()

    code, out, _ = await gateway_cli("init", "--data-dir", str(data_dir), env=env, cwd=elsewhere)
    assert code == 0 and json.loads(out)["applied"] == []  # init again changes nothing


async def test_migrate_reports_what_it_applied(postgres: EmbeddedPostgres) -> None:
    admin = await asyncpg.connect(postgres.server.get_uri())
    await admin.execute("CREATE DATABASE migrate_report")
    try:
        env = clean_env(GATEWAY_DATABASE_URL=postgres.server.get_uri(database="migrate_report"))
        code, _, err = await gateway_cli("admin", "project", "list", env=env)
        assert code == 1 and "has no gateway schema yet; run `gateway init`" in err
        code, out, err = await gateway_cli("migrate", env=env)
        assert code == 0, err
        assert json.loads(out)["applied"] == [m.name for m in load_migrations()]
        code, out, _ = await gateway_cli("migrate", env=env)
        assert json.loads(out)["applied"] == []
        code, out, _ = await gateway_cli("admin", "project", "list", env=env)
        assert code == 0 and json.loads(out) == []
    finally:
        await admin.execute("DROP DATABASE migrate_report WITH (FORCE)")
        await admin.close()


async def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('part_size = "16MiB"\ns3_bucket = "from-file"\n')
    env = clean_env(
        GATEWAY_CONFIG=str(config), GATEWAY_S3_BUCKET="packages",
        GATEWAY_S3_SECRET_ACCESS_KEY="s3cr3t-value", GATEWAY_S3_ACCESS_KEY_ID="AKIDEXAMPLE",
        GATEWAY_DATABASE_URL="postgresql://gw:hunter2@db.internal:5432/gateway",
        GATEWAY_TRUSTED_PROXY_SECRET="x" * 40)
    code, out, err = await gateway_cli("config", "show", "--json", "--data-dir", "/srv/gw", env=env)
    assert code == 0, err
    rows = {row["setting"]: row for row in json.loads(out)}
    assert "s3cr3t" not in out and "hunter2" not in out and "x" * 40 not in out
    assert rows["GATEWAY_S3_SECRET_ACCESS_KEY"]["value"] == "********"
    assert rows["GATEWAY_TRUSTED_PROXY_SECRET"]["value"] == "********"
    assert rows["GATEWAY_DATABASE_URL"]["value"] == "postgresql://gw:********@db.internal:5432/gateway"
    assert rows["GATEWAY_S3_BUCKET"] == {"setting": "GATEWAY_S3_BUCKET", "value": "packages",
                                         "source": "environment GATEWAY_S3_BUCKET"}
    assert rows["GATEWAY_PART_SIZE"]["value"] == 16 * 1024 * 1024
    assert rows["GATEWAY_PART_SIZE"]["source"] == f"file {config}"
    assert rows["GATEWAY_DATA_DIR"] == {"setting": "GATEWAY_DATA_DIR", "value": "/srv/gw",
                                        "source": "command line --data-dir"}
    assert rows["GATEWAY_PORT"]["source"] == "default"
    code, table, _ = await gateway_cli("config", "show", env=env)
    assert code == 0 and "GATEWAY_S3_BUCKET" in table and "s3cr3t" not in table


async def test_config_check_reaches_database_and_bucket(database_url: str, moto_endpoint: str,
                                                        s3_bucket: str, tmp_path: Path) -> None:
    s3 = {"GATEWAY_S3_BUCKET": s3_bucket, "GATEWAY_S3_ENDPOINT_URL": moto_endpoint,
          "GATEWAY_S3_ACCESS_KEY_ID": "testing", "GATEWAY_S3_SECRET_ACCESS_KEY": "testing"}
    env = clean_env(GATEWAY_DATABASE_URL=database_url, GATEWAY_DATA_DIR=str(tmp_path), **s3)
    code, out, err = await gateway_cli("config", "check", env=env)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] is True and report["database"].startswith("ok (schema ")
    assert report["storage"] == f"ok (s3 bucket {s3_bucket})"

    env["GATEWAY_S3_BUCKET"] = "no-such-bucket"
    code, out, _ = await gateway_cli("config", "check", env=env)
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["database"].startswith("ok")
    assert not report["storage"].startswith("ok")


async def test_listings_and_usage(gateway_factory: GatewayFactory, database_url: str) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"x" * 1000, name="app", version="1.0")).status == 201
    assert (await gateway.put(dev, b"y" * 24, name="app", version="1.0",
                              file_name="sum.txt")).status == 201
    env = clean_env(GATEWAY_DATABASE_URL=database_url)

    async def listing(*args: str) -> list[dict]:
        code, out, err = await gateway_cli("admin", *args, env=env)
        assert code == 0, err
        return json.loads(out)

    assert [p["path"] for p in await listing("project", "list")] == [dev.project_path]
    assert [u["username"] for u in await listing("user", "list")] == [dev.username]
    members = await listing("member", "list", "--project", dev.project_path)
    assert [(m["username"], m["role"], m["access_level"]) for m in members] == [
        (dev.username, "developer", 30)]
    packages = await listing("package", "list", "--project", dev.project_path)
    assert [(p["name"], p["version"], p["file_count"], p["size"]) for p in packages] == [
        ("app", "1.0", 2, 1024)]
    usage = await listing("usage")
    assert [(u["project_path"], u["packages"], u["files"], u["bytes"]) for u in usage] == [
        (dev.project_path, 1, 2, 1024)]
