"""In-memory adapters: the embedded default's twins of the real ones, and the unit tests' fakes.

They are real adapters: each passes the same contract suite as its database-backed sibling.
"""
