"""The face pipeline (detect, align, attributes, embed) and the clients of the models behind it."""
