"""The peers of make bench: other ways to serve the same model, each a server of its own process."""
