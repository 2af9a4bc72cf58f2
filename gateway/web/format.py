"""How the pages write sizes and times (Jinja filters)."""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """`28.66 MiB`: binary units with two decimals, as GitLab's registry page."""
    if size < 1024:
        return f"{size} B" if size != 1 else "1 byte"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.2f} {unit}"
    raise AssertionError("unreachable")


def exact_time(moment: dt.datetime) -> str:
    """For the `title` of a `<time>`: `2026-11-22 13:40:22 UTC`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def relative_time(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """`just now`, `5 minutes ago`, `3 days ago`, `2 years ago`."""
    seconds = int(((now or dt.datetime.now(dt.UTC)) - moment).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, length in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                         ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = seconds // length
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "1 minute ago"


def time_tag(moment: dt.datetime) -> Markup:
    """`<time>` with the relative time, exact on hover. One filter rather than a
    template macro: the registry writes one per row. (Every part is made here
    from a datetime, so nothing in it needs escaping.)"""
    return Markup(f'<time datetime="{iso_time(moment)}" title="{exact_time(moment)}">'
                  f"{relative_time(moment)}</time>")


FILTERS = {
    "time_tag": time_tag,
    "human_size": human_size,
    "exact_time": exact_time,
    "iso_time": iso_time,
    "relative_time": relative_time,
}
