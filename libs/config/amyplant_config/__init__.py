"""Settings of every service (one class a service, each with its prefix), where the shared servers are."""
