"""Files that hold personal data — the SQLite database, incident photos, briefings — are readable by the
service's own user only: folders 0700, files 0600, whatever the process umask (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700 folders (folders that exist are left as they are)."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        os.chmod(folder, PRIVATE_FOLDER)  # mkdir's mode passes through the umask
    return path


def private_file(path: Path) -> Path:
    """Make ``path`` a 0600 file: created empty when missing (in 0700 folders), tightened when it exists."""
    private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    os.chmod(path, PRIVATE_FILE)
    return path


def write_private(path: Path, content: bytes) -> Path:
    """Write ``content`` to ``path`` as a 0600 file, atomically: a reader never sees half a file."""
    partial = private_file(path.with_name(path.name + ".part"))
    with partial.open("wb") as out:
        out.write(content)
    os.replace(partial, path)
    return path
