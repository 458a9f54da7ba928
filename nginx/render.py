"""Render nginx.conf.template for one deployment (native stack, tests, containers).

    python -m nginx.render --out var/nginx/nginx.conf --prefix var/nginx --listen 127.0.0.1:8000 \
        --gateway 127.0.0.1:8001 --web-root frontend/dist

The edge's settings come from the environment (``EdgeSettings``), so that one ``MAX_UPLOAD_BYTES``
reaches nginx, the gateway, TorchServe and the handler alike.
Standard library only: the web image renders its configuration with a bare Python.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import pwd
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
SNIPPETS = Path(__file__).resolve().parent  # security_headers.conf, included by the configuration
ERRORS_PREFIX = "/_edge_error/"  # the internal locations of nginx's own error answers
TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")
# inference.formats' values (a unit test holds them equal): the web image has no more than this folder.
MULTIPART_OVERHEAD = 64 * 1024  # multipart headers and boundaries around the image
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
BATCH_UPLOADS = 4  # a batch's body may weigh this many MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class EdgeError:
    """An answer nginx makes itself (``error_page``): the statuses it stands for, the status it sends,
    its error code and message (``{max_upload_mb}`` filled in), and Retry-After when it is worth
    retrying. The gateway's own errors pass through untouched (``proxy_intercept_errors off``)."""

    location: str  # under ERRORS_PREFIX
    statuses: tuple[int, ...]
    status: int
    code: str
    message: str
    retry_after: int | None = None


EDGE_ERRORS = (
    EdgeError("bad_request", (400,), 400, "bad_request", "the request is malformed"),
    # 403: a folder of the front end without an index: nothing there to tell apart from a missing path.
    EdgeError("not_found", (403, 404), 404, "not_found", "no such path"),
    EdgeError("method_not_allowed", (405,), 405, "method_not_allowed", "that method is not allowed here"),
    EdgeError(
        "too_large",
        (413,),
        413,
        "payload_too_large",
        "the image is larger than {max_upload_mb} MB (a batch: {max_batch_mb} MB)",
    ),
    EdgeError("uri_too_long", (414,), 414, "uri_too_long", "the URL is too long"),
    EdgeError(
        "rate_limited",
        (429,),
        429,
        "rate_limited",
        "too many requests from this address at once; try again in a moment",
        retry_after=1,
    ),
    EdgeError("header_too_large", (494,), 431, "header_too_large", "the request headers are too large"),
    # nginx's own 500 is nearly always a resource it ran out of: above all, the folder request bodies
    # spill to is full (a size-capped tmpfs, docs/security.md). Worth retrying shortly, never a bare 500.
    EdgeError(
        "overloaded",
        (500,),
        503,
        "overloaded",
        "the server is too busy to take this request; try again shortly",
        retry_after=5,
    ),
    EdgeError("not_implemented", (501,), 501, "not_implemented", "that transfer encoding is not supported"),
    EdgeError(
        "unavailable",
        (502, 503, 504),
        503,
        "gateway_unavailable",
        "the service is starting or down; try again shortly",
        retry_after=5,
    ),
    EdgeError(
        "http_version_not_supported", (505,), 505, "http_version_not_supported", "use HTTP/1.1 or HTTP/1.0"
    ),
)


def error_pages(max_upload_mb: str, max_batch_mb: str) -> str:
    """The ``error_page`` lines and the internal locations that answer them, for the server block. URIs,
    not named locations: nginx cannot redirect a request whose request line it could not parse (a 400,
    414 or 505) to a named location, and would answer a bare 500 instead."""
    lines = []
    for error in EDGE_ERRORS:
        statuses = " ".join(map(str, error.statuses))
        message = error.message.format(max_upload_mb=max_upload_mb, max_batch_mb=max_batch_mb)
        body = (
            f'{{"error":{{"code":"{error.code}","message":"{message}","request_id":"$fromsoft_request_id"}}}}'
        )
        lines += [
            f"        error_page {statuses} ={error.status} {ERRORS_PREFIX}{error.location};",
            f"        location = {ERRORS_PREFIX}{error.location} {{",
            "            internal;",
            "            default_type application/json;",
            # An error is about one request: never kept by a browser or a proxy, as the gateway's are not
            # (gateway.observability). A location with an add_header of its own inherits none of the
            # server's: hence the include.
            f"            include {SNIPPETS}/security_headers.conf;",
            '            add_header Cache-Control "no-store" always;',
        ]
        if error.retry_after is not None:
            lines += [f"            add_header Retry-After {error.retry_after} always;"]
        lines += [f"            return {error.status} '{body}';", "        }"]
    return "\n".join(lines)


def _cidrs(value: str) -> tuple[str, ...]:
    """Comma-separated addresses or networks, checked (nginx would refuse a bad one only at start)."""
    return tuple(str(ipaddress.ip_network(p.strip(), strict=False)) for p in value.split(",") if p.strip())


# What an edge key may hold: it goes into nginx.conf between double quotes and into an HTTP header.
EDGE_KEY = re.compile(r"[A-Za-z0-9+/=_-]{16,256}")


def _edge_key(path: str) -> str | None:
    """EDGE_KEY_FILE's key (``openssl rand -base64 24``), checked: nginx would send any text it held."""
    if not path:
        return None
    key = Path(path).read_text().strip()
    if not EDGE_KEY.fullmatch(key):
        raise ValueError(f"EDGE_KEY_FILE {path} must hold 16-256 of letters, digits, '+/=_-'")
    return key


def _workers(value: str) -> str:
    """EDGE_WORKERS: "auto" or a whole number of at least 1 (nginx would refuse others only at start)."""
    value = value.strip()
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise ValueError(f"EDGE_WORKERS must be 'auto' or a whole number of at least 1, not {value!r}")
    return value


@dataclass(frozen=True)
class EdgeSettings:
    """What an operator sets for the edge; docs/configuration.md's table lists the variables."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # MAX_UPLOAD_BYTES: the image, not the request
    # EDGE_TRUSTED_PROXIES: load balancers or ingress controllers in front of this nginx. Their
    # X-Forwarded-For names the client; nobody else's is believed. Empty: this nginx is the edge.
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)
    # Per client address, a safety net under the gateway's own rate limits: high enough that the page's
    # upload queue (every dropped file at once) never meets it; a flood does.
    limit_rate: int = 20  # EDGE_LIMIT_RATE: requests per second to /api/
    limit_burst: int = 100  # EDGE_LIMIT_BURST: requests above the rate served at once before 429s
    limit_conn: int = 32  # EDGE_LIMIT_CONN: requests in progress at a time, anywhere on the site
    # EDGE_WORKERS: nginx worker processes. "auto" is one per core nginx sees, which in a container is
    # every core of the host, not its CPU limit: set it to the limit there (an idle worker with its 4096
    # connections' structures took 5.7 MB here, 4.3 MB with 1024).
    workers: str = "auto"
    # EDGE_KEY_FILE: the key nginx sends the gateway as X-Edge-Key, the same file as the gateway's, so
    # that the gateway tells this nginx from other processes that reach it from a trusted address.
    key: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> EdgeSettings:
        env = dict(os.environ if env is None else env)
        defaults = cls()
        return cls(
            max_upload_bytes=int(env.get("MAX_UPLOAD_BYTES", defaults.max_upload_bytes)),
            trusted_proxies=_cidrs(env.get("EDGE_TRUSTED_PROXIES", "")),
            limit_rate=int(env.get("EDGE_LIMIT_RATE", defaults.limit_rate)),
            limit_burst=int(env.get("EDGE_LIMIT_BURST", defaults.limit_burst)),
            limit_conn=int(env.get("EDGE_LIMIT_CONN", defaults.limit_conn)),
            workers=_workers(env.get("EDGE_WORKERS", defaults.workers)),
            key=_edge_key(env.get("EDGE_KEY_FILE", "")),
        )

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + MULTIPART_OVERHEAD

    @property
    def max_batch_body_bytes(self) -> int:
        """The batch's body limit, the gateway's own too (inference.formats.batch_body_bytes)."""
        return BATCH_UPLOADS * self.max_upload_bytes + MULTIPART_OVERHEAD


def default_worker_user() -> str | None:
    """A root master hands requests to an unprivileged worker; a non-root master runs them itself."""
    return "www-data" if os.geteuid() == 0 else None


def render(
    listen: str,
    gateways: list[str],
    web_root: Path,
    prefix: Path,
    temp_root: Path | None = None,
    edge: EdgeSettings | None = None,
    worker_user: str | None = None,
    mime_types: str = "/etc/nginx/mime.types",
) -> str:
    edge = edge or EdgeSettings()
    real_ip = "".join(f"    set_real_ip_from {cidr};\n" for cidr in edge.trusted_proxies)
    if real_ip:
        real_ip += "    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n"
    id_proxies = "".join(f"        {cidr} 1;\n" for cidr in edge.trusted_proxies)
    max_upload_mb = f"{edge.max_upload_bytes / (1024 * 1024):g}"
    max_batch_mb = f"{edge.max_batch_body_bytes / (1024 * 1024):g}"
    values = {
        "USER": f"user {worker_user};" if worker_user else "",
        "WORKERS": edge.workers,
        "SNIPPETS": str(SNIPPETS),
        "ERROR_PAGES": error_pages(max_upload_mb, max_batch_mb),
        "PREFIX": str(prefix.resolve()),
        "TEMP": str((temp_root or prefix / "tmp").resolve()),
        "LISTEN": listen,
        # one serving replica's gateway each; nginx spreads requests over them
        "GATEWAYS": "\n".join(f"        server {address} max_fails=0;" for address in gateways),
        "WEB_ROOT": str(web_root.resolve()),
        "MAX_BODY": str(edge.max_body_bytes),
        "MAX_BATCH_BODY": str(edge.max_batch_body_bytes),
        "REAL_IP": real_ip.rstrip("\n"),
        "ID_PROXIES": id_proxies.rstrip("\n"),
        "LIMIT_RATE": str(edge.limit_rate),
        "LIMIT_BURST": str(edge.limit_burst),
        "LIMIT_CONN": str(edge.limit_conn),
        "MIME_TYPES": mime_types,
        "EDGE_KEY": edge.key or "",
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def _reachable_by_others(path: Path) -> bool:
    """Whether another user can get into ``path``: it and every folder above it let others through."""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def temp_root_for(prefix: Path, worker_user: str | None) -> Path:
    """Where nginx spills request bodies: under ``prefix``, unless the unprivileged worker cannot reach
    it (a checkout in a private home), then a folder of its own under the system's temp folder."""
    if worker_user is None or _reachable_by_others(prefix):
        return prefix / "tmp"
    return Path(tempfile.mkdtemp(prefix="fromsoft-nginx-"))


def write(out: Path, prefix: Path, worker_user: str | None = None, **kwargs: object) -> tuple[Path, Path]:
    """Write the configuration and its temp folders (owned by the worker, which writes bodies there).
    Returns the configuration's path and the temp root (a folder to remove after nginx stops when it is
    not under ``prefix``)."""
    prefix.mkdir(parents=True, exist_ok=True)
    temp_root = temp_root_for(prefix, worker_user)
    temp_root.mkdir(exist_ok=True)
    temp_root.chmod(0o755)
    for sub in TEMP_DIRS:
        (temp_root / sub).mkdir(parents=True, exist_ok=True)
        if worker_user is not None:
            user = pwd.getpwnam(worker_user)
            os.chown(temp_root / sub, user.pw_uid, user.pw_gid)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render(prefix=prefix, temp_root=temp_root, worker_user=worker_user, **kwargs)  # type: ignore[arg-type]
    # Its owner's alone from the start (nginx's master reads it; its workers do not): it may hold the
    # edge's key. A file left by an earlier run keeps its mode through O_CREAT, hence the fchmod.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as config:
        os.fchmod(fd, 0o600)
        config.write(text)
    return out, temp_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prefix", type=Path, required=True, help="folder for pid, logs and temp files")
    parser.add_argument("--listen", default="127.0.0.1:8000")
    parser.add_argument(
        "--gateway",
        action="append",
        dest="gateways",
        help="host:port of a replica's gateway, once per replica (default 127.0.0.1:8001)",
    )
    parser.add_argument("--web-root", type=Path, default=Path("frontend/dist"))
    parser.add_argument(
        "--worker-user",
        default=default_worker_user(),
        help="user of nginx's worker processes; 'none' when nginx does not start as root "
        "(default: www-data when run as root, none otherwise)",
    )
    parser.add_argument("--mime-types", default="/etc/nginx/mime.types")
    args = parser.parse_args()
    _, temp_root = write(
        args.out,
        args.prefix,
        worker_user=None if args.worker_user in (None, "none") else args.worker_user,
        listen=args.listen,
        gateways=args.gateways or ["127.0.0.1:8001"],
        web_root=args.web_root,
        edge=EdgeSettings.from_env(),
        mime_types=args.mime_types,
    )
    print(temp_root)  # the caller removes it after nginx stops when it is outside --prefix


if __name__ == "__main__":
    main()
