"""The part-size plan: no upload may need more than S3's 10,000 parts."""

from __future__ import annotations

import pytest

from gateway.settings import GiB, MiB, TiB
from gateway.upload import S3_MAX_PARTS, PartSizer


@pytest.mark.parametrize("length", [0, 1, 8 * MiB, 1 * GiB, 80 * GiB, 5 * TiB])
def test_declared_length_fits_in_10000_parts(length: int) -> None:
    sizer = PartSizer.for_upload(length, 50 * GiB, 8 * MiB)
    assert not sizer.growing
    assert sizer.base >= 8 * MiB
    assert sizer.base * S3_MAX_PARTS >= length
    assert sizer.base <= 5 * GiB


def test_small_files_keep_the_configured_part_size() -> None:
    assert PartSizer.for_upload(1 * GiB, 50 * GiB, 8 * MiB).base == 8 * MiB


def test_chunked_upload_sizes_parts_from_the_limit() -> None:
    sizer = PartSizer.for_upload(None, 200 * GiB, 8 * MiB)
    assert sizer.base * S3_MAX_PARTS >= 200 * GiB
    assert sizer.base % MiB == 0


@pytest.mark.parametrize("base", [5 * MiB, 8 * MiB, 64 * MiB])
def test_unlimited_chunked_upload_grows_parts_to_reach_5_tib(base: int) -> None:
    sizer = PartSizer.for_upload(None, 0, base)
    assert sizer.growing
    assert sizer.size(1) == base
    assert sizer.size(S3_MAX_PARTS) <= 5 * GiB
    assert sizer.capacity() >= 5 * TiB
