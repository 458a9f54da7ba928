"""Render nginx.conf.template for one deployment (native stack, tests, Docker).

    python -m nginx.render --out var/nginx/nginx.conf --prefix var/nginx --listen 127.0.0.1:8000 \
        --gateway 127.0.0.1:8001 --web-root frontend/dist
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
DEFAULT_MAX_BODY = 5 * 1024 * 1024 + 64 * 1024  # the gateway's upload limit plus multipart overhead


def render(
    listen: str,
    gateway: str,
    web_root: Path,
    prefix: Path,
    max_body: int = DEFAULT_MAX_BODY,
    mime_types: str = "/etc/nginx/mime.types",
) -> str:
    # A root master hands requests to an unprivileged worker; elsewhere the directive is meaningless.
    user = "user www-data;" if os.geteuid() == 0 else ""
    values = {
        "USER": user,
        "PREFIX": str(prefix.resolve()),
        "LISTEN": listen,
        "GATEWAY": gateway,
        "WEB_ROOT": str(web_root.resolve()),
        "MAX_BODY": str(max_body),
        "MIME_TYPES": mime_types,
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def write(out: Path, prefix: Path, **kwargs: object) -> Path:
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(prefix=prefix, **kwargs))  # type: ignore[arg-type]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prefix", type=Path, required=True, help="folder for pid, logs and temp files")
    parser.add_argument("--listen", default="127.0.0.1:8000")
    parser.add_argument("--gateway", default="127.0.0.1:8001", help="host:port of the gateway")
    parser.add_argument("--web-root", type=Path, default=Path("frontend/dist"))
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY)
    args = parser.parse_args()
    write(
        args.out,
        args.prefix,
        listen=args.listen,
        gateway=args.gateway,
        web_root=args.web_root,
        max_body=args.max_body,
    )


if __name__ == "__main__":
    main()
