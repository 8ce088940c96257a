"""Request and response bodies of the gallery API, with the examples OpenAPI shows."""
