"""Signed head digests: a site's head (seq, hash) signed over its canonical JSON.

Two algorithms:

- ``HMAC-SHA256`` (:class:`HeadSigner`): one shared secret signs and checks; whoever checks can
  also sign.
- ``Ed25519`` (:class:`Ed25519Signer`): the operator signs with a private key, anyone holding the
  public key checks, so an inspector can verify heads without being able to forge them.

An inspector keeps the signed head of an export; a later export *extends* it when it verifies,
contains the signed seq with the signed hash, and the signature checks.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from ingest_server.inspection_log._errors import SignatureError
from ingest_server.inspection_log._models import Entry, canonical_json, format_ts
from ingest_server.inspection_log._verify import Link, verify_chain

__all__ = [
    "MIN_KEY_BYTES",
    "Ed25519Signer",
    "ExtendsResult",
    "HeadSigner",
    "SignedHead",
    "Signer",
    "check_extends",
]

# HMAC-SHA256 keys shorter than the hash output weaken it; refuse them.
MIN_KEY_BYTES = 32

Algorithm = Literal["HMAC-SHA256", "Ed25519"]


class SignedHead(BaseModel):
    """A site's head at a moment, signed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["linli-inspection-head"] = "linli-inspection-head"
    alg: Algorithm = "HMAC-SHA256"
    key_id: str = Field(min_length=1, max_length=64)
    site: str
    seq: int = Field(ge=0)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    signed_at: str
    signature: str = Field(pattern=r"^([0-9a-f]{64}|[0-9a-f]{128})$")

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature, canonical JSON."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature"})).encode()


class Signer(Protocol):
    """Signs head digests and checks them."""

    @property
    def alg(self) -> Algorithm: ...

    @property
    def key_id(self) -> str: ...

    @property
    def can_sign(self) -> bool: ...

    def sign(self, site: str, seq: int, head_hash: str, at: datetime) -> SignedHead: ...

    def check(self, head: SignedHead) -> None: ...


def _unsigned(signer: Signer, site: str, seq: int, head_hash: str, at: datetime) -> SignedHead:
    return SignedHead(
        alg=signer.alg,
        key_id=signer.key_id,
        site=site,
        seq=seq,
        hash=head_hash,
        signed_at=format_ts(at),
        signature="0" * 64,
    )


def _check_identity(signer: Signer, head: SignedHead) -> None:
    if head.alg != signer.alg:
        raise SignatureError(f"signed with {head.alg}, this key is {signer.alg}")
    if head.key_id != signer.key_id:
        raise SignatureError(f"signed with key {head.key_id!r}, not {signer.key_id!r}")


class HeadSigner:
    """HMAC-SHA256 over the head with one shared key."""

    alg: Algorithm = "HMAC-SHA256"
    can_sign = True

    def __init__(self, key: bytes, key_id: str = "k1") -> None:
        if len(key) < MIN_KEY_BYTES:
            raise SignatureError(f"the signing key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.key_id = key_id

    def _mac(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def sign(self, site: str, seq: int, head_hash: str, at: datetime) -> SignedHead:
        """Sign ``site``'s head ``(seq, head_hash)`` as of ``at``."""
        unsigned = _unsigned(self, site, seq, head_hash, at)
        return unsigned.model_copy(update={"signature": self._mac(unsigned.signed_bytes())})

    def check(self, head: SignedHead) -> None:
        """Raise :class:`SignatureError` unless ``head`` was signed with this key."""
        _check_identity(self, head)
        if not hmac.compare_digest(self._mac(head.signed_bytes()), head.signature):
            raise SignatureError("signature does not match: the head digest was forged or altered")


class Ed25519Signer:
    """Ed25519 over the head: signs with a private key, checks with the public key alone."""

    alg: Algorithm = "Ed25519"

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        private_key: Ed25519PrivateKey | None = None,
        key_id: str = "k1",
    ) -> None:
        self._public = public_key
        self._private = private_key
        self.key_id = key_id

    @classmethod
    def from_private_pem(cls, pem: bytes, key_id: str = "k1") -> Ed25519Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise SignatureError(f"not a PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureError("the private key is not an Ed25519 key")
        return cls(key.public_key(), key, key_id)

    @classmethod
    def from_public_pem(cls, pem: bytes, key_id: str = "k1") -> Ed25519Signer:
        """A verify-only signer, for inspectors."""
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise SignatureError(f"not a PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError("the public key is not an Ed25519 key")
        return cls(key, None, key_id)

    @classmethod
    def from_files(
        cls, private: Path | None, public: Path | None, key_id: str = "k1"
    ) -> Ed25519Signer:
        if private is not None:
            return cls.from_private_pem(private.read_bytes(), key_id)
        if public is not None:
            return cls.from_public_pem(public.read_bytes(), key_id)
        raise SignatureError("an Ed25519 signer needs a private or a public key file")

    @property
    def can_sign(self) -> bool:
        return self._private is not None

    def public_pem(self) -> bytes:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, site: str, seq: int, head_hash: str, at: datetime) -> SignedHead:
        if self._private is None:
            raise SignatureError("this Ed25519 key can only check: no private key")
        unsigned = _unsigned(self, site, seq, head_hash, at)
        signature = self._private.sign(unsigned.signed_bytes()).hex()
        return unsigned.model_copy(update={"signature": signature})

    def check(self, head: SignedHead) -> None:
        _check_identity(self, head)
        try:
            self._public.verify(bytes.fromhex(head.signature), head.signed_bytes())
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError(
                "signature does not match: the head digest was forged or altered"
            ) from exc


@dataclass(frozen=True)
class ExtendsResult:
    ok: bool
    reason: str


def check_extends(
    later: Iterable[Entry | Link], earlier: SignedHead, signer: Signer
) -> ExtendsResult:
    """Whether the entries of a later export extend the chain ``earlier`` signed."""
    try:
        signer.check(earlier)
    except SignatureError as exc:
        return ExtendsResult(False, str(exc))
    found: list[str] = []

    def watch(items: Iterable[Entry | Link]) -> Iterable[Entry | Link]:
        for item in items:
            if item.site == earlier.site and item.seq == earlier.seq:
                found.append(item.hash)
            yield item

    report = verify_chain(watch(later))
    if not report.ok:
        return ExtendsResult(False, f"the later export does not verify: {report.summary()}")
    segment = report.sites.get(earlier.site)
    if earlier.seq == 0:
        return ExtendsResult(True, "the earlier head was the empty chain")
    if segment is None or not found:
        return ExtendsResult(
            False, f"the later export does not contain seq {earlier.seq} of {earlier.site}"
        )
    if found[0] != earlier.hash:
        return ExtendsResult(
            False, f"seq {earlier.seq} has a different hash: the chain was rewritten since"
        )
    return ExtendsResult(
        True, f"seq {earlier.seq} matches; the later export goes on to seq {segment.last_seq}"
    )
