"""What the gateway costs a request: measured against TorchServe alone and a bare forwarder, and against
other commits' gateways."""
