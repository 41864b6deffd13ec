"""What the adapters of HTTP APIs share (httpx)."""
