"""Langfuse (LLM tracing): the health probe of its public API."""
