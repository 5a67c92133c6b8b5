"""Event schemas (versioned) and the decoder that turns Kafka bytes into them."""

from streams.events.decode import EventRejected, Rejection, decode_event
from streams.events.schemas import EVENT_TYPES, SCHEMA_VERSION, Event

__all__ = ["EVENT_TYPES", "SCHEMA_VERSION", "Event", "EventRejected", "Rejection", "decode_event"]
