"""WeCom's callback cryptography (WECOM.md §1): the message signature and the AES envelope.

WeCom signs every callback with `sha1(sorted([token, timestamp, nonce, ciphertext]) joined)` and
encrypts the message with AES-256-CBC under the key `base64(EncodingAESKey + "=")`, IV = key[:16].
The plaintext is `16 random bytes ‖ uint32-be len(msg) ‖ msg ‖ receiveid`, padded PKCS#7-style to a
multiple of **32** bytes (pad values 1..32) — a stock 16-byte unpadder would refuse real traffic.

`WecomCrypto.verify()` must run before `decrypt()`: it compares in constant time, so a forger learns
nothing from timing, and nothing unauthenticated ever reaches the cipher. Every refusal raises
`CryptoError` whose text is a short reason that is safe to return and log (it never holds a secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from config.wecom import AES_KEY_RE

BLOCK = 32  # WeCom's PKCS#7 block size (not AES's 16)


class CryptoError(ValueError):
    """A callback that fails authentication or decryption; str(exc) is a short, secret-free reason."""


def pad(data: bytes) -> bytes:
    """PKCS#7 padding to a multiple of 32 bytes (always adds 1..32 bytes)."""
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def unpad(data: bytes) -> bytes:
    """Strip WeCom's 32-byte PKCS#7 padding; refuse anything that is not exactly that."""
    if not data:
        raise CryptoError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= BLOCK or n > len(data) or data[-n:] != bytes([n]) * n:
        raise CryptoError("bad padding")
    return data[:-n]


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the console's 43-character EncodingAESKey."""
    if not AES_KEY_RE.match(encoding_aes_key or ""):
        raise ValueError("EncodingAESKey must be exactly 43 letters and digits")
    return base64.b64decode(encoding_aes_key + "=")


class WecomCrypto:
    """Sign, verify, encrypt and decrypt WeCom callback messages for one app (token, key, receive id)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str):
        self._token = token
        self._key = aes_key(encoding_aes_key)
        self._receive_id = receive_id.encode()

    def __repr__(self) -> str:  # never show the token or the key
        return f"WecomCrypto(receive_id={self._receive_id.decode()!r})"

    def signature(self, timestamp: str, nonce: str, data: str) -> str:
        """WeCom's msg_signature: sha1 over the four values sorted as strings, 40 lowercase hex."""
        return hashlib.sha1("".join(sorted([self._token, timestamp, nonce, data])).encode()).hexdigest()

    def verify(self, signature: str, timestamp: str, nonce: str, data: str) -> None:
        """Raise CryptoError unless `signature` signs (timestamp, nonce, data); constant-time compare."""
        expected = self.signature(timestamp, nonce, data)
        if not hmac.compare_digest(expected.encode(), (signature or "").lower().encode()):
            raise CryptoError("bad signature")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, msg: bytes, random16: bytes | None = None) -> str:
        """Encrypt `msg` for this receive id as WeCom does; returns the base64 text for <Encrypt>."""
        random16 = os.urandom(16) if random16 is None else random16
        if len(random16) != 16:
            raise ValueError("random prefix must be 16 bytes")
        plain = pad(random16 + struct.pack(">I", len(msg)) + msg + self._receive_id)
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode("ascii")

    def decrypt(self, ciphertext_b64: str) -> bytes:
        """Decrypt an <Encrypt> value or echostr; check the layout and that the receive id is ours."""
        try:
            raw = base64.b64decode(ciphertext_b64, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise CryptoError("ciphertext length is not a multiple of the AES block")
        dec = self._cipher().decryptor()
        plain = unpad(dec.update(raw) + dec.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError("bad length field")
        msg, receive_id = plain[20:20 + length], plain[20 + length:]
        if not hmac.compare_digest(receive_id, self._receive_id):
            raise CryptoError("receive id (corpid) mismatch")
        return msg
