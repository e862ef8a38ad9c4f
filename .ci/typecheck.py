"""Run ``mypy --strict`` over every zchat package, laid out as it is installed.

An editable install maps broker/, client/, common/ and protocol/ to zchat.broker,
zchat.client, ... with an import hook mypy cannot follow, so ``zchat.protocol``
would be "not found" from broker/. This lays the packages out as the install does
(lint_imports.lay_out), checks ``-p zchat`` there, and prints each error with the
path of the file in this repository.

    python .ci/typecheck.py [mypy options]

Exit status: mypy's.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lint_imports import ROOT, lay_out


def repo_paths(text: str, root: Path = ROOT) -> str:
    """``zchat/broker/core.py:12: ...`` -> ``broker/core.py:12: ...`` (package-dir)."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    # The longest installed path first: zchat/broker/ before zchat/.
    table = sorted(((package.replace(".", "/") + "/", folder.rstrip("/") + "/")
                    for package, folder in package_dir.items()),
                   key=lambda pair: -len(pair[0]))
    pattern = re.compile("^(" + "|".join(re.escape(src) for src, _ in table) + ")", re.M)
    lookup = dict(table)
    return pattern.sub(lambda match: lookup[match.group(1)], text)


def main() -> int:
    mypy = shutil.which("mypy", path=os.path.dirname(sys.executable)) or "mypy"
    with tempfile.TemporaryDirectory(prefix="zchat-types-") as tmp:
        lay_out(Path(tmp))
        result = subprocess.run([mypy, "--strict", *sys.argv[1:], "-p", "zchat"],
                                cwd=tmp, capture_output=True, text=True, check=False)
    sys.stdout.write(repo_paths(result.stdout))
    sys.stderr.write(repo_paths(result.stderr))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
