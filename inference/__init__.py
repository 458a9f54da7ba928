"""The contract that training, the TorchServe handler and the gateway share, in one place that imports
none of them: the games table (labels, names, folders), the accepted image formats and limits, the eval
preprocessing and its version, the model architectures, the calibrated scoring, the runtimes of the
serving forms, and the wire contracts (the answers, the replica's report, the canary's counters).
Training writes archives against it, the handler answers with it, the gateway checks
uploads with it; the archive carries this package whole."""
