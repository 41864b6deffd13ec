"""`adminctl`: the operator's command line, on the same use cases as the API."""
