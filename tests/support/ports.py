"""A loopback port nobody listens on, for a server a test starts."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port of 127.0.0.1 free at the time of asking (the system's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
