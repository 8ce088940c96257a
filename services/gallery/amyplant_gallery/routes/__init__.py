"""HTTP routes of the gallery, one module per resource."""
