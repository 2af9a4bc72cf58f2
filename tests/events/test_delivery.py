"""Webhook delivery from the outbox, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import asyncpg

from tests.events.conftest import Receiver, add_hook, deliveries
from tests.harness import Gateway, wait_for

HookedGateway = Callable[..., Awaitable[Gateway]]


async def delivery_rows(gateway: Gateway) -> list[asyncpg.Record]:
    async with gateway.pool.acquire() as conn:
        return await conn.fetch("SELECT status, attempts FROM package_hook_deliveries ORDER BY id")


async def settled(gateway: Gateway, count: int, timeout: float = 15.0) -> None:
    """Until `count` deliveries are recorded as delivered (the receiver sees a
    request before the gateway records its answer)."""
    for _ in range(int(timeout / 0.05)):
        if [r["status"] for r in await delivery_rows(gateway)].count("delivered") >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("deliveries not recorded in time")


async def test_a_push_delivers_one_signed_event(hooked_gateway: HookedGateway,
                                                receiver: Receiver) -> None:
    gateway = await hooked_gateway()
    maintainer = await gateway.user("maintainer", await gateway.project())
    hook = await add_hook(gateway, maintainer, receiver.url)
    assert "secret" not in hook and hook["has_secret"] is True

    content = b"release bits"
    response = await gateway.put(maintainer, content, name="tool", version="1.2.3",
                                 file_name="tool.tar.gz")
    assert response.status == 201
    await wait_for(lambda: len(receiver.delivered) == 1)
    await settled(gateway, 1)
    await asyncio.sleep(0.5)  # several worker rounds: still one delivery
    assert len(receiver.delivered) == 1

    delivery = receiver.delivered[0]
    assert delivery.signature_verifies()
    assert not delivery.signature_verifies("another secret")
    payload = delivery.payload
    assert delivery.headers["X-Gateway-Event"] == payload["kind"] == "package_file_pushed"
    assert delivery.headers["X-Gateway-Delivery"] == payload["id"]
    assert payload["project"] == {"id": maintainer.project_id, "path": maintainer.project_path}
    assert (payload["package"]["name"], payload["package"]["version"]) == ("tool", "1.2.3")
    package_file = payload["package_file"]
    assert package_file["file_name"] == "tool.tar.gz" and package_file["size"] == len(content)
    assert package_file["file_sha256"] == hashlib.sha256(content).hexdigest()
    assert package_file["file_md5"] == hashlib.md5(content).hexdigest()
    assert package_file["file_sha1"] == hashlib.sha1(content).hexdigest()
    assert package_file["download_url"] == gateway.package_path(
        maintainer.project_id, "tool", "1.2.3", "tool.tar.gz")  # no external URL set: a path
    assert payload["actor"]["kind"] == "user" and payload["actor"]["name"] == maintainer.username
    assert payload["gated"] is False and payload["ci"] is None
    assert "client_address" not in payload

    [listed] = await deliveries(gateway, maintainer, hook["id"])
    assert listed["status"] == "delivered" and listed["attempts"] == 1
    assert [a["status_code"] for a in listed["attempt_log"]] == [200]


async def test_download_url_uses_the_external_url(hooked_gateway: HookedGateway,
                                                  receiver: Receiver) -> None:
    gateway = await hooked_gateway(external_url="https://packages.example.com/")
    maintainer = await gateway.user("maintainer", await gateway.project())
    await add_hook(gateway, maintainer, receiver.url)
    assert (await gateway.put(maintainer, b"x", file_name="dir/a.bin")).status == 201
    await wait_for(lambda: len(receiver.delivered) == 1)
    assert receiver.delivered[0].payload["package_file"]["download_url"] == (
        f"https://packages.example.com/api/v4/projects/{maintainer.project_id}"
        "/packages/generic/pkg/1.0.0/dir/a.bin")


async def test_a_receiver_down_three_times_still_receives_it(hooked_gateway: HookedGateway,
                                                             receiver: Receiver) -> None:
    gateway = await hooked_gateway()
    maintainer = await gateway.user("maintainer", await gateway.project())
    hook = await add_hook(gateway, maintainer, receiver.url)
    receiver.statuses = [500, 500, 500]

    assert (await gateway.put(maintainer, b"data")).status == 201
    await wait_for(lambda: len(receiver.delivered) == 1)
    await settled(gateway, 1)
    assert receiver.requests == 4
    ids = {receiver.event_ids()[0]}
    [listed] = await deliveries(gateway, maintainer, hook["id"])
    assert listed["event_id"] in ids
    assert listed["status"] == "delivered" and listed["attempts"] == 4
    log = listed["attempt_log"]
    assert [a["status_code"] for a in log] == [500, 500, 500, 200]
    assert [a["error"] for a in log] == ["HTTP 500"] * 3 + [None]
    assert all(isinstance(a["duration_ms"], int) for a in log)


async def test_a_down_receiver_does_not_slow_uploads(hooked_gateway: HookedGateway,
                                                     receiver: Receiver) -> None:
    gateway = await hooked_gateway()
    maintainer = await gateway.user("maintainer", await gateway.project())
    await add_hook(gateway, maintainer, receiver.url)
    receiver.hold = asyncio.Event()  # every delivery hangs
    for number in range(3):
        started = asyncio.get_running_loop().time()
        response = await gateway.put(maintainer, b"x", file_name=f"f{number}.bin")
        assert response.status == 201
        assert asyncio.get_running_loop().time() - started < 2.0
    await wait_for(lambda: receiver.held >= 1)


async def test_a_restart_between_push_and_delivery_still_delivers(
        hooked_gateway: HookedGateway, receiver: Receiver) -> None:
    first = await hooked_gateway()
    maintainer = await first.user("maintainer", await first.project())
    hook = await add_hook(first, maintainer, receiver.url)
    receiver.hold = asyncio.Event()  # the first gateway's attempt never finishes
    assert (await first.put(maintainer, b"data")).status == 201
    await wait_for(lambda: receiver.held == 1)
    await first.client.close()  # stops the app mid-attempt

    receiver.hold = None
    second = await hooked_gateway()
    await wait_for(lambda: len(receiver.delivered) == 1)
    await settled(second, 1)
    [listed] = await deliveries(second, maintainer, hook["id"])
    assert listed["status"] == "delivered"
    assert receiver.event_ids() == [listed["event_id"]]


async def test_a_queued_delivery_is_sent_by_the_next_process(
        hooked_gateway: HookedGateway, receiver: Receiver) -> None:
    """Queued while no worker ran at all (receiver refused then the app stopped
    before the retry): the next process delivers it."""
    first = await hooked_gateway(hook_backoff_base=3600.0)
    maintainer = await first.user("maintainer", await first.project())
    await add_hook(first, maintainer, receiver.url)
    receiver.statuses = [503]
    assert (await first.put(maintainer, b"data")).status == 201
    for _ in range(300):  # until the refused attempt is recorded
        async with first.pool.acquire() as conn:
            if await conn.fetchval("SELECT count(*) FROM package_hook_attempts") == 1:
                break
        await asyncio.sleep(0.05)
    await first.client.close()
    assert receiver.delivered == []

    second = await hooked_gateway()
    async with second.pool.acquire() as conn:  # the hour-long backoff, over
        await conn.execute("UPDATE package_hook_deliveries SET next_attempt_at = now()")
    await wait_for(lambda: len(receiver.delivered) == 1)
    await settled(second, 1)
    assert [(r["status"], r["attempts"]) for r in await delivery_rows(second)] == [("delivered", 2)]


async def test_two_gateways_on_one_database_deliver_each_event_once(
        hooked_gateway: HookedGateway, receiver: Receiver) -> None:
    first, second = await hooked_gateway(), await hooked_gateway()
    maintainer = await first.user("maintainer", await first.project())
    await add_hook(first, maintainer, receiver.url)

    async def push(number: int) -> None:
        gateway = (first, second)[number % 2]
        response = await gateway.put(maintainer, f"file {number}".encode(),
                                     file_name=f"f{number}.bin")
        assert response.status == 201

    await asyncio.gather(*(push(n) for n in range(12)))
    await wait_for(lambda: len(receiver.delivered) >= 12)
    await settled(first, 12)
    await asyncio.sleep(1.0)  # more rounds of both workers
    ids = receiver.event_ids()
    assert len(ids) == len(set(ids)) == 12
    assert [r["status"] for r in await delivery_rows(first)] == ["delivered"] * 12


async def test_failed_or_rejected_uploads_make_no_event(hooked_gateway: HookedGateway,
                                                       receiver: Receiver) -> None:
    gateway = await hooked_gateway()
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    reporter = await gateway.user("reporter", project)
    await add_hook(gateway, maintainer, receiver.url)

    wrong_digest = await gateway.put(maintainer, b"data",
                                     headers={"X-Checksum-SHA256": "0" * 64})
    assert wrong_digest.status == 400
    assert (await gateway.put(reporter, b"data")).status == 403
    assert (await gateway.put(maintainer, b"data", file_name="..%2Fx")).status == 400
    await asyncio.sleep(0.5)
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM package_events") == 0
        assert await conn.fetchval("SELECT count(*) FROM package_hook_deliveries") == 0
    assert receiver.requests == 0
    await gateway.assert_nothing_stored()


async def test_hooks_to_local_addresses_are_refused_by_default(hooked_gateway: HookedGateway,
                                                               receiver: Receiver) -> None:
    gateway = await hooked_gateway(allow_local_hooks=False)
    maintainer = await gateway.user("maintainer", await gateway.project())
    for url in (receiver.url, "http://localhost:9/x", "http://169.254.169.254/latest",
                "http://[::1]:80/", "http://0.0.0.0/", "ftp://example.com/x", "not a url"):
        response = await gateway.client.post(
            f"/api/v4/projects/{maintainer.project_id}/packages/hooks", headers=maintainer.headers,
            json={"url": url})
        assert response.status == 400, url
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM package_hooks") == 0


async def test_a_delivery_failing_for_24_hours_is_given_up(hooked_gateway: HookedGateway,
                                                          receiver: Receiver) -> None:
    gateway = await hooked_gateway()
    maintainer = await gateway.user("maintainer", await gateway.project())
    hook = await add_hook(gateway, maintainer, receiver.url)
    receiver.statuses = [500] * 1000
    assert (await gateway.put(maintainer, b"data")).status == 201
    await wait_for(lambda: receiver.requests >= 1)
    async with gateway.pool.acquire() as conn:  # queued a day ago
        await conn.execute("UPDATE package_hook_deliveries SET created_at = now() - interval '25 hours'")
    for _ in range(300):
        if [r["status"] for r in await delivery_rows(gateway)] == ["failed"]:
            break
        await asyncio.sleep(0.05)
    [listed] = await deliveries(gateway, maintainer, hook["id"])
    assert listed["status"] == "failed" and listed["next_attempt_at"] is None
    requests = receiver.requests
    await asyncio.sleep(0.5)
    assert receiver.requests == requests  # no more attempts


async def test_a_hook_that_turns_local_is_refused_at_delivery(hooked_gateway: HookedGateway,
                                                             receiver: Receiver) -> None:
    """Stored while local hooks were allowed; a process that does not allow them
    refuses to call it (the same holds for a name that starts resolving locally)."""
    first = await hooked_gateway()
    maintainer = await first.user("maintainer", await first.project())
    hook = await add_hook(first, maintainer, receiver.url.replace("127.0.0.1", "localhost"))
    await first.client.close()
    strict = await hooked_gateway(allow_local_hooks=False)
    assert (await strict.put(maintainer, b"data")).status == 201

    async def attempts() -> list[dict]:
        [listed] = await deliveries(strict, maintainer, hook["id"])
        return listed["attempt_log"]

    for _ in range(100):
        if len(await attempts()) >= 2:
            break
        await asyncio.sleep(0.05)
    log = await attempts()
    assert len(log) >= 2 and all("loopback or link-local" in a["error"] for a in log)
    assert all(a["status_code"] is None for a in log)
    assert receiver.requests == 0


async def test_apps_stopped_at_any_moment_stop_cleanly(hooked_gateway: HookedGateway) -> None:
    """The worker holds a listening connection; stopping the app at any point of
    its start must give it back, or closing the pool would wait forever."""
    for delay in (0, 0, 0.001, 0.003, 0.01, 0.03, 0.1, 0, 0.002, 0.02):
        gateway = await hooked_gateway()
        await asyncio.sleep(delay)
        await asyncio.wait_for(gateway.client.close(), 20)
