"""One presenter per resource: the wire shape of a result, shared by both entrypoints.

The HTTP API returns these Structs as the envelope's `data`; `adminctl --json` prints the
same Struct, so the two cannot drift apart.
"""
