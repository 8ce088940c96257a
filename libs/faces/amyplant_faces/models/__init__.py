"""The models: their names and shapes, the model repository, and one client interface with two runtimes."""
