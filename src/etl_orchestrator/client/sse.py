"""Reading a server-sent event stream (``text/event-stream``) line by line, as the spec splits it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None = None


@dataclass(frozen=True)
class Comment:
    """A line starting with ':' — the server's heartbeat."""

    text: str


@dataclass
class SseParser:
    """Feed it lines (without their line break); it returns an Event when a blank line ends one."""

    _event: str = "message"
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> Event | Comment | None:
        if line == "":
            if not self._data:
                self._event = "message"
                return None
            event = Event(self._event, "\n".join(self._data), self._id)
            self._event, self._data = "message", []
            return event
        if line.startswith(":"):
            return Comment(line[1:].strip())
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None
