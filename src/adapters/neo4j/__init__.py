"""Neo4j adapters (official async driver): the graph projection."""
