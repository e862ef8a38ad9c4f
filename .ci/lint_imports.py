"""Run lint-imports (import-linter) over zchat laid out as it is installed.

pyproject.toml's package-dir makes the top-level folders broker/, client/,
common/ and protocol/ into zchat.broker, zchat.client, ... An editable install
maps them with an import hook, and grimp (import-linter's graph builder) finds a
package's modules by walking its folder, zchat/, so it would see the CLI alone
(and the layers contract would fail on missing layers). This copies each folder
to where the install puts it, in a temporary directory, from the same
package-dir table, and runs lint-imports there with pyproject.toml's contracts
(copied beside the tree, where lint-imports looks for them).

    python .ci/lint_imports.py [lint-imports options, e.g. --verbose]

Exit status: lint-imports'.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lay_out(dest: Path, root: Path = ROOT) -> None:
    """Copy the package folders under ``dest`` as the install arranges them, and the
    contracts (pyproject.toml) beside them."""
    shutil.copy(root / "pyproject.toml", dest)
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    for package in sorted(package_dir):  # a package before the ones inside it
        shutil.copytree(root / package_dir[package], dest.joinpath(*package.split(".")),
                        ignore=shutil.ignore_patterns("__pycache__"))


def lint_imports(tree: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """lint-imports over the laid-out ``tree``, its output captured."""
    command = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or "lint-imports"
    # From inside the tree, which lint-imports puts first on sys.path: zchat is found
    # there, before the editable install's hook.
    return subprocess.run([command, "--no-cache", *options],
                          cwd=tree, capture_output=True, text=True, check=False)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="zchat-layout-") as tmp:
        lay_out(Path(tmp))
        result = lint_imports(Path(tmp), *sys.argv[1:])
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
