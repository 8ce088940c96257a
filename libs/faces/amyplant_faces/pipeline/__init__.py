"""Per-frame face pipeline steps that run outside the models: alignment of detected faces into chips."""
