"""The operator's tools, never inside a model archive: the declared model state and its tool
(``python -m ops.models``), the reconciler that converges each replica to it and keeps TorchServe's keys
fresh (``python -m ops.reconciler``), the one way TorchServe is started (``python -m ops.torchserve``),
and the review of what visitors said of the answers (``python -m ops.feedback``)."""
