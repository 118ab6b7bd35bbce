"""Client secrets are stored encrypted (Fernet).  The key comes from PASSBACK_SECRET_KEY or a key
file ``<PASSBACK_HOME>/secret.key`` (created on first use, mode 0600).

First use may happen in several processes at once (workers on a fresh home): the key is written
whole to a private temporary file, then linked into place, which fails if another process got
there first — every process then reads the one key that won, never an empty or half-written file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from passback.settings import get_settings


class SecretKeyError(RuntimeError):
    pass


def _key() -> bytes:
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.home) / "secret.key"
    if not path.exists():
        create_key_file(path)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise SecretKeyError(
            f"the key file {path} does not hold a Fernet key (32 url-safe base64-encoded bytes): "
            "restore it from your backup, or set PASSBACK_SECRET_KEY"
        ) from None
    return key


def create_key_file(path: Path) -> None:
    """Write a new key to ``path`` unless it exists; atomic (a reader never sees it empty), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic; fails when another process created the key first: its key wins
        except FileExistsError:
            return
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)


def encrypt_secret(secret: str | SecretStr) -> str:
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return Fernet(_key()).encrypt(value.encode()).decode()


def decrypt_secret(ciphertext: str) -> SecretStr:
    try:
        return SecretStr(Fernet(_key()).decrypt(ciphertext.encode()).decode())
    except (InvalidToken, ValueError):
        raise SecretKeyError(
            "the stored client secret cannot be decrypted: the secret key changed (PASSBACK_SECRET_KEY or "
            "<PASSBACK_HOME>/secret.key); restore the key, or re-enter the secret with "
            "`passback district set ID --client-secret -`"
        ) from None
