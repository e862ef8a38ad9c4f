"""The user's own CURVE key pair, kept on disk so that a name stays theirs.

With encryption on, the first key to take a name owns it. A throwaway key per
run would lose the name at the next run, so `zchat join --server-key` without
`--key` uses (and, the first time, creates) a key pair kept per name under
$XDG_CONFIG_HOME/zchat/keys (else ~/.config/zchat/keys), secret file mode 0600.
"""

import hashlib
import os
import re
from pathlib import Path

import zmq.auth

from zchat.protocol import name_key

_SAFE = re.compile(r"[A-Za-z0-9._-]{1,32}")


def keys_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "zchat" / "keys"


def create_pair(folder: Path, stem: str) -> tuple[Path, Path]:
    """Write STEM.key and STEM.key_secret (0600) in ``folder``; never overwrites."""
    public, secret = folder / f"{stem}.key", folder / f"{stem}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise FileExistsError(f"{path} exists: not overwriting a key")
    old_umask = os.umask(0o077)  # the secret file is never readable by others, even briefly
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written_public, written_secret = zmq.auth.create_certificates(folder, stem)
    finally:
        os.umask(old_umask)
    os.chmod(written_public, 0o644)  # the public half is meant to be shared
    return Path(written_public), Path(written_secret)


def default_secret(name: str) -> tuple[Path, bool]:
    """The secret key file for ``name``, created if missing; True when just created."""
    stem = name if _SAFE.fullmatch(name) else \
        "name-" + hashlib.sha256(name_key(name).encode()).hexdigest()[:16]
    secret = keys_dir() / f"{stem}.key_secret"
    if secret.exists():
        return secret, False
    create_pair(keys_dir(), stem)
    return secret, True
