"""The gateway imports nothing its container image lacks: only the packages requirements/gateway.txt
installs (with what they pull in), and only the modules docker/gateway.Dockerfile copies. A drift counter
that imported numpy through inference.scoring once passed every test here and crashed the image."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement

from tests.conftest import REPO


def installed_by(requirements: list[str]) -> set[str]:
    """The distributions pip installs for ``requirements``, extras and dependencies included."""
    found: set[str] = set()
    todo = [Requirement(line) for line in requirements]
    while todo:
        wanted = todo.pop()
        name = wanted.name.lower().replace("_", "-")
        if name in found:
            continue
        found.add(name)
        for line in metadata.requires(wanted.name) or []:
            needed = Requirement(line)
            extras = [{"extra": extra} for extra in wanted.extras] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(env) for env in extras):
                todo.append(needed)
    return found


# Extras the gateway's libraries import when they are present and go on without (behind an ImportError):
# the image installs none of them, a developer's environment may hold them (trustme pulls cryptography).
OPTIONAL_EXTRAS = {"httpx": ("brotli", "cli"), "redis": ("ocsp",)}


def optional_extras() -> set[str]:
    """The distributions of ``OPTIONAL_EXTRAS``, as their libraries declare them."""
    found = set()
    for distribution, extras in OPTIONAL_EXTRAS.items():
        for line in metadata.requires(distribution) or []:
            needed = Requirement(line)
            if needed.marker is not None and any(needed.marker.evaluate({"extra": e}) for e in extras):
                found.add(needed.name.lower().replace("_", "-"))
    return found


def modules_after(statement: str) -> set[str]:
    script = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def imported_by_the_gateway() -> list[str]:
    """What importing the app adds to a bare interpreter's modules (site's hooks are not the gateway's)."""
    return sorted(modules_after("import gateway.main") - modules_after("pass"))


def test_the_gateway_imports_only_what_its_image_installs_and_copies():
    lines = (REPO / "requirements" / "gateway.txt").read_text().splitlines()
    requirements = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    allowed = installed_by(requirements) | optional_extras()
    copied = re.findall(
        r"^COPY (?!requirements)(.+) \S+/$", (REPO / "docker/gateway.Dockerfile").read_text(), re.M
    )
    paths = [path for line in copied for path in line.split()]
    folders = [p.rstrip("/").replace("/", ".") for p in paths if p.endswith("/")]  # and all below them
    files = [
        p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in paths if p.endswith(".py")
    ]
    distributions = metadata.packages_distributions()
    modules = imported_by_the_gateway()
    ours = [m for m in modules if m.split(".")[0] in {"gateway", "inference", "ops", "store"}]
    assert [
        m for m in ours if m not in files + folders and not any(m.startswith(f + ".") for f in folders)
    ] == []
    third_party = (
        {m.split(".")[0] for m in modules}
        - set(sys.stdlib_module_names)
        - {"gateway", "inference", "ops", "store"}
    )
    missing = {
        top: distributions[top]
        for top in third_party
        if top in distributions and not {d.lower().replace("_", "-") for d in distributions[top]} & allowed
    }
    assert missing == {}
