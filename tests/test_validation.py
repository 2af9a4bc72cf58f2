from __future__ import annotations

import pytest

from gateway.errors import InvalidField
from gateway.validation import (
    FILE_NAME_RE, PACKAGE_NAME_RE, PACKAGE_VERSION_RE, encode_uri_component, is_traversal,
    parse_generic_tail, parse_project_ref,
)


@pytest.mark.parametrize("name", ["my_package", "my.package", "my-package", "My+Package", "a"])
def test_valid_package_names(name: str) -> None:
    assert PACKAGE_NAME_RE.match(name)


@pytest.mark.parametrize("name", ["", "my package", "pkg/1", "pkg\n", "pké"])
def test_invalid_package_names(name: str) -> None:
    assert not PACKAGE_NAME_RE.match(name)


@pytest.mark.parametrize("version", ["1.2.3", "1.3.350-20201230123456", "1.2.bananas",
                                     "v1.2.4-build", "d50d836eb3de6177ce6c7a5482f27f9c2c84b672",
                                     "1_0+meta"])
def test_valid_versions(version: str) -> None:
    assert PACKAGE_VERSION_RE.match(version)


@pytest.mark.parametrize("version", ["..1.2.3", "1..2", "1.2.3-4/../../", "1.0é", "1.0\n", ""])
def test_invalid_versions(version: str) -> None:
    assert not PACKAGE_VERSION_RE.match(version)


@pytest.mark.parametrize(("name", "valid"), [
    ("my+file.tar.gz", True), ("my~file.tar.gz", True), ("myfile@1.1.tar.gz", True),
    ("myfile1.1.tar.gz@", False), ("@myfile1.1.tar.gz", False), ("myfile.tar.gz~", False),
    ("~myfile.tar.gz", False), ("file name", False), ("a/b", False),
])
def test_file_names(name: str, valid: bool) -> None:
    assert bool(FILE_NAME_RE.match(name)) is valid


@pytest.mark.parametrize("segment", ["..", ".", "%2e%2e", "%2E%2e", "%252e%252e", "a%2Fb",
                                     "a%252Fb", "a%5Cb", "a%255cb", "a\\b"])
def test_traversal_is_seen_once_or_twice_decoded(segment: str) -> None:
    assert is_traversal(segment)


@pytest.mark.parametrize("segment", ["a..b", "file.txt", "%41bc", "1.2.3"])
def test_ordinary_segments_are_not_traversal(segment: str) -> None:
    assert not is_traversal(segment)


def test_directory_form_is_stored_as_ruby_encodes_it() -> None:
    target = parse_generic_tail("7", ["pkg", "1.0", "path", "to", "my~file+1"])
    assert target.file_name == "path%2Fto%2Fmy%7Efile%2B1"
    assert target.download_name == "my~file+1"
    assert target.project_ref == "7"
    assert encode_uri_component("a b*-._") == "a%20b*-._"


@pytest.mark.parametrize("directory", ["%00", "a%0Ab", "a%7Fb", "..", "%2e%2e", "a%2Fb", ""])
def test_directories_refuse_control_characters_and_traversal(directory: str) -> None:
    with pytest.raises(InvalidField) as raised:
        parse_generic_tail("1", ["pkg", "1.0", directory, "f"])
    assert raised.value.field == "path"


def test_project_reference_forms() -> None:
    assert parse_project_ref("group%2Fsub%2Fproject") == "group/sub/project"
    assert parse_project_ref("42") == "42"
    for bad in ["a%2F..%2Fb", "%2Fa", "a%5Cb", ""]:
        with pytest.raises(InvalidField):
            parse_project_ref(bad)


def test_invalid_utf8_escapes_are_invalid_fields() -> None:
    with pytest.raises(InvalidField) as raised:
        parse_generic_tail("1", ["pkg%ff", "1.0", "f"])
    assert raised.value.field == "package_name"


@pytest.mark.parametrize(("tail", "field"), [
    (["n" * 256, "1.0", "f"], "package_name"),
    (["pkg", "1" * 256, "f"], "package_version"),
    (["pkg", "1.0", "f" * 256], "file_name"),
    (["pkg", "1.0", "d" * 256, "f"], "path"),
    # the directory form's whole path counts, as GitLab's file_name parameter
    (["pkg", "1.0", "d" * 200, "f" * 55], "file_name"),
    # length after decoding: 86 escapes are 86 characters, 258 with the rest
    (["pkg", "1.0", "%41" * 86 + "b" * 170], "file_name"),
])
def test_fields_over_255_characters_are_invalid(tail: list[str], field: str) -> None:
    with pytest.raises(InvalidField) as raised:
        parse_generic_tail("1", tail)
    assert raised.value.field == field


def test_fields_of_255_characters_are_valid() -> None:
    target = parse_generic_tail("1", ["n" * 255, "1" * 255, "f" * 255])
    assert (len(target.package_name), len(target.package_version), len(target.file_name)) == (
        255, 255, 255)
    target = parse_generic_tail("1", ["pkg", "1.0", "d" * 200, "f" * 54])
    assert target.file_name == "d" * 200 + "%2F" + "f" * 54
    assert parse_generic_tail("1", ["pkg", "1.0", "%41" * 85 + "b" * 170]).file_name == (
        "A" * 85 + "b" * 170)
