"""Signed head digests: a site's head (seq, hash) with an HMAC-SHA256 over its canonical JSON.

An inspector keeps the signed head of an export; a later export *extends* it when it verifies,
contains the signed seq with the signed hash, and the signature checks with the operator's key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest_server.inspection_log._errors import SignatureError
from ingest_server.inspection_log._models import Entry, canonical_json, format_ts
from ingest_server.inspection_log._verify import Link, verify_chain

__all__ = ["ExtendsResult", "HeadSigner", "SignedHead", "check_extends"]

# HMAC-SHA256 keys shorter than the hash output weaken it; refuse them.
MIN_KEY_BYTES = 32


class SignedHead(BaseModel):
    """A site's head at a moment, signed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["linli-inspection-head"] = "linli-inspection-head"
    alg: Literal["HMAC-SHA256"] = "HMAC-SHA256"
    key_id: str = Field(min_length=1, max_length=64)
    site: str
    seq: int = Field(ge=0)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    signed_at: str
    signature: str = Field(pattern=r"^[0-9a-f]{64}$")

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature, canonical JSON."""
        return canonical_json(self.model_dump(mode="json", exclude={"signature"})).encode()


class HeadSigner:
    """Signs and checks head digests with one HMAC key."""

    def __init__(self, key: bytes, key_id: str = "k1") -> None:
        if len(key) < MIN_KEY_BYTES:
            raise SignatureError(f"the signing key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.key_id = key_id

    def _mac(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def sign(self, site: str, seq: int, head_hash: str, at: datetime) -> SignedHead:
        """Sign ``site``'s head ``(seq, head_hash)`` as of ``at``."""
        unsigned = SignedHead(
            key_id=self.key_id,
            site=site,
            seq=seq,
            hash=head_hash,
            signed_at=format_ts(at),
            signature="0" * 64,
        )
        return unsigned.model_copy(update={"signature": self._mac(unsigned.signed_bytes())})

    def check(self, head: SignedHead) -> None:
        """Raise :class:`SignatureError` unless ``head`` was signed with this key."""
        if head.key_id != self.key_id:
            raise SignatureError(f"signed with key {head.key_id!r}, not {self.key_id!r}")
        if not hmac.compare_digest(self._mac(head.signed_bytes()), head.signature):
            raise SignatureError("signature does not match: the head digest was forged or altered")


@dataclass(frozen=True)
class ExtendsResult:
    ok: bool
    reason: str


def check_extends(
    later: Iterable[Entry | Link], earlier: SignedHead, signer: HeadSigner
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
