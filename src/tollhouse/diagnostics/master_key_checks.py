"""Where the master key comes from, and whether its file is private (mode 0600).

Unlike :func:`tollhouse.security.master_key.load_master_key`, nothing here creates a
key file: a doctor that "fixed" a missing key would hide the reason every stored
private key stopped opening.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tollhouse.diagnostics.findings import Finding, error, ok, warning
from tollhouse.errors import ConfigError
from tollhouse.security.master_key import ENV_VAR, FILE_NAME, load_master_key
from tollhouse.security.secretbox import SecretBox

CHECK = "master_key"


@dataclass(frozen=True, slots=True)
class MasterKeyReport:
    findings: list[Finding]
    box: SecretBox | None
    """The box to open private keys with, when the key could be loaded."""


def check_master_key(env_value: str | None, data_dir: Path, keys_stored: int) -> MasterKeyReport:
    """Load the master key as a server would, without ever creating one."""
    path = data_dir / FILE_NAME
    found: list[Finding] = []
    if env_value is not None:
        if path.exists():
            found.append(
                warning(
                    CHECK,
                    f"both {ENV_VAR} and {path} exist; the variable wins and the file is unused",
                    f"delete {path} once you are sure the keys open with the variable",
                )
            )
        try:
            key = load_master_key(env_value, data_dir)
        except ConfigError as exc:
            found.append(error(CHECK, str(exc), f"set {ENV_VAR} to base64 of 32 random bytes"))
            return MasterKeyReport(found, None)
        found.append(ok(CHECK, f"master key from {ENV_VAR} (32 bytes)"))
        return MasterKeyReport(found, SecretBox(key.key))
    if not path.exists():
        if keys_stored:
            found.append(
                error(
                    CHECK,
                    f"no master key: neither {ENV_VAR} nor {path} exists, yet {keys_stored} "
                    "private keys are stored under one",
                    f"restore {path} (or {ENV_VAR}); a new key would not open the stored keys",
                )
            )
        else:
            found.append(
                ok(CHECK, f"no master key yet; `tollhouse serve` creates {path} (mode 0600)")
            )
        return MasterKeyReport(found, None)
    mode = stat.S_IMODE(os.lstat(path).st_mode)
    if stat.S_ISLNK(os.lstat(path).st_mode):
        found.append(
            error(
                CHECK,
                f"{path} is a symbolic link; the server refuses to follow it",
                "replace the link with the file itself (mode 0600)",
            )
        )
        return MasterKeyReport(found, None)
    try:
        key = load_master_key(None, data_dir)
    except ConfigError as exc:
        fix = f"chmod 600 {path}" if mode & 0o077 else f"restore {path} from a backup"
        found.append(error(CHECK, str(exc), fix))
        return MasterKeyReport(found, None)
    found.append(ok(CHECK, f"master key from {path}, mode {mode:04o} (owner only)"))
    return MasterKeyReport(found, SecretBox(key.key))
