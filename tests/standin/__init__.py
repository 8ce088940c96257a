"""Stand-ins for external servers, speaking their real protocols, for tests and benchmarks."""
