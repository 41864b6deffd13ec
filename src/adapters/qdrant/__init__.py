"""Qdrant (the vector store): the health probe of its REST API."""
