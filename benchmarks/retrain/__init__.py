"""The retraining loop of issue 33 through the native stack, and its benchmark."""
