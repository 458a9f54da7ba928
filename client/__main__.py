"""``python -m client``: the folder CLI (client.cli)."""

from client.cli import main

raise SystemExit(main())
