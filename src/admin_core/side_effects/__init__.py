"""External side effects that cannot share a database transaction: intent first, then the
provider's call, then the outcome and its audit entries; a reconcile step finishes what a
crash left half done (docs/adr/0048)."""
