"""Client secrets are stored encrypted (Fernet).  The key comes from PASSBACK_SECRET_KEY or a key
file ``<PASSBACK_HOME>/secret.key`` (created on first use, mode 0600)."""

from __future__ import annotations

import os
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
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
    return path.read_bytes().strip()


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
