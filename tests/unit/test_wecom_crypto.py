"""WeCom callback crypto: Tencent's published known answers, an independent peer (wechatpy), attacks."""

from __future__ import annotations

import base64
import struct

import pytest
from wechatpy.crypto import _get_signature as peer_signature
from wechatpy.enterprise.crypto import PrpCrypto as PeerPrp
from wechatpy.enterprise.crypto import WeChatCrypto as PeerCrypto

from ingest import wecom_xml
from ingest.wecom_client import contact_event, event_xml
from ingest.wecom_crypto import CryptoError, WecomCrypto, pad, unpad

# Tencent's official sample credentials and vectors (WECOM.md §1).
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORPID = "ww1436e0e65a779aee"
GET = dict(msg_signature="012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb", timestamp="1476416373", nonce="47744683",
           echostr="fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==")
POST = dict(msg_signature="0c3914025cb4b4d68103f6bfc8db550f79dcf48e", timestamp="1476422779", nonce="1597212914",
            encrypt="Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+")

CHANGE_TYPES = {
    "add_external_contact": {"State": "channel_7", "WelcomeCode": "WELCOMECODE"},
    "add_half_external_contact": {"State": "teststate", "WelcomeCode": "WELCOMECODE"},
    "edit_external_contact": {},
    "del_external_contact": {"Source": "DELETE_BY_TRANSFER"},
    "del_follow_user": {},
    "transfer_fail": {"FailReason": "customer_refused"},
    "msg_audit_approved": {"WelcomeCode": "WELCOMECODE"},
}


@pytest.fixture
def crypto():
    return WecomCrypto(TOKEN, AES_KEY, CORPID)


def test_url_verification_vector_signature_and_echo(crypto):
    crypto.verify(GET["msg_signature"], GET["timestamp"], GET["nonce"], GET["echostr"])
    assert crypto.decrypt(GET["echostr"]) == b"1288432023552776189"


def test_event_vector_signature_and_plaintext(crypto):
    crypto.verify(POST["msg_signature"], POST["timestamp"], POST["nonce"], POST["encrypt"])
    msg = wecom_xml.message(crypto.decrypt(POST["encrypt"]))
    assert msg["MsgType"] == "text" and msg["Content"] == "你好"
    assert msg["FromUserName"] == "ChenJiaShun" and msg["MsgId"] == "1456453720"
    assert msg["ToUserName"] == CORPID


def test_signature_is_sha1_of_the_four_values_sorted(crypto):
    assert crypto.signature(GET["timestamp"], GET["nonce"], GET["echostr"]) == GET["msg_signature"]
    assert len(crypto.signature("1", "2", "3")) == 40


@pytest.mark.parametrize("change_type", sorted(CHANGE_TYPES))
def test_peer_encrypts_we_decrypt_every_change_type(crypto, change_type):
    fields = contact_event(CORPID, change_type, "zhangsan", "wmGAgeDQAAvQeaTqWwkMTxGMkvI7OOuQ", 1764210000,
                           **CHANGE_TYPES[change_type])
    plaintext = event_xml(fields)
    encrypted = PeerPrp(base64.b64decode(AES_KEY + "=")).encrypt(plaintext.decode(), CORPID).decode()
    sig = peer_signature(TOKEN, "1764210000", "nonce123", encrypted)
    crypto.verify(sig, "1764210000", "nonce123", encrypted)
    assert wecom_xml.message(crypto.decrypt(encrypted)) == fields


@pytest.mark.parametrize("change_type", sorted(CHANGE_TYPES))
def test_we_encrypt_peer_decrypts_every_change_type(crypto, change_type):
    fields = contact_event(CORPID, change_type, "lisi", "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA", 1764210000,
                           **CHANGE_TYPES[change_type])
    plaintext = event_xml(fields)
    encrypted = crypto.encrypt(plaintext)
    sig = crypto.signature("1764210000", "n0nce", encrypted)
    body = f"<xml><ToUserName><![CDATA[{CORPID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    peer = PeerCrypto(TOKEN, AES_KEY, CORPID)
    assert peer.decrypt_message(body, sig, "1764210000", "n0nce").encode() == plaintext


def test_padding_runs_to_32_byte_blocks():
    for n in range(0, 70):
        padded = pad(b"x" * n)
        assert len(padded) % 32 == 0 and 1 <= padded[-1] <= 32
        assert unpad(padded) == b"x" * n
    # A message whose padding is 17..32 bytes is what a 16-byte unpadder rejects; we must not.
    assert unpad(b"a" * 12 + bytes([20]) * 20) == b"a" * 12


def test_forged_signature_refused(crypto):
    with pytest.raises(CryptoError, match="bad signature"):
        crypto.verify("0" * 40, POST["timestamp"], POST["nonce"], POST["encrypt"])
    with pytest.raises(CryptoError, match="bad signature"):
        crypto.verify(POST["msg_signature"], POST["timestamp"], "other-nonce", POST["encrypt"])


def test_wrong_corpid_refused():
    ours = WecomCrypto(TOKEN, AES_KEY, "wwsomeoneelse00001")
    with pytest.raises(CryptoError, match="corpid"):
        ours.decrypt(POST["encrypt"])


def test_truncated_and_non_base64_ciphertext_refused(crypto):
    with pytest.raises(CryptoError, match="not base64"):
        crypto.decrypt("not*base64!")
    with pytest.raises(CryptoError, match="multiple"):
        crypto.decrypt(base64.b64encode(base64.b64decode(POST["encrypt"])[:-5]).decode())
    with pytest.raises(CryptoError):  # whole blocks cut off: padding or length no longer fit
        crypto.decrypt(base64.b64encode(base64.b64decode(POST["encrypt"])[:-32]).decode())


def test_length_field_beyond_plaintext_refused(crypto):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    key = base64.b64decode(AES_KEY + "=")
    plain = pad(b"r" * 16 + struct.pack(">I", 10_000) + b"short" + CORPID.encode())
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    with pytest.raises(CryptoError, match="length"):
        crypto.decrypt(base64.b64encode(enc.update(plain) + enc.finalize()).decode())


def test_secrets_are_not_in_repr(crypto):
    assert TOKEN not in repr(crypto) and AES_KEY not in repr(crypto)


def test_bad_encoding_aes_key_is_refused():
    with pytest.raises(ValueError, match="43"):
        WecomCrypto(TOKEN, AES_KEY[:-1], CORPID)
