"""Package events: the audit trail, webhooks delivered from it, and the verification gate.

`record(conn, event)` is the one way to write an event: call it inside the
transaction that makes the change, so the event, its webhook deliveries and the
change commit together or not at all.
"""

from gateway.events.record import EVENT_KINDS, Event, Origin, record

__all__ = ["EVENT_KINDS", "Event", "Origin", "record"]
