"""A `--decrypt-command` for tests, speaking the loader's JSON-lines protocol (ingest.envelope).

Tencent's SDK cipher for encrypt_chat_msg is not public, so the tests seal messages with AES-256-CBC
under the random key (IV = key[:16], 32-byte PKCS#7) and this command opens them the same way. A site
with the SDK replaces this program with a call to DecryptData; the loader's side is the same.
"""

import base64
import sys

import orjson
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ingest.wecom_crypto import CryptoError, unpad

for line in sys.stdin.buffer:
    req = orjson.loads(line)
    key = req["random_key"].encode()
    try:
        dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        out = unpad(dec.update(base64.b64decode(req["encrypt_chat_msg"])) + dec.finalize())
    except (CryptoError, ValueError) as exc:
        out = orjson.dumps({"error": str(exc)})
    sys.stdout.buffer.write(out + b"\n")
    sys.stdout.buffer.flush()
