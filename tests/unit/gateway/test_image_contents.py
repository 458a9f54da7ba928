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


HIDING = """
import sys
class Hidden:
    \"\"\"Packages the image does not install cannot be imported, as in the image: an optional import
    (redis-py tries cryptography) then takes its fallback instead of counting as a need.\"\"\"
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the gateway's image)")
        return None
sys.meta_path.insert(0, Hidden())
"""


def modules_after(statement: str, hidden: set[str]) -> set[str]:
    script = f"HIDDEN = {sorted(hidden)!r}\n{HIDING}\n{statement}\nprint('\\n'.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return set(run.stdout.split())


def imported_by_the_gateway(hidden: set[str]) -> list[str]:
    """What importing the app adds to a bare interpreter's modules (site's hooks are not the gateway's),
    with ``hidden`` top-level packages unimportable."""
    return sorted(modules_after("import gateway.main", hidden) - modules_after("pass", hidden))


def test_the_gateway_imports_only_what_its_image_installs_and_copies():
    lines = (REPO / "requirements" / "gateway.txt").read_text().splitlines()
    requirements = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    allowed = installed_by(requirements)
    copied = re.findall(
        r"^COPY (?!requirements)(.+) \S+/$", (REPO / "docker/gateway.Dockerfile").read_text(), re.M
    )
    paths = [path for line in copied for path in line.split()]
    folders = [p.rstrip("/").replace("/", ".") for p in paths if p.endswith("/")]  # and all below them
    files = [
        p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in paths if p.endswith(".py")
    ]
    distributions = metadata.packages_distributions()
    outside = {
        top
        for top, names in distributions.items()
        if not {name.lower().replace("_", "-") for name in names} & allowed
    }
    modules = imported_by_the_gateway(outside - {"gateway", "inference", "ops", "store"})
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
