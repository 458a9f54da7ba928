"""Training pipeline: synthesize -> prepare -> train -> evaluate -> export (``python -m training``)."""
