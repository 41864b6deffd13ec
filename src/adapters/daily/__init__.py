"""Daily (video calls for second opinions): the health probe of its REST API."""
