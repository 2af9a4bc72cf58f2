"""Every validation case of SPEC.md: each is a 400 JSON answer and stores nothing.

Paths are sent byte for byte, so `..` and percent-escapes reach the server as written.
"""

from __future__ import annotations

import pytest

from tests.harness import Gateway, Identity, raw_request


def path(dev: Identity, tail: str) -> str:
    return f"/api/v4/projects/{dev.project_id}/packages/generic/{tail}"


INVALID = [
    # package names
    ("my%20package/1.0.0/file.txt", "package_name"),
    ("pkg$/1.0.0/file.txt", "package_name"),
    ("../1.0.0/file.txt", "package_name"),
    ("%2e%2e/1.0.0/file.txt", "package_name"),
    ("my-package%2f%2e%2e%2f/1.0.0/file.txt", "package_name"),
    ("%252e%252e/1.0.0/file.txt", "package_name"),
    # versions
    ("pkg/..1.2.3/file.txt", "package_version"),
    ("pkg/1.2.3-4/../../file.txt", "path"),
    ("pkg/%2e%2e%2f1.2.3/file.txt", "package_version"),
    ("pkg/1.0%2F0/file.txt", "package_version"),
    ("pkg/1.0%5C0/file.txt", "package_version"),
    ("pkg/1.0~beta/file.txt", "package_version"),
    # file names
    ("pkg/1.0.0/myfile1.1.tar.gz@", "file_name"),
    ("pkg/1.0.0/@myfile1.1.tar.gz", "file_name"),
    ("pkg/1.0.0/myfile.tar.gz~", "file_name"),
    ("pkg/1.0.0/~myfile.tar.gz", "file_name"),
    ("pkg/1.0.0/..", "file_name"),
    ("pkg/1.0.0/%2e%2e", "file_name"),
    ("pkg/1.0.0/%252e%252e", "file_name"),
    ("pkg/1.0.0/..%2f.ssh%2fauthorized_keys", "file_name"),
    ("pkg/1.0.0/%2e%2e%2f.ssh%2fauthorized_keys", "file_name"),
    ("pkg/1.0.0/a%5Cb", "file_name"),
    ("pkg/1.0.0/a%255Cb", "file_name"),
    ("pkg/1.0.0/a%00b", "file_name"),
    ("pkg/1.0.0/file%20name", "file_name"),
    ("pkg/1.0.0/", "file_name"),
    ("pkg/1.0.0", "file_name"),
    # directory segments of the path form
    ("pkg/1.0.0/../.ssh/authorized_keys", "path"),
    ("pkg/1.0.0/dir/%2e%2e/x", "path"),
    ("pkg/1.0.0/dir//x", "path"),
]


@pytest.mark.parametrize("method", ["PUT", "GET"])
@pytest.mark.parametrize(("tail", "field"), INVALID, ids=[t for t, _ in INVALID])
async def test_invalid_path_is_400_and_stores_nothing(gateway: Gateway, method: str, tail: str,
                                                      field: str) -> None:
    dev = await gateway.developer()
    response = await raw_request(gateway, method, path(dev, tail), headers=dev.headers,
                                 body=b"payload" if method == "PUT" else b"")
    assert response.status == 400, response.body
    assert response.json() == {"error": f"{field} is invalid"}
    assert response.headers["content-type"].startswith("application/json")
    await gateway.assert_nothing_stored()
    assert await gateway.count("packages") == 0


@pytest.mark.parametrize(("query", "field"), [
    ("status=processing", "status"), ("status=", "status"), ("status=foo", "status"),
    ("select=package", "select"), ("select=foo", "select"),
])
async def test_invalid_query_is_400_and_stores_nothing(gateway: Gateway, query: str,
                                                       field: str) -> None:
    dev = await gateway.developer()
    response = await raw_request(gateway, "PUT", path(dev, f"pkg/1.0.0/file.txt?{query}"),
                                 headers=dev.headers, body=b"payload")
    assert response.status == 400
    # Grape's text for a value outside the declared `values:`
    assert response.json() == {"error": f"{field} does not have a valid value"}
    await gateway.assert_nothing_stored()


async def test_bad_project_reference_is_400(gateway: Gateway) -> None:
    dev = await gateway.developer()
    response = await raw_request(gateway, "GET", "/api/v4/projects/a%2F..%2Fb/packages/generic/p/1/f",
                                 headers=dev.headers)
    assert response.status == 400
    assert response.json() == {"error": "id is invalid"}


async def test_unknown_route_is_json_404(gateway: Gateway) -> None:
    response = await gateway.client.get("/api/v4/nothing-here")
    assert response.status == 404
    assert await response.json() == {"error": "404 Not Found"}


async def test_wrong_method_is_json_405(gateway: Gateway) -> None:
    dev = await gateway.developer()
    response = await gateway.client.post(gateway.package_path(dev.project_id, "p", "1", "f"))
    assert response.status == 405
    assert await response.json() == {"error": "405 Method Not Allowed"}


@pytest.mark.parametrize("method", ["PUT", "GET"])
@pytest.mark.parametrize(("tail", "field"), [
    ("n" * 256 + "/1.0.0/file.txt", "package_name"),
    ("pkg/" + "1" * 256 + "/file.txt", "package_version"),
    ("pkg/1.0.0/" + "f" * 256, "file_name"),
    ("pkg/1.0.0/" + "d" * 200 + "/" + "f" * 55, "file_name"),
    ("n" * 3000 + "/1.0.0/file.txt", "package_name"),  # once a 500 from an index row limit
], ids=["name-256", "version-256", "file-256", "path-256", "name-3000"])
async def test_fields_over_255_characters_are_400_and_store_nothing(
        gateway: Gateway, method: str, tail: str, field: str) -> None:
    dev = await gateway.developer()
    response = await raw_request(gateway, method, path(dev, tail), headers=dev.headers,
                                 body=b"payload" if method == "PUT" else b"")
    assert response.status == 400, response.body
    assert response.json() == {"error": f"{field} is invalid"}
    await gateway.assert_nothing_stored()
    assert await gateway.count("packages") == 0


async def test_fields_of_255_characters_are_accepted(gateway: Gateway) -> None:
    dev = await gateway.developer()
    name, version, file_name = "n" * 255, "1" * 255, "f" * 255
    response = await gateway.put(dev, b"payload", name=name, version=version, file_name=file_name)
    assert response.status == 201, await response.text()
    response = await gateway.get(dev, name=name, version=version, file_name=file_name)
    assert response.status == 200 and await response.read() == b"payload"
    directory_form = "d" * 200 + "/" + "f" * 54
    response = await gateway.put(dev, b"nested", name=name, version=version,
                                 file_name=directory_form)
    assert response.status == 201, await response.text()
    response = await gateway.get(dev, name=name, version=version, file_name=directory_form)
    assert await response.read() == b"nested"


@pytest.mark.parametrize("method", ["PUT", "GET"])
async def test_an_unknown_expectation_is_a_json_417(gateway: Gateway, method: str) -> None:
    dev = await gateway.developer()
    response = await raw_request(gateway, method, path(dev, "pkg/1.0.0/file.txt"),
                                 headers={**dev.headers, "Expect": "0"})
    assert response.status == 417
    assert response.json() == {"error": "417 Expectation Failed"}


async def test_a_newline_in_a_name_is_400_not_a_missed_route(gateway: Gateway) -> None:
    dev = await gateway.developer()
    response = await raw_request(gateway, "PUT", path(dev, "a%0Ab/1.0.0/file.txt"),
                                 headers=dev.headers, body=b"x")
    assert response.status == 400
    assert response.json() == {"error": "package_name is invalid"}
    await gateway.assert_nothing_stored()
