#!/usr/bin/env python3
"""Independent verifier of the dmseal test vectors, written from
docs/PROTOCOL.md alone (no access to the Rust sources).

1:1 files (§11 table): PQXDH with ML-KEM-768 and classic X3DH setups from
the bundle of §4.2 (with the signed capabilities byte of §3.3), then the
Double Ratchet of §6 with the SIV message cipher of §6.1 (ChaCha20 with
block counter 0 under an HMAC-SHA256 synthetic IV).  Every message's bytes
are rebuilt from the keys and plaintexts, and delivered in the listed order.
With PQXDH both accounts run the KEM ratchet (§6.9: capability 0x02,
prekey flag 0x04, messages of type 0x0c): each send's KEM fields come from
the sender's state and the seed d || z or randomness m in kem_draws, and
each receiver takes the chunks in; the KEM fields are checked to be
associated data, and the wire and kind rules of §4.3, §4.4 and §6.9.7 are
exercised.  The classic files also check the in-band upgrade (§6.9.8) on
copies of their sessions.

kem_ratchet.json (§6.9): the GF(2^8) (0x11d) Reed-Solomon chunks of a
19-chunk payload and its rebuilding from 19 parity chunks (Lagrange, and a
second Gaussian-elimination decoder); then a whole session replayed from
the setup's output (RK0, CK0, R_A0, session_ad) through three epochs with
lost and reordered messages: every message rebuilt byte for byte by the
sender's state machine (EkPending, SendingEk, Decapsulated, ReceivingEk,
EkReceived, SendingCt; KDF_RK_KEM at the ek sender's DH step and on the
ct sender's receipt of that chain), every encapsulation's ciphertext,
epoch key and tag, every rebuilt key and ciphertext and decapsulation,
every delivered plaintext, and the epochs_mixed checkpoints.

group_sender_keys.json (§11, §12): the distribution record (state id
derived from the signing key, owner signature), the key tree from its root
node, each message's ek / mk / key commitment, the message bytes rebuilt
(SIV-Seal, Ed25519 over label || SHA-256(G || header || ciphertext ||
commitment)) and read in the listed order by a receiver, the export from
index 3 (keys for exactly the indices >= 6), and the rotation (the new
distribution's closure of the first state at last index 5, its message,
and the old state's message at index 6 refused as StateClosed).

conversation_content.json (§13.6-§13.9): each content type's bytes rebuilt
from its fields (message, group keys, key request, heal, retry receipt with
one and two message ids, re-send), and plaintexts that must read as an
unknown content type (empty, a heal with a body, receipts with no ids, a
cut id or 33 ids, a re-send of anything but a message, unknown types).

content_envelope.json (§13.12, §13.13): every content envelope rebuilt
from its fields and read back, envelopes that must be refused, the padded
length of each size under each padding policy, padded bytes, and padded
plaintexts whose padding must be refused.

attachments.json (§14, with the Padmé rounding of §13.13 and the content
envelope kind 0x08 of §13.12): each blob rebuilt from its key and file
(chunk key and commitment by HKDF, padded length, chunk count, blob length,
header, every chunk's offset, plaintext length, nonce and tag under
ChaCha20-Poly1305, the digest, the whole blob where listed) and read back
by a strict reader following §14.4 steps 1-4; damaged blobs, a forged size
and blobs of another file under the same key refused with the listed error
(and chunk index); attachment pointers (§14.5) decoded, checked against
their blob cases and re-encoded; the content envelope carrying one read and
rebuilt; malformed pointers refused, alone and inside an envelope.

Run from the repository root:  python3 tests/vectors/verify.py
Needs the standard library and the `cryptography` package.  ML-KEM-768
(FIPS 203) is implemented below in pure Python, because the vectors fix the
encapsulation randomness m (ML-KEM.Encaps_internal), which `cryptography`
does not expose; where `cryptography` has ML-KEM (from_seed_bytes,
decapsulate) it is used as a cross-check only.  ChaCha20 is
`cryptography`'s algorithms.ChaCha20 (16-byte nonce = u32le(counter) || n).
The files checked are listed in VECTOR_FILES.
Exits non-zero on any mismatch; prints one line per check and a final
line "N passed, M failed".
"""

import copy
import hashlib
import hmac
import json
import os
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

HERE = os.path.dirname(os.path.abspath(__file__))
VECTOR_FILES = [
    "pqxdh_with_one_time_prekeys.json",
    "pqxdh_with_last_resort_prekey.json",
    "x3dh_with_one_time_prekey.json",
    "x3dh_without_one_time_prekey.json",
    "group_sender_keys.json",          # §12, checked by run_group_file
    "conversation_content.json",       # §13.6-§13.9, checked by run_content_file
    "content_envelope.json",           # §13.12-§13.13, checked by run_envelope_file
    "prekey_uploads.json",             # §4.6-§4.7, checked by run_uploads_file
    "device_link.json",                # §13.14, checked by run_link_file
    "attachments.json",                # §14, checked by run_attachments_file
    "kem_ratchet.json",                # §6.9, checked by run_kem_file
]

# ---------------------------------------------------------------- §2 labels
L_SIG_BINDING = b"dmseal:v1:sig:identity-binding"
L_SIG_SPK = b"dmseal:v1:sig:signed-prekey"
L_SIG_PQ = b"dmseal:v1:sig:pq-prekey"
L_SIG_UPLOAD = b"dmseal:v1:sig:identity-upload"
L_SIG_BATCH = b"dmseal:v1:sig:prekey-batch"
L_SIG_LINK = b"dmseal:v1:sig:device-link"
L_KDF_LINK_KEY = b"dmseal:v1:kdf:link-key"
L_KDF_ATTACHMENT = b"dmseal:v1:kdf:attachment"
L_HASH_T = b"dmseal:v1:hash:x3dh-transcript"
L_HASH_AD = b"dmseal:v1:hash:session-ad"
L_HASH_SN = b"dmseal:v1:hash:safety-number"
L_KDF_X3DH = b"dmseal:v1:kdf:x3dh"
L_KDF_PQXDH = b"dmseal:v1:kdf:pqxdh"
L_KDF_ROOT = b"dmseal:v1:kdf:root"
L_KDF_MK = b"dmseal:v1:kdf:message-keys"
L_CHAIN_MSG = b"dmseal:v1:chain:message"
L_CHAIN_NEXT = b"dmseal:v1:chain:next"
L_KDF_KEM_ROOT = b"dmseal:v1:kdf:kem-root"      # §6.9.4 KDF_RK_KEM
L_KDF_KEM_EPOCH = b"dmseal:v1:kdf:kem-epoch"    # §6.9.4 epoch key and tag
L_HASH_KEM_EK = b"dmseal:v1:hash:kem-ek"        # §6.9.2 check value of the ek payload

# ---------------------------------------------------------------- §9 limits
WIRE_VERSION = 1
T_BUNDLE, T_PREKEY, T_NORMAL = 1, 2, 3
T_KEM_NORMAL = 0x0c    # §4.3 normal message with the KEM ratchet's fields
T_IDENTITY_UPLOAD, T_PREKEY_BATCH = 7, 8
T_DEVICE_LINK, T_LINK_OFFER = 9, 10
MAX_ONE_TIME_PREKEYS = 1000
MAX_PQ_ONE_TIME_PREKEYS = 200
PUBLIC_IDENTITY_LEN = 128
MAX_CONTEXT_LEN = 1024
MAX_CHAIN_JUMP = 25_000
MAX_SKIPPED = 2000
MAX_RECEIVING_CHAINS = 5
MAX_EVICTED = 64
MAX_COUNTER = 0xFFFFFFFE
TAG_LEN = 16           # the SIV's synthetic IV, which is also its tag (§6.1)
SIV_IV_LEN = 16
SAFETY_NUMBER_VERSION = 1
SAFETY_NUMBER_ITERATIONS = 5200

# key-type bytes (in signed messages, and before the PQ key in a bundle)
KT_X25519 = 0x01
KT_MLKEM768 = 0x02
# PQ prekey kinds
PQ_ONE_TIME = 0x01
PQ_LAST_RESORT = 0x02
F_OPK = 0x01          # bundle / prekey message flag: one-time prekey (id)
F_PQ = 0x02           # bundle / prekey message flag: PQ prekey / KEM ciphertext
F_LINK = 0x04         # bundle flag: a device link statement follows (§13.14)
CAP_PQ = 0x01         # §3.3 signed prekey capability: publishes PQ prekeys
CAP_KEM = 0x02        # §3.3 signed prekey capability: runs the KEM ratchet (§6.9.1)
F_KEM = 0x04          # prekey message flag: the session runs the KEM ratchet (§4.4)
# §6.9.2 the KEM ratchet
KEM_CHUNK_LEN = 64
MAX_KEM_CHUNK_INDEX = 254
KEM_EK_CHUNKS = 19    # ek (1184) || SHA-256(label || ek) (32)
KEM_CT_CHUNKS = 18    # ct (1088) || tag (32) || 0^32
MAX_MIXED = 0xFFFFFFFF


class ProtoError(Exception):
    """An error named in PROTOCOL.md, e.g. ProtoError('DuplicateOrExpired')."""


def u16(x):
    return x.to_bytes(2, "big")


def u32(x):
    return x.to_bytes(4, "big")


def u64(x):
    return x.to_bytes(8, "big")


def rd32(b, o):
    return int.from_bytes(b[o:o + 4], "big")


def varint(x):
    """§4.1: minimal unsigned LEB128 of a u32."""
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def rd_varint(b, o):
    """§4.1: reads a varint at offset o; returns (value, next offset).
    Refuses truncation, more than 5 bytes, values past 2^32 - 1 and
    non-minimal encodings."""
    value = 0
    for i in range(5):
        if o + i >= len(b):
            raise ProtoError("Truncated")
        byte = b[o + i]
        if i == 4 and (byte & 0x7F) > 0x0F:
            raise ProtoError("NonCanonicalVarint")
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i > 0 and byte == 0:
                raise ProtoError("NonCanonicalVarint")
            return value, o + i + 1
    raise ProtoError("NonCanonicalVarint")


# ---------------------------------------------------------------- primitives (§1)
def sha256(x):
    return hashlib.sha256(x).digest()


def sha512(x):
    return hashlib.sha512(x).digest()


def hmac256(k, x):
    return hmac.new(k, x, hashlib.sha256).digest()


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hkdf_expand(prk, info, length):
    assert len(prk) == 32
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(prk)


def x25519_pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def dh(priv, pub):
    check_x25519(pub)
    out = X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(pub)) if any(pub) else bytes(32)
    if out == bytes(32):
        raise ProtoError("InvalidKey(NonContributory)")
    return out


def ed_pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed_sign(seed, msg):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)


def chacha20(k, n, x):
    """§1 ChaCha20(k, n, x): x XORed with the RFC 8439 §2.4 keystream of
    32-byte key k and 12-byte nonce n, block counter starting at 0.
    (`cryptography` takes a 16-byte nonce: u32le(counter) || n.)"""
    assert len(k) == 32 and len(n) == 12
    enc = Cipher(algorithms.ChaCha20(k, (0).to_bytes(4, "little") + n), mode=None).encryptor()
    return enc.update(x) + enc.finalize()


def siv_iv(mk, ad, pt):
    return hmac256(mk, u64(len(ad)) + ad + pt)[:SIV_IV_LEN]


def siv_seal(ek, mk, ad, pt):
    """§6.1 SIV-Seal: ChaCha20(ek, iv[0..12], pt) || iv,
    iv = HMAC(mk, u64(len(ad)) || ad || pt)[0..16]."""
    iv = siv_iv(mk, ad, pt)
    return chacha20(ek, iv[:12], pt) + iv


def siv_open(ek, mk, ad, data):
    """§6.1 SIV-Open: decrypt, then check the IV in constant time."""
    if len(data) < SIV_IV_LEN:
        raise ProtoError("AuthenticationFailed")
    ct, iv = data[:-SIV_IV_LEN], data[-SIV_IV_LEN:]
    pt = chacha20(ek, iv[:12], ct)
    if not hmac.compare_digest(siv_iv(mk, ad, pt), iv):
        raise ProtoError("AuthenticationFailed")
    return pt


# ---------------------------------------------------------------- ML-KEM-768 (FIPS 203)
MLKEM_Q = 3329
MLKEM_N = 256
MLKEM_K = 3
MLKEM_ETA1 = 2
MLKEM_ETA2 = 2
MLKEM_DU = 10
MLKEM_DV = 4
MLKEM_EK_LEN = 384 * MLKEM_K + 32            # 1184
MLKEM_DK_LEN = 768 * MLKEM_K + 96            # 2400
MLKEM_CT_LEN = 32 * (MLKEM_DU * MLKEM_K + MLKEM_DV)   # 1088


def _bitrev7(i):
    return int("{:07b}".format(i)[::-1], 2)


_ZETAS = [pow(17, _bitrev7(i), MLKEM_Q) for i in range(128)]
_GAMMAS = [pow(17, 2 * _bitrev7(i) + 1, MLKEM_Q) for i in range(128)]


def _G(x):
    h = hashlib.sha3_512(x).digest()
    return h[:32], h[32:]


def _H(x):
    return hashlib.sha3_256(x).digest()


def _J(x):
    return hashlib.shake_256(x).digest(32)


def _prf(eta, s, b):
    return hashlib.shake_256(s + bytes([b])).digest(64 * eta)


def _byte_encode(f, d):
    """Algorithm 5: d bits per coefficient, little-endian bit order."""
    acc = 0
    for i, c in enumerate(f):
        acc |= c << (d * i)
    return acc.to_bytes(32 * d, "little")


def _byte_decode(b, d):
    """Algorithm 6 (coefficients reduced mod q for d = 12)."""
    acc = int.from_bytes(b, "little")
    mask = (1 << d) - 1
    m = MLKEM_Q if d == 12 else 1 << d
    return [((acc >> (d * i)) & mask) % m for i in range(MLKEM_N)]


def _compress(f, d):
    # round(2^d / q * x) mod 2^d, ties up; q odd so (2^(d+1) x + q) // 2q
    return [(((x << (d + 1)) + MLKEM_Q) // (2 * MLKEM_Q)) & ((1 << d) - 1) for x in f]


def _decompress(f, d):
    return [(MLKEM_Q * y + (1 << (d - 1))) >> d for y in f]


def _sample_ntt(seed34):
    """Algorithm 7, SHAKE128 squeezed 3 bytes at a time."""
    n = 840
    while True:
        buf = hashlib.shake_128(seed34).digest(n)
        a, pos = [], 0
        while len(a) < MLKEM_N and pos + 3 <= n:
            c0, c1, c2 = buf[pos], buf[pos + 1], buf[pos + 2]
            pos += 3
            d1 = c0 + 256 * (c1 & 15)
            d2 = (c1 >> 4) + 16 * c2
            if d1 < MLKEM_Q:
                a.append(d1)
            if d2 < MLKEM_Q and len(a) < MLKEM_N:
                a.append(d2)
        if len(a) == MLKEM_N:
            return a
        n *= 2


def _sample_cbd(b, eta):
    """Algorithm 8."""
    bits = int.from_bytes(b, "little")
    f = []
    for i in range(MLKEM_N):
        x = y = 0
        for j in range(eta):
            x += (bits >> (2 * i * eta + j)) & 1
            y += (bits >> (2 * i * eta + eta + j)) & 1
        f.append((x - y) % MLKEM_Q)
    return f


def _ntt(f):
    """Algorithm 9."""
    f = list(f)
    i, ln = 1, 128
    while ln >= 2:
        for start in range(0, MLKEM_N, 2 * ln):
            z = _ZETAS[i]
            i += 1
            for j in range(start, start + ln):
                t = z * f[j + ln] % MLKEM_Q
                f[j + ln] = (f[j] - t) % MLKEM_Q
                f[j] = (f[j] + t) % MLKEM_Q
        ln //= 2
    return f


def _ntt_inv(f):
    """Algorithm 10."""
    f = list(f)
    i, ln = 127, 2
    while ln <= 128:
        for start in range(0, MLKEM_N, 2 * ln):
            z = _ZETAS[i]
            i -= 1
            for j in range(start, start + ln):
                t = f[j]
                f[j] = (t + f[j + ln]) % MLKEM_Q
                f[j + ln] = z * (f[j + ln] - t) % MLKEM_Q
        ln *= 2
    return [x * 3303 % MLKEM_Q for x in f]


def _mul_ntt(f, g):
    """Algorithms 11 and 12."""
    h = [0] * MLKEM_N
    for i in range(128):
        a0, a1, b0, b1 = f[2 * i], f[2 * i + 1], g[2 * i], g[2 * i + 1]
        h[2 * i] = (a0 * b0 + a1 * b1 * _GAMMAS[i]) % MLKEM_Q
        h[2 * i + 1] = (a0 * b1 + a1 * b0) % MLKEM_Q
    return h


def _padd(f, g):
    return [(a + b) % MLKEM_Q for a, b in zip(f, g)]


def _psub(f, g):
    return [(a - b) % MLKEM_Q for a, b in zip(f, g)]


def _matrix(rho):
    """Â[i][j] = SampleNTT(rho || j || i)."""
    return [[_sample_ntt(rho + bytes([j, i])) for j in range(MLKEM_K)] for i in range(MLKEM_K)]


def _kpke_keygen(d):
    """Algorithm 13."""
    rho, sigma = _G(d + bytes([MLKEM_K]))
    a = _matrix(rho)
    s = [_sample_cbd(_prf(MLKEM_ETA1, sigma, i), MLKEM_ETA1) for i in range(MLKEM_K)]
    e = [_sample_cbd(_prf(MLKEM_ETA1, sigma, MLKEM_K + i), MLKEM_ETA1) for i in range(MLKEM_K)]
    sh = [_ntt(x) for x in s]
    eh = [_ntt(x) for x in e]
    th = []
    for i in range(MLKEM_K):
        acc = eh[i]
        for j in range(MLKEM_K):
            acc = _padd(acc, _mul_ntt(a[i][j], sh[j]))
        th.append(acc)
    ek = b"".join(_byte_encode(t, 12) for t in th) + rho
    dk = b"".join(_byte_encode(x, 12) for x in sh)
    return ek, dk


def _kpke_encrypt(ek, m, r):
    """Algorithm 14."""
    th = [_byte_decode(ek[384 * i:384 * (i + 1)], 12) for i in range(MLKEM_K)]
    rho = ek[384 * MLKEM_K:]
    a = _matrix(rho)
    n = 0
    y = []
    for _ in range(MLKEM_K):
        y.append(_sample_cbd(_prf(MLKEM_ETA1, r, n), MLKEM_ETA1))
        n += 1
    e1 = []
    for _ in range(MLKEM_K):
        e1.append(_sample_cbd(_prf(MLKEM_ETA2, r, n), MLKEM_ETA2))
        n += 1
    e2 = _sample_cbd(_prf(MLKEM_ETA2, r, n), MLKEM_ETA2)
    yh = [_ntt(x) for x in y]
    u = []
    for i in range(MLKEM_K):
        acc = [0] * MLKEM_N
        for j in range(MLKEM_K):
            acc = _padd(acc, _mul_ntt(a[j][i], yh[j]))    # Â transposed
        u.append(_padd(_ntt_inv(acc), e1[i]))
    mu = _decompress(_byte_decode(m, 1), 1)
    acc = [0] * MLKEM_N
    for j in range(MLKEM_K):
        acc = _padd(acc, _mul_ntt(th[j], yh[j]))
    v = _padd(_padd(_ntt_inv(acc), e2), mu)
    c1 = b"".join(_byte_encode(_compress(x, MLKEM_DU), MLKEM_DU) for x in u)
    c2 = _byte_encode(_compress(v, MLKEM_DV), MLKEM_DV)
    return c1 + c2


def _kpke_decrypt(dk, c):
    """Algorithm 15."""
    lu = 32 * MLKEM_DU
    u = [_decompress(_byte_decode(c[lu * i:lu * (i + 1)], MLKEM_DU), MLKEM_DU)
         for i in range(MLKEM_K)]
    v = _decompress(_byte_decode(c[lu * MLKEM_K:], MLKEM_DV), MLKEM_DV)
    sh = [_byte_decode(dk[384 * i:384 * (i + 1)], 12) for i in range(MLKEM_K)]
    acc = [0] * MLKEM_N
    for i in range(MLKEM_K):
        acc = _padd(acc, _mul_ntt(sh[i], _ntt(u[i])))
    w = _psub(v, _ntt_inv(acc))
    return _byte_encode(_compress(w, 1), 1)


def mlkem_keygen(d, z):
    """ML-KEM.KeyGen_internal(d, z) (Algorithm 16): returns (ek, dk)."""
    assert len(d) == 32 and len(z) == 32
    ek, dk_pke = _kpke_keygen(d)
    return ek, dk_pke + ek + _H(ek) + z


def mlkem_ek_check(ek):
    """§7.2 encapsulation-key input check: length and modulus."""
    if len(ek) != MLKEM_EK_LEN:
        return False
    return all(_byte_encode(_byte_decode(ek[384 * i:384 * (i + 1)], 12), 12)
               == ek[384 * i:384 * (i + 1)] for i in range(MLKEM_K))


def mlkem_encaps(ek, m):
    """ML-KEM.Encaps_internal(ek, m) (Algorithm 17): returns (K, c)."""
    assert len(m) == 32
    k, r = _G(m + _H(ek))
    return k, _kpke_encrypt(ek, m, r)


def mlkem_decaps(dk, c):
    """ML-KEM.Decaps_internal(dk, c) (Algorithm 18), implicit rejection."""
    assert len(dk) == MLKEM_DK_LEN and len(c) == MLKEM_CT_LEN
    dk_pke = dk[:384 * MLKEM_K]
    ek = dk[384 * MLKEM_K:768 * MLKEM_K + 32]
    h = dk[768 * MLKEM_K + 32:768 * MLKEM_K + 64]
    z = dk[768 * MLKEM_K + 64:]
    m2 = _kpke_decrypt(dk_pke, c)
    k2, r2 = _G(m2 + h)
    kbar = _J(z + c)
    c2 = _kpke_encrypt(ek, m2, r2)
    return k2 if hmac.compare_digest(c, c2) else kbar


# ---------------------------------------------------------------- key validation (§1)
P = 2**255 - 19
L_ORDER = 2**252 + 27742317777372353535851937790883648493

X25519_LOW_ORDER = {bytes.fromhex(h) for h in [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]}

ED25519_LOW_ORDER = {bytes.fromhex(h) for h in [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]}


def check_x25519(u):
    if len(u) != 32:
        raise ProtoError("Truncated")
    if u[31] & 0x80 or int.from_bytes(u, "little") >= P:
        raise ProtoError("InvalidKey(NonCanonical)")
    if u in X25519_LOW_ORDER:
        raise ProtoError("InvalidKey(LowOrder)")
    return u


# Pure-Python Edwards25519, used for the §3.2 rule (cofactored ZIP-215 equation).
ED_D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def ed_decompress(enc):
    """Decode a point; x = 0 with the sign bit set is accepted (ZIP-215);
    caller has already checked y < p.  Returns None if not on the curve."""
    y = int.from_bytes(enc, "little") & ((1 << 255) - 1)
    sign = enc[31] >> 7
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (ED_D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = (P - x) % P
    return (x, y, 1, x * y % P)


def ed_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    A = (y1 - x1) * (y2 - x2) % P
    B = (y1 + x1) * (y2 + x2) % P
    C = 2 * t1 * t2 * ED_D % P
    D = 2 * z1 * z2 % P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def ed_mul(k, pt):
    acc = (0, 1, 1, 0)
    while k:
        if k & 1:
            acc = ed_add(acc, pt)
        pt = ed_add(pt, pt)
        k >>= 1
    return acc


def ed_eq(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


ED_B = ed_decompress(bytes.fromhex(
    "5866666666666666666666666666666666666666666666666666666666666666"))


def check_ed25519_public(a):
    """§1 canonical Ed25519 public key; returns the decoded point."""
    if len(a) != 32:
        raise ProtoError("Truncated")
    if int.from_bytes(a, "little") & ((1 << 255) - 1) >= P:
        raise ProtoError("InvalidKey(NonCanonical)")
    if a in ED25519_LOW_ORDER:
        raise ProtoError("InvalidKey(LowOrder)")
    pt = ed_decompress(a)
    if pt is None:
        raise ProtoError("InvalidKey(NotOnCurve)")
    return pt


def verify_sig(a, m, sig):
    """§3.2 signature rule.  Returns True/False."""
    if len(sig) != 64:
        return False
    r, s = sig[:32], sig[32:]
    if int.from_bytes(s, "little") >= L_ORDER:
        return False
    if int.from_bytes(r, "little") & ((1 << 255) - 1) >= P or r in ED25519_LOW_ORDER:
        return False
    if int.from_bytes(a, "little") & ((1 << 255) - 1) >= P or a in ED25519_LOW_ORDER:
        return False
    A = ed_decompress(a)
    R = ed_decompress(r)
    if A is None or R is None:
        return False
    k = int.from_bytes(sha512(r + a + m), "little") % L_ORDER
    lhs = ed_mul(8, ed_mul(int.from_bytes(s, "little"), ED_B))
    rhs = ed_mul(8, ed_add(R, ed_mul(k, A)))
    return ed_eq(lhs, rhs)


# ---------------------------------------------------------------- signed messages (§3)
def binding_msg(x):
    return L_SIG_BINDING + bytes([KT_X25519]) + x


def spk_msg(spk_id, spk, caps):
    """§3.3: label || u32(id) || 0x01 || key || u8(capabilities)."""
    return L_SIG_SPK + u32(spk_id) + bytes([KT_X25519]) + spk + bytes([caps])


def pq_msg(kind, pq_id, ek):
    return L_SIG_PQ + bytes([kind]) + u32(pq_id) + bytes([KT_MLKEM768]) + ek


# ---------------------------------------------------------------- wire (§4)
def decode_identity(b):
    """§4.1 public identity (128 bytes).  Returns (ed, x, binding)."""
    if len(b) < PUBLIC_IDENTITY_LEN:
        raise ProtoError("Truncated")
    ed, x, sig = b[0:32], b[32:64], b[64:128]
    check_ed25519_public(ed)
    check_x25519(x)
    if not verify_sig(ed, binding_msg(x), sig):
        raise ProtoError("BadIdentityBinding")
    return ed, x, sig


def check_header(b, typ):
    if len(b) < 1:
        raise ProtoError("Truncated")
    if b[0] != WIRE_VERSION:
        raise ProtoError("UnsupportedVersion")
    if len(b) < 2:
        raise ProtoError("Truncated")
    if b[1] != typ:
        raise ProtoError("WrongType{expected:%#04x}" % typ)


def decode_bundle(b):
    check_header(b, T_BUNDLE)
    if len(b) < 3:
        raise ProtoError("Truncated")
    flags = b[2]
    if flags & ~(F_OPK | F_PQ | F_LINK):
        raise ProtoError("UnknownFlags")
    if len(b) < 3 + 128:
        raise ProtoError("Truncated")
    ident = b[3:131]
    decode_identity(ident)
    if len(b) < 135:
        raise ProtoError("Truncated")
    spk_id = rd32(b, 131)
    if len(b) < 167:
        raise ProtoError("Truncated")
    spk = check_x25519(b[135:167])
    if len(b) < 231:
        raise ProtoError("Truncated")
    spk_sig = b[167:231]
    if len(b) < 232:
        raise ProtoError("Truncated")
    caps = b[231]                          # §3.3 capabilities byte, signed;
                                           # unknown bits are kept and ignored
    opk_id = opk = None
    end = 232
    if flags & F_OPK:
        if len(b) < 236:
            raise ProtoError("Truncated")
        opk_id = rd32(b, 232)
        if len(b) < 268:
            raise ProtoError("Truncated")
        opk = check_x25519(b[236:268])
        end = 268
    pq = None
    if flags & F_PQ:
        o = end
        if len(b) < o + 1:
            raise ProtoError("Truncated")
        kind = b[o]
        if kind not in (PQ_ONE_TIME, PQ_LAST_RESORT):
            raise ProtoError("UnknownPqPreKeyKind")
        if len(b) < o + 5:
            raise ProtoError("Truncated")
        pq_id = rd32(b, o + 1)
        if len(b) < o + 6:
            raise ProtoError("Truncated")
        if b[o + 5] != KT_MLKEM768:
            raise ProtoError("UnknownKeyType")
        if len(b) < o + 6 + MLKEM_EK_LEN:
            raise ProtoError("Truncated")
        ek = b[o + 6:o + 6 + MLKEM_EK_LEN]
        if not mlkem_ek_check(ek):
            raise ProtoError("InvalidKey(InvalidKemKey)")    # FIPS 203 §7.2 modulus check
        if len(b) < o + 6 + MLKEM_EK_LEN + 64:
            raise ProtoError("Truncated")
        sig = b[o + 6 + MLKEM_EK_LEN:o + 70 + MLKEM_EK_LEN]
        pq = dict(kind=kind, id=pq_id, key=ek, sig=sig)
        end = o + 70 + MLKEM_EK_LEN
    link = None
    if flags & F_LINK:
        r = Rd(b)
        r.o = end
        link = read_link_field(r, ident)
        end = r.o
    if len(b) != end:
        raise ProtoError("TrailingBytes")
    return dict(identity=ident, spk_id=spk_id, spk=spk, spk_sig=spk_sig, caps=caps,
                opk_id=opk_id, opk=opk, pq=pq, link=link)


def decode_normal(b, typ=T_NORMAL):
    """§4.3: a normal message of type 0x03, or (typ = 0x0c) one with the KEM
    ratchet's fields E, chunk byte and chunk before the ciphertext."""
    check_header(b, typ)
    if len(b) < 34:
        raise ProtoError("Truncated")
    rk = check_x25519(b[2:34])
    pn, o = rd_varint(b, 34)
    n, header_len = rd_varint(b, o)
    e = chunk = None
    if typ == T_KEM_NORMAL:
        e, o = rd_varint(b, header_len)
        if o >= len(b):
            raise ProtoError("Truncated")
        c = b[o]
        o += 1
        if c >= 1:                        # chunk index c - 1 (0 ... 254) follows
            if len(b) < o + KEM_CHUNK_LEN:
                raise ProtoError("Truncated")
            chunk = (c - 1, b[o:o + KEM_CHUNK_LEN])
            o += KEM_CHUNK_LEN
        header_len = o
    if len(b) - header_len < TAG_LEN:
        raise ProtoError("Truncated")
    return dict(type=typ, header=b[:header_len], ratchet_key=rk, pn=pn, n=n, e=e, chunk=chunk,
                ct=b[header_len:])


def decode_prekey(b):
    check_header(b, T_PREKEY)
    if len(b) < 3:
        raise ProtoError("Truncated")
    flags = b[2]
    if flags & ~(F_OPK | F_PQ | F_KEM):
        raise ProtoError("UnknownFlags")
    if len(b) < 131:
        raise ProtoError("Truncated")
    ident = b[3:131]                       # taken unchecked for now
    if len(b) < 135:
        raise ProtoError("Truncated")
    spk_id = rd32(b, 131)
    if len(b) < 167:
        raise ProtoError("Truncated")
    base = check_x25519(b[135:167])
    plen = 167
    opk_id = None
    if flags & F_OPK:
        if len(b) < 171:
            raise ProtoError("Truncated")
        opk_id = rd32(b, 167)
        plen = 171
    pq = None
    if flags & F_PQ:
        if len(b) < plen + 1:
            raise ProtoError("Truncated")
        kind = b[plen]
        if kind not in (PQ_ONE_TIME, PQ_LAST_RESORT):
            raise ProtoError("UnknownPqPreKeyKind")
        if len(b) < plen + 5:
            raise ProtoError("Truncated")
        pq_id = rd32(b, plen + 1)
        if len(b) < plen + 5 + MLKEM_CT_LEN:
            raise ProtoError("Truncated")
        pq = dict(kind=kind, id=pq_id, ct=b[plen + 5:plen + 5 + MLKEM_CT_LEN])
        plen += 5 + MLKEM_CT_LEN
    # §4.4: the rest is decoded as a normal message of either type (a type
    # byte other than 0x03 and 0x0c is WrongType expecting 0x03); only then
    # must its type agree with flag bit 2 (WrongType, naming the type the
    # flag calls for).
    rest = b[plen:]
    inner_type = T_KEM_NORMAL if len(rest) >= 2 and rest[1] == T_KEM_NORMAL else T_NORMAL
    inner = decode_normal(rest, inner_type)
    wanted = T_KEM_NORMAL if flags & F_KEM else T_NORMAL
    if inner_type != wanted:
        raise ProtoError("WrongType{expected:0x%02x}" % wanted)
    decode_identity(ident)                 # last: the binding check
    return dict(prefix=b[:plen], identity=ident, spk_id=spk_id, base_key=base,
                opk_id=opk_id, pq=pq, kem=bool(flags & F_KEM), inner=inner)


def decode_message(b):
    """§4.5: by byte 1: 0x02 prekey, 0x0c normal with the KEM fields,
    anything else a normal message of type 0x03."""
    if len(b) >= 2 and b[1] == T_PREKEY:
        return "prekey", decode_prekey(b)
    if len(b) >= 2 and b[1] == T_KEM_NORMAL:
        return "normal", decode_normal(b, T_KEM_NORMAL)
    return "normal", decode_normal(b)


def key_bytes(identity_encoding):
    return identity_encoding[:64]


# ---------------------------------------------------------------- X3DH (§5)
def transcript_hash(prefix, responder_kb, spk, opk, pq_pub, context):
    return sha256(L_HASH_T + prefix + responder_kb + spk + (opk or b"")
                  + (bytes([KT_MLKEM768]) + pq_pub if pq_pub is not None else b"")
                  + u16(len(context)) + context)


def x3dh_kdf(dhs, t, ss=None):
    """Classic X3DH (ss None) or PQXDH (ss = the ML-KEM shared secret)."""
    ikm = b"\xff" * 32 + b"".join(dhs) + (ss if ss is not None else b"")
    okm = hkdf(bytes(32), ikm, (L_KDF_PQXDH if ss is not None else L_KDF_X3DH) + t, 64)
    return okm[:32], okm[32:]


def session_ad_of(init_kb, resp_kb, context):
    return sha256(L_HASH_AD + init_kb + resp_kb + u16(len(context)) + context)


# ---------------------------------------------------------------- Double Ratchet (§6)
def kdf_rk(rk, dh_out):
    okm = hkdf(rk, dh_out, L_KDF_ROOT, 64)
    return okm[:32], okm[32:]


def chain_seed(ck):
    return hmac256(ck, L_CHAIN_MSG)


def chain_next(ck):
    return hmac256(ck, L_CHAIN_NEXT)


def message_keys(seed):
    """§6.1: (ek, mk) = HKDF-Expand(seed, "dmseal:v1:kdf:message-keys", 64)."""
    m = hkdf_expand(seed, L_KDF_MK, 64)
    return m[:32], m[32:]


def advance(ck, i, n):
    """§6.6: from chain key ck at index i to counter n.  Returns
    (seed_n, chain key at index n+1, {skipped index: seed})."""
    skipped = {}
    keep_from = max(0, n - MAX_SKIPPED)
    while i < n:
        if i >= keep_from:
            skipped[i] = chain_seed(ck)
        ck = chain_next(ck)
        i += 1
    return chain_seed(ck), chain_next(ck), skipped


def store_skipped(chain, new):
    chain["skipped"].update(new)
    while len(chain["skipped"]) > MAX_SKIPPED:
        del chain["skipped"][min(chain["skipped"])]


# ---------------------------------------------------------------- the KEM ratchet (§6.9)
# GF(2^8) with the reduction polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), §6.9.3
GF_POLY = 0x11D
GF_EXP = [0] * 512
GF_LOG = [0] * 256
_x = 1
for _i in range(255):
    GF_EXP[_i] = _x
    GF_LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= GF_POLY
for _i in range(255, 512):
    GF_EXP[_i] = GF_EXP[_i - 255]


def gf_mul(a, b):
    if a == 0 or b == 0:
        return 0
    return GF_EXP[GF_LOG[a] + GF_LOG[b]]


def gf_mul_slow(a, b):
    """Shift-and-add multiplication modulo 0x11d (cross-check of the tables)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= GF_POLY
    return r


def gf_inv(a):
    if a == 0:
        raise ZeroDivisionError("GF(2^8) inverse of 0")
    return GF_EXP[255 - GF_LOG[a]]


def lagrange_coeffs(xs, x):
    """Π_{l≠m} (x − x_l) / (x_m − x_l) for each m (subtraction is XOR)."""
    out = []
    for m, xm in enumerate(xs):
        num = den = 1
        for l, xl in enumerate(xs):
            if l != m:
                num = gf_mul(num, x ^ xl)
                den = gf_mul(den, xm ^ xl)
        out.append(gf_mul(num, gf_inv(den)))
    return out


def gf_combine(coeffs, rows):
    """Σ_m coeffs[m] · rows[m], bytewise."""
    out = bytearray(KEM_CHUNK_LEN)
    for cm, row in zip(coeffs, rows):
        if cm == 0:
            continue
        lc = GF_LOG[cm]
        for j, y in enumerate(row):
            if y:
                out[j] ^= GF_EXP[lc + GF_LOG[y]]
    return bytes(out)


def rs_chunk(payload, k, i):
    """§6.9.3 chunk i of a payload of k chunks: P_0(i) ... P_63(i)."""
    assert len(payload) == k * KEM_CHUNK_LEN and 0 <= i <= MAX_KEM_CHUNK_INDEX
    pieces = [payload[KEM_CHUNK_LEN * m:KEM_CHUNK_LEN * (m + 1)] for m in range(k)]
    if i < k:
        return pieces[i]
    return gf_combine(lagrange_coeffs(list(range(k)), i), pieces)


def rs_rebuild(chunks, k):
    """§6.9.3: the payload from k distinct (index, chunk), by Lagrange
    interpolation at x = 0 ... k-1."""
    xs = [i for i, _ in chunks]
    ys = [y for _, y in chunks]
    assert len(xs) == k and len(set(xs)) == k
    return b"".join(gf_combine(lagrange_coeffs(xs, x), ys) for x in range(k))


def rs_rebuild_gauss(chunks, k):
    """A second decoder (cross-check): solve the Vandermonde system for the
    coefficients of each P_j by Gaussian elimination, then evaluate at 0..k-1."""
    xs = [i for i, _ in chunks]
    out = [bytearray(KEM_CHUNK_LEN) for _ in range(k)]
    for j in range(KEM_CHUNK_LEN):
        rows = []
        for (x, y) in chunks:
            row, p = [], 1
            for _ in range(k):
                row.append(p)
                p = gf_mul_slow(p, x)
            rows.append(row + [y[j]])
        for col in range(k):
            piv = next(r for r in range(col, k) if rows[r][col])
            rows[col], rows[piv] = rows[piv], rows[col]
            inv = gf_inv(rows[col][col])
            rows[col] = [gf_mul_slow(inv, v) for v in rows[col]]
            for r in range(k):
                if r != col and rows[r][col]:
                    f = rows[r][col]
                    rows[r] = [a ^ gf_mul_slow(f, b) for a, b in zip(rows[r], rows[col])]
        coef = [rows[r][k] for r in range(k)]
        for x in range(k):
            acc, p = 0, 1
            for cf in coef:
                acc ^= gf_mul_slow(cf, p)
                p = gf_mul_slow(p, x)
            out[x][j] = acc
    return b"".join(bytes(o) for o in out)


def ek_payload(ek):
    """§6.9.2: ek (1184) || SHA-256("dmseal:v1:hash:kem-ek" || ek) (32), 19 chunks."""
    return ek + sha256(L_HASH_KEM_EK + ek)


def epoch_keys(e, ek, ct, ss):
    """§6.9.4: (K_e, tag_e) = HKDF(salt = "", ikm = ss,
    info = label || u32(e) || SHA-256(ek || ct), 64)."""
    okm = hkdf(b"", ss, L_KDF_KEM_EPOCH + u32(e) + sha256(ek + ct), 64)
    return okm[:32], okm[32:]


def kdf_rk_kem(rk, dh_out, k):
    """§6.9.4 KDF_RK_KEM: HKDF(salt = rk, ikm = dh_out || K, "dmseal:v1:kdf:kem-root", 64)."""
    okm = hkdf(rk, dh_out + k, L_KDF_KEM_ROOT, 64)
    return okm[:32], okm[32:]


EK_PENDING, SENDING_EK, DECAPSULATED = "EkPending", "SendingEk", "Decapsulated"
RECEIVING_EK, EK_RECEIVED, SENDING_CT = "ReceivingEk", "EkReceived", "SendingCt"


class KemRatchet:
    """§6.9.5 state of one side: mixed, peer_seen, the epoch in progress."""

    def __init__(self, initiator, peer_seen=True):
        self.initiator = initiator
        self.mixed = 0
        self.peer_seen = peer_seen
        self.events = []               # what take-in did, for the checker
        self._enter(EK_PENDING if initiator else RECEIVING_EK)

    def _enter(self, state):
        self.state = state
        self.seed = self.ek = self.dk = None     # SendingEk: key pair (and its seed)
        self.K = None                            # Decapsulated, SendingCt
        self.peer_ek = None                      # EkReceived
        self.payload = None                      # SendingEk (ek payload), SendingCt (ct payload)
        self.next = 0
        self.delivered = False
        self.chunks = []                         # decoder: (index, chunk) in arrival order

    def __eq__(self, other):
        return isinstance(other, KemRatchet) and self.__dict__ == other.__dict__

    def ek_sender(self):
        """True when this side is the ek sender of the epoch in progress
        (the initiator for odd epochs, the responder for even ones)."""
        return self.initiator == ((self.mixed + 1) % 2 == 1)

    def roles_consistent(self):
        mine = self.state in (EK_PENDING, SENDING_EK, DECAPSULATED)
        return mine == self.ek_sender()

    # §6.9.6 step 1
    def root_step_key(self):
        """K to mix at a DH ratchet step when sending, or None (KDF_RK)."""
        if self.state == DECAPSULATED and self.mixed < MAX_MIXED:
            return self.K
        return None

    def mixed_on_send(self):
        self.mixed += 1
        self._enter(RECEIVING_EK)

    # §6.9.6 step 3
    def send_fields(self, draws):
        """Returns (E || chunk byte || [chunk], what was drawn, chunk or None)."""
        drew = None
        if self.state == EK_PENDING:
            if not draws or "seed_d" not in draws:
                raise ProtoError("KEM ratchet needs d || z at this send (EkPending)")
            d, z = bytes.fromhex(draws["seed_d"]), bytes.fromhex(draws["seed_z"])
            self._enter(SENDING_EK)
            self.seed = d + z
            self.ek, self.dk = mlkem_keygen(d, z)
            self.payload = ek_payload(self.ek)
            drew = dict(kind="keygen", epoch=self.mixed + 1, ek=self.ek)
        elif self.state == EK_RECEIVED:
            if not draws or "encapsulation_m" not in draws:
                raise ProtoError("KEM ratchet needs m at this send (EkReceived)")
            m = bytes.fromhex(draws["encapsulation_m"])
            ek = self.peer_ek
            ss, ct = mlkem_encaps(ek, m)
            k, tag = epoch_keys(self.mixed + 1, ek, ct, ss)
            self._enter(SENDING_CT)
            self.K = k
            self.payload = ct + tag + bytes(32)
            drew = dict(kind="encaps", epoch=self.mixed + 1, ek=ek, ct=ct, K=k, tag=tag)
        chunk = None
        if (self.state == SENDING_EK and not self.delivered) or self.state == SENDING_CT:
            k = KEM_EK_CHUNKS if self.state == SENDING_EK else KEM_CT_CHUNKS
            i = self.next
            chunk = (i, rs_chunk(self.payload, k, i))
            self.next = 0 if i == MAX_KEM_CHUNK_INDEX else i + 1
        fields = varint(self.mixed) + (bytes([chunk[0] + 1]) + chunk[1] if chunk else b"\x00")
        return fields, drew, chunk

    # §6.9.7 after a type-0x0c message decrypted and was committed
    def take_in(self, msg):
        self.peer_seen = True
        if msg["chunk"] is None or msg["e"] != self.mixed:
            return
        i, data = msg["chunk"]
        if self.state == SENDING_EK:
            self.delivered = True
            if self._collect(i, data, KEM_CT_CHUNKS):
                p = rs_rebuild(self.chunks, KEM_CT_CHUNKS)
                ct, tag, z = p[:MLKEM_CT_LEN], p[MLKEM_CT_LEN:MLKEM_CT_LEN + 32], p[MLKEM_CT_LEN + 32:]
                ok = False
                if z == bytes(32):
                    ss = mlkem_decaps(self.dk, ct)
                    k, tag2 = epoch_keys(self.mixed + 1, self.ek, ct, ss)
                    ok = hmac.compare_digest(tag, tag2)
                if ok:
                    self.events.append(("decapsulated", self.mixed + 1, ct, k))
                    self._enter(DECAPSULATED)
                    self.K = k
                else:
                    self.events.append(("ct payload refused", self.mixed + 1))
                    self.chunks = []
        elif self.state == RECEIVING_EK:
            if self._collect(i, data, KEM_EK_CHUNKS):
                p = rs_rebuild(self.chunks, KEM_EK_CHUNKS)
                ek, h = p[:MLKEM_EK_LEN], p[MLKEM_EK_LEN:]
                if hmac.compare_digest(h, sha256(L_HASH_KEM_EK + ek)) and mlkem_ek_check(ek):
                    self.events.append(("ek received", self.mixed + 1, ek))
                    self._enter(EK_RECEIVED)
                    self.peer_ek = ek
                else:
                    self.events.append(("ek payload refused", self.mixed + 1))
                    self.chunks = []

    def _collect(self, i, data, k):
        """Keep the first k distinct indices; True when it holds k."""
        if len(self.chunks) >= k or any(j == i for j, _ in self.chunks):
            return False
        self.chunks.append((i, data))
        return len(self.chunks) == k


class Session:
    def __init__(self, initiator, peer_identity, base_key, session_ad, rk):
        self.initiator = initiator
        self.peer_identity = peer_identity
        self.base_key = base_key
        self.session_ad = session_ad
        self.pending_prefix = None
        self.rk = rk
        self.our_priv = None
        self.our_pub = None
        self.sending = None            # [ck, Ns]
        self.pn = 0
        self.receiving = []            # newest first: {ratchet_key, chain:[ck,Nr]|None, skipped}
        self.expecting_new_chain = False
        self.evicted = []              # 8-byte records, newest first
        self.kem = None                # KemRatchet when the session runs it (§6.9)
        self.last_send = None          # what the last encrypt did (for the checker)

    # §6.3, with §6.9.6
    def encrypt(self, plaintext, fresh_ratchet_private, kem_draws=None):
        if self.sending is not None and self.sending[1] > MAX_COUNTER:
            raise ProtoError("ChainExhausted")
        made_new_key = mixed_now = False
        if self.sending is None:
            if not self.receiving:
                raise ProtoError("ChainExhausted")
            peer = self.receiving[0]["ratchet_key"]
            r = fresh_ratchet_private
            k_mix = self.kem.root_step_key() if self.kem is not None else None
            if k_mix is not None:          # §6.9.6 step 1: Decapsulated, mix K
                self.rk, cks = kdf_rk_kem(self.rk, dh(r, peer), k_mix)
                self.kem.mixed_on_send()
                mixed_now = True
            else:
                self.rk, cks = kdf_rk(self.rk, dh(r, peer))
            self.our_priv, self.our_pub = r, x25519_pub(r)
            self.sending = [cks, 0]
            self.expecting_new_chain = True
            made_new_key = True
        ck, n = self.sending
        seed = chain_seed(ck)
        self.sending = [chain_next(ck), n + 1]
        drew = chunk = None
        if self.kem is None:
            header = bytes([WIRE_VERSION, T_NORMAL]) + self.our_pub + varint(self.pn) + varint(n)
        else:
            fields, drew, chunk = self.kem.send_fields(kem_draws)
            header = (bytes([WIRE_VERSION, T_KEM_NORMAL]) + self.our_pub + varint(self.pn)
                      + varint(n) + fields)
        self.last_send = dict(mixed=mixed_now, drew=drew, chunk=chunk,
                              e=self.kem.mixed if self.kem is not None else None)
        prefix = self.pending_prefix or b""
        ek, mk = message_keys(seed)
        ct = siv_seal(ek, mk, self.session_ad + prefix + header, plaintext)
        return prefix + header + ct, made_new_key

    def upgrade_kem_ratchet(self):
        """§6.9.8: start the KEM ratchet in a session without it; False (and
        nothing changes) when it runs it already, or is an initiator session
        that has not decrypted a reply."""
        if self.kem is not None or (self.initiator and self.pending_prefix is not None):
            return False
        self.kem = KemRatchet(self.initiator, peer_seen=False)
        return True

    def matches(self, pk):
        return (not self.initiator and key_bytes(self.peer_identity) == key_bytes(pk["identity"])
                and self.base_key == pk["base_key"])

    # §6.5, session level (step 0)
    def decrypt(self, data):
        kind, m = decode_message(data)
        if kind == "prekey":
            if not self.matches(m):
                raise ProtoError("NotForThisSession")
            pt = self.decrypt_inner(m["inner"], m["prefix"])
        else:
            pt = self.decrypt_inner(m, b"")
            if self.initiator:
                self.pending_prefix = None     # acknowledged
        return pt

    def decrypt_inner(self, msg, prefix):
        trial = copy.deepcopy(self.__dict__)
        try:
            if msg["type"] == T_KEM_NORMAL and self.kem is None:
                # §6.9.8: a type-0x0c message to a session without the KEM
                # ratchet is an upgrade: E != 0 fails; otherwise decrypt as if
                # upgraded just before, keeping that state only on success
                if msg["e"] != 0:
                    raise ProtoError("AuthenticationFailed")
                self.kem = KemRatchet(self.initiator, peer_seen=False)
            pt = self._decrypt(msg, prefix)
        except Exception:
            self.__dict__ = trial              # transactional
            raise
        if msg["type"] == T_KEM_NORMAL:
            self.kem.take_in(msg)              # §6.9.7: cannot fail the decryption
        return pt

    def _decrypt(self, msg, prefix):
        n, pn, rkey = msg["n"], msg["pn"], msg["ratchet_key"]
        ad = self.session_ad + prefix + msg["header"]
        if n == 0xFFFFFFFF:
            raise ProtoError("AuthenticationFailed")
        chain = next((c for c in self.receiving if c["ratchet_key"] == rkey), None)
        # §6.9.7 kinds: a session with the KEM ratchet refuses type 0x03
        # unless a receiving chain has its ratchet key or peer_seen is false
        if (self.kem is not None and msg["type"] == T_NORMAL and chain is None
                and self.kem.peer_seen):
            raise ProtoError("AuthenticationFailed")
        if chain is not None:
            if n in chain["skipped"]:
                pt = siv_open(*message_keys(chain["skipped"][n]), ad, msg["ct"])
                del chain["skipped"][n]
                return pt
            if chain["chain"] is None:
                raise ProtoError("DuplicateOrExpired")
            ck, nr = chain["chain"]
            if n < nr:
                raise ProtoError("DuplicateOrExpired")
            if n - nr > MAX_CHAIN_JUMP:
                raise ProtoError("TooFarAhead")
            seed, ck2, skipped = advance(ck, nr, n)
            pt = siv_open(*message_keys(seed), ad, msg["ct"])
            chain["chain"] = [ck2, n + 1]
            store_skipped(chain, skipped)
            return pt
        # new ratchet key: DH ratchet step
        if rkey[:8] in self.evicted or not self.expecting_new_chain or self.our_priv is None:
            raise ProtoError("DuplicateOrExpired")
        if n > MAX_CHAIN_JUMP:
            raise ProtoError("TooFarAhead")
        if self.receiving and self.receiving[0]["chain"] is not None:
            if max(pn - self.receiving[0]["chain"][1], 0) > MAX_CHAIN_JUMP:
                raise ProtoError("TooFarAhead")
        # §6.9.7: after check 3.3, before the DH: which root step
        k_mix = None
        if msg["type"] == T_KEM_NORMAL:
            kem, e = self.kem, msg["e"]
            if e == kem.mixed:
                pass
            elif e == kem.mixed + 1 and kem.state == SENDING_CT:
                k_mix = kem.K
            else:
                raise ProtoError("AuthenticationFailed")
        try:
            dh_out = dh(self.our_priv, rkey)
        except ProtoError:
            raise ProtoError("InvalidKey")
        rk2, ckr = kdf_rk_kem(self.rk, dh_out, k_mix) if k_mix is not None else kdf_rk(self.rk, dh_out)
        seed, ck2, skipped = advance(ckr, 0, n)
        pt = siv_open(*message_keys(seed), ad, msg["ct"])
        # commit
        if self.receiving:
            close_chain(self.receiving[0], pn)
        newc = {"ratchet_key": rkey, "chain": [ck2, n + 1], "skipped": {}}
        store_skipped(newc, skipped)
        self.receiving.insert(0, newc)
        while len(self.receiving) > MAX_RECEIVING_CHAINS:
            dropped = self.receiving.pop()
            self.evicted.insert(0, dropped["ratchet_key"][:8])
            del self.evicted[MAX_EVICTED:]
        self.expecting_new_chain = False
        self.rk = rk2
        if self.sending is not None:
            self.pn = self.sending[1]
            self.sending = None
        if k_mix is not None:                  # §6.9.7 on commit: mixed = E, EkPending
            self.kem.mixed = msg["e"]
            self.kem._enter(EK_PENDING)
            self.kem.events.append(("mixed on receiving", msg["e"]))
        return pt


def close_chain(chain, pn):
    if chain["chain"] is None:
        return
    ck, nr = chain["chain"]
    if pn > nr:
        keep_from = max(nr, pn - MAX_SKIPPED)
        i, new = nr, {}
        while i < pn:
            if i >= keep_from:
                new[i] = chain_seed(ck)
            ck = chain_next(ck)
            i += 1
        store_skipped(chain, new)
    chain["chain"] = None


# ---------------------------------------------------------------- parties
def public_identity(ed_seed, x_priv):
    ed, x = ed_pub(ed_seed), x25519_pub(x_priv)
    return ed + x + ed_sign(ed_seed, binding_msg(x))


def start_session(me, bundle_bytes, context, plaintext, ek_priv, ra0_priv, kem_m=None,
                  initiate_classic=False, kem_draws=None):
    """§5.4 (the RNG outputs are passed in; kem_m is the ML-KEM
    encapsulation randomness, used when the bundle has a PQ prekey;
    kem_draws the KEM ratchet's d || z for the first message, §5.4 step 9).
    initiate_classic: the account's setting is ClassicX3dh::AcceptAndInitiate
    (§5.7); otherwise (Refuse or Accept) it never starts classic X3DH.
    me["caps"] is our current signed prekey's capabilities byte (§6.9.1:
    we run the KEM ratchet when it has 0x02)."""
    if len(context) > MAX_CONTEXT_LEN:
        raise ProtoError("ContextTooLong")
    b = decode_bundle(bundle_bytes)
    if key_bytes(b["identity"]) == key_bytes(me["pub"]):
        raise ProtoError("OwnBundle")
    ed_b = b["identity"][:32]
    pq = b["pq"]
    # step 3: the signature covers the capabilities byte as carried; a
    # bundle without PQ prekey whose bit 0x01 verifies only when set was
    # stripped on the way
    if not verify_sig(ed_b, spk_msg(b["spk_id"], b["spk"], b["caps"]), b["spk_sig"]):
        if (pq is None and not b["caps"] & CAP_PQ
                and verify_sig(ed_b, spk_msg(b["spk_id"], b["spk"], b["caps"] | CAP_PQ),
                               b["spk_sig"])):
            raise ProtoError("PqPreKeyStripped")
        raise ProtoError("BadSignedPreKeySignature")
    # step 4
    if pq is not None:
        if not verify_sig(ed_b, pq_msg(pq["kind"], pq["id"], pq["key"]), pq["sig"]):
            raise ProtoError("BadPqPreKeySignature")
    elif b["caps"] & CAP_PQ:
        raise ProtoError("PqPreKeyStripped")                # whatever the setting
    elif not initiate_classic:
        raise ProtoError("MissingPqPreKey")                 # §5.7
    ek_pub = x25519_pub(ek_priv)
    # §5.4 step 6, §6.9.1: both signed prekeys sign capability 0x02
    runs_kem = bool(me.get("caps", CAP_PQ | CAP_KEM) & CAP_KEM and b["caps"] & CAP_KEM)
    flags = ((F_OPK if b["opk"] is not None else 0) | (F_PQ if pq is not None else 0)
             | (F_KEM if runs_kem else 0))
    ss = ct = None
    if pq is not None:
        ss, ct = mlkem_encaps(pq["key"], kem_m)
    prefix = (bytes([WIRE_VERSION, T_PREKEY, flags]) + me["pub"] + u32(b["spk_id"]) + ek_pub
              + (u32(b["opk_id"]) if b["opk"] is not None else b"")
              + (bytes([pq["kind"]]) + u32(pq["id"]) + ct if pq is not None else b""))
    t = transcript_hash(prefix, key_bytes(b["identity"]), b["spk"], b["opk"],
                        pq["key"] if pq is not None else None, context)
    ik_b = b["identity"][32:64]
    dhs = [dh(me["x"], b["spk"]), dh(ek_priv, ik_b), dh(ek_priv, b["spk"])]
    if b["opk"] is not None:
        dhs.append(dh(ek_priv, b["opk"]))
    rk0, ck0 = x3dh_kdf(dhs, t, ss)
    s = Session(True, b["identity"], ek_pub, session_ad_of(key_bytes(me["pub"]),
                                                            key_bytes(b["identity"]), context), rk0)
    s.our_priv, s.our_pub = ra0_priv, x25519_pub(ra0_priv)
    s.sending = [ck0, 0]
    s.pn = 0
    s.expecting_new_chain = True
    s.pending_prefix = prefix
    if runs_kem:
        s.kem = KemRatchet(True)               # §6.9.5: the initiator starts in EkPending
    out, _ = s.encrypt(plaintext, None, kem_draws)
    return s, out, dict(T=t, RK0=rk0, CK0=ck0, SS=ss, CT=ct, kem=runs_kem,
                        setup="Pqxdh" if pq is not None else "ClassicX3dh")


def consumes_one_time(opk_id, pq):
    """True if a first message uses a one-time prekey of either kind (then
    it is single-use by deletion; otherwise the signed prekey's replay
    record holds its base key)."""
    return opk_id is not None or (pq is not None and pq["kind"] == PQ_ONE_TIME)


def replay_entry(pq, base_key):
    """§5.6: (last-resort PQ prekey id, or None for classic X3DH, base key);
    the signed prekey id is implicit (one record per signed prekey)."""
    return (pq["id"] if pq is not None else None, base_key)


class Responder:
    """Bob's account: §5.5/§5.6, one current signed prekey, optional one-time
    prekey, optional PQ (ML-KEM-768) prekey, one-time or last-resort."""

    def __init__(self, v, allow_classic=False):
        # §5.7: True for ClassicX3dh::Accept (or AcceptAndInitiate): opens
        # first messages without PQ fields; False for Refuse, the default
        self.allow_classic = allow_classic
        self.ed_seed = bytes.fromhex(v["identity_ed25519_private"])
        self.x = bytes.fromhex(v["identity_x25519_private"])
        self.pub = public_identity(self.ed_seed, self.x)
        spk = v["signed_prekey"]
        self.spks = {spk["id"]: {"priv": bytes.fromhex(spk["private"]), "replay": set(),
                                 "expiry": None}}
        self.opks = {}
        if v["one_time_prekey"]:
            o = v["one_time_prekey"]
            self.opks[o["id"]] = bytes.fromhex(o["private"])
        self.pqks = {}
        if v.get("pq_prekey"):
            q = v["pq_prekey"]
            ek, dk = mlkem_keygen(bytes.fromhex(q["seed_d"]), bytes.fromhex(q["seed_z"]))
            # §3.5: ids are counted per kind, a PQ prekey is named by (kind, id)
            self.pqks[(q["kind"], q["id"])] = {"ek": ek, "dk": dk}
        self.sessions = []

    def open_first_message(self, data, context, now=0):
        if len(context) > MAX_CONTEXT_LEN:
            raise ProtoError("ContextTooLong")
        m = decode_prekey(data)
        if key_bytes(m["identity"]) == key_bytes(self.pub):
            raise ProtoError("OwnIdentity")
        if m["pq"] is None and not self.allow_classic:
            raise ProtoError("ClassicSetupRefused")
        spk = self.spks.get(m["spk_id"])
        if spk is None or (spk["expiry"] is not None and not now < spk["expiry"]):
            raise ProtoError("UnknownSignedPreKey")
        opk_priv = None
        if m["opk_id"] is not None:
            opk_priv = self.opks.get(m["opk_id"])
            if opk_priv is None:
                raise ProtoError("OneTimePreKeyUnavailable")
        pqk = None
        if m["pq"] is not None:
            pqk = self.pqks.get((m["pq"]["kind"], m["pq"]["id"]))
            if pqk is None:
                raise ProtoError("UnknownPqPreKey")
        if (not consumes_one_time(m["opk_id"], m["pq"])
                and replay_entry(m["pq"], m["base_key"]) in spk["replay"]):
            raise ProtoError("Replay")
        spk_pub = x25519_pub(spk["priv"])
        opk_pub = x25519_pub(opk_priv) if opk_priv else None
        t = transcript_hash(m["prefix"], key_bytes(self.pub), spk_pub, opk_pub,
                            pqk["ek"] if pqk else None, context)
        ik_a = m["identity"][32:64]
        ek = m["base_key"]
        dhs = [dh(spk["priv"], ik_a), dh(self.x, ek), dh(spk["priv"], ek)]
        if opk_priv:
            dhs.append(dh(opk_priv, ek))
        ss = mlkem_decaps(pqk["dk"], m["pq"]["ct"]) if pqk else None
        rk0, ck0 = x3dh_kdf(dhs, t, ss)
        s = Session(False, m["identity"], ek,
                    session_ad_of(key_bytes(m["identity"]), key_bytes(self.pub), context), rk0)
        s.receiving = [{"ratchet_key": m["inner"]["ratchet_key"], "chain": [ck0, 0],
                        "skipped": {}}]
        s.expecting_new_chain = False
        if m["kem"]:
            s.kem = KemRatchet(False)          # §5.5 step 11: the responder in ReceivingEk
        try:
            pt = s.decrypt_inner(m["inner"], m["prefix"])
        except ProtoError as e:
            raise ProtoError("Message(%s)" % e)
        return dict(session=s, plaintext=pt, spk_id=m["spk_id"], opk_id=m["opk_id"],
                    pq=m["pq"], base_key=ek, setup="Pqxdh" if pqk else "ClassicX3dh",
                    derived=dict(T=t, RK0=rk0, CK0=ck0, SS=ss))

    def accept(self, pending):
        """§5.5 commit checks, in order; the account is unchanged on error."""
        pq = pending["pq"]
        pq_name = (pq["kind"], pq["id"]) if pq is not None else None
        if pq is not None and pq["kind"] == PQ_LAST_RESORT and pq_name not in self.pqks:
            raise ProtoError("UnknownPqPreKey")
        spk = self.spks.get(pending["spk_id"])
        if spk is None:
            raise ProtoError("UnknownSignedPreKey")
        if pending["opk_id"] is not None and pending["opk_id"] not in self.opks:
            raise ProtoError("Replay")
        if pq is not None and pq["kind"] == PQ_ONE_TIME and pq_name not in self.pqks:
            raise ProtoError("Replay")
        if not consumes_one_time(pending["opk_id"], pq):
            entry = replay_entry(pq, pending["base_key"])
            if entry in spk["replay"]:
                raise ProtoError("Replay")
            spk["replay"].add(entry)
        if pending["opk_id"] is not None:
            del self.opks[pending["opk_id"]]
        if pq is not None and pq["kind"] == PQ_ONE_TIME:
            del self.pqks[pq_name]                  # a last-resort key stays
        self.sessions.append(pending["session"])
        return pending["session"]

    def receive(self, data, context):
        """§5.6 routing."""
        kind, m = decode_message(data)
        if kind == "prekey":
            for s in self.sessions:
                if s.matches(m):
                    return s.decrypt(data), None
            pend = self.open_first_message(data, context)
            self.last_derived = pend["derived"]
            return pend["plaintext"], self.accept(pend)
        return self.sessions[0].decrypt(data), None


# ---------------------------------------------------------------- §7
def safety_half(kb):
    h = sha512(L_HASH_SN + bytes([SAFETY_NUMBER_VERSION]) + kb)
    for _ in range(SAFETY_NUMBER_ITERATIONS - 1):
        h = sha512(h + kb)
    return h


def safety_digits(h):
    return "".join("%05d" % (int.from_bytes(h[i:i + 5], "big") % 100000) for i in range(0, 30, 5))


def safety_number(kb1, kb2):
    a, b = safety_digits(safety_half(kb1)), safety_digits(safety_half(kb2))
    return min(a, b) + max(a, b)


# ---------------------------------------------------------------- groups (§12)
L_SIG_GROUP_MSG = b"dmseal:v1:sig:group-message"
L_SIG_GROUP_OWNER = b"dmseal:v1:sig:group-owner"
L_HASH_STATE_ID = b"dmseal:v1:hash:group-state-id"
L_TREE_LEFT = b"dmseal:v1:group:tree-left"
L_TREE_RIGHT = b"dmseal:v1:group:tree-right"
L_KDF_GROUP_MSG = b"dmseal:v1:kdf:group-message"

T_GROUP_MSG, T_DISTRIBUTION, T_EXPORT = 4, 5, 6
STATE_ID_LEN = 16
TREE_DEPTH = 32
LAST_INDEX = 2**32 - 1
MAX_GROUP_ID_LEN = 64
MAX_MEMBER_ID_LEN = 256
MAX_GROUP_WINDOW = 2000
MAX_GROUP_STATE_NODES = 2100
MAX_SENDER_STATES_PER_MEMBER = 5
GROUP_SIG_LEN = 64
NODE_LEN = 37
F_CLOSURE = 0x01          # §12.5 record flags: a closure follows (distributions only)


def group_g(group_id):
    """§12.4: G = u8(len(group_id)) || group_id."""
    return bytes([len(group_id)]) + group_id


def state_id_of(signing_public):
    """§12.3: SHA-256("dmseal:v1:hash:group-state-id" || A)[0..16]."""
    return sha256(L_HASH_STATE_ID + signing_public)[:STATE_ID_LEN]


def owner_msg(group_id, state_id, owner_id):
    """§12.5: label || u8(g) || group_id || state_id || u16(o) || owner_id."""
    return L_SIG_GROUP_OWNER + group_g(group_id) + state_id + u16(len(owner_id)) + owner_id


def node_first(d, p):
    return p << (TREE_DEPTH - d)


def node_last(d, p):
    return ((p + 1) << (TREE_DEPTH - d)) - 1


def tree_children(d, p, key):
    """§12.2: (left, right) children of node (d, p) with key K."""
    assert d < TREE_DEPTH
    return ((d + 1, 2 * p, hmac256(key, L_TREE_LEFT)),
            (d + 1, 2 * p + 1, hmac256(key, L_TREE_RIGHT)))


def node_key_from(d0, p0, k0, d, p):
    """Key of node (d, p) derived from the ancestor (d0, p0, k0)."""
    assert d >= d0 and (p >> (d - d0)) == p0
    key = k0
    for level in range(d0, d):
        bit = (p >> (d - level - 1)) & 1
        key = hmac256(key, L_TREE_RIGHT if bit else L_TREE_LEFT)
    return key


def cover_find(cover, i):
    """The position of the cover node whose range holds i, or None (§12.2 Descend)."""
    for pos, (d, p, _) in enumerate(cover):
        if node_first(d, p) <= i <= node_last(d, p):
            return pos
    return None


def descend(cover, i):
    """§12.2 Descend(i): (position, leaf key, siblings sorted by first index);
    changes nothing.  None if the cover does not hold i."""
    pos = cover_find(cover, i)
    if pos is None:
        return None
    d, p, key = cover[pos]
    siblings = []
    while d < TREE_DEPTH:
        left, right = tree_children(d, p, key)
        if (i >> (TREE_DEPTH - d - 1)) & 1:
            siblings.append(left)
            d, p, key = right
        else:
            siblings.append(right)
            d, p, key = left
    siblings.sort(key=lambda n: node_first(n[0], n[1]))
    return pos, key, siblings


def puncture(cover, pos, siblings):
    """§12.2 Puncture: the covering node is replaced by the siblings."""
    return cover[:pos] + siblings + cover[pos + 1:]


def restrict(node, lo, hi):
    """The nodes, derived from `node`, that cover exactly node's indices in
    [lo, hi] (a node straddling a bound is split along the path to it, as in
    §12.2's cover of [i, 2^32 - 1] and §12.3's cut)."""
    d, p, key = node
    f, l = node_first(d, p), node_last(d, p)
    if l < lo or f > hi:
        return []
    if lo <= f and l <= hi:
        return [node]
    left, right = tree_children(d, p, key)
    return restrict(left, lo, hi) + restrict(right, lo, hi)


def cover_restrict(cover, lo, hi):
    out = []
    for n in cover:
        out.extend(restrict(n, lo, hi))
    return out


def cover_holds_exactly(cover, lo, hi):
    """True if the cover's ranges are sorted, disjoint and cover exactly [lo, hi]."""
    nxt = lo
    for d, p, _ in cover:
        if node_first(d, p) != nxt:
            return False
        nxt = node_last(d, p) + 1
    return nxt == hi + 1


def group_message_keys(leaf, group_id, state_id, i):
    """§12.3: (ek, mk, commitment) from HKDF-Expand(leaf, info, 96)."""
    m = hkdf_expand(leaf, L_KDF_GROUP_MSG + group_g(group_id) + state_id + u32(i), 96)
    return m[0:32], m[32:64], m[64:96]


def group_signed_msg(group_id, header, ct, commitment):
    """§12.4: label || SHA-256(G || header || ciphertext || commitment)."""
    return L_SIG_GROUP_MSG + sha256(group_g(group_id) + header + ct + commitment)


def encode_group_message(group_id, state_id, i, leaf, plaintext, signing_seed):
    """§12.4 sender side: header, SIV-Seal, Ed25519 over the digest."""
    header = bytes([WIRE_VERSION, T_GROUP_MSG]) + state_id + varint(i)
    ek, mk, commitment = group_message_keys(leaf, group_id, state_id, i)
    ct = siv_seal(ek, mk, group_g(group_id) + header, plaintext)
    sig = ed_sign(signing_seed, group_signed_msg(group_id, header, ct, commitment))
    return header + ct + sig, commitment


def decode_group_message(b):
    """§12.4 step 1."""
    check_header(b, T_GROUP_MSG)
    if len(b) < 2 + STATE_ID_LEN:
        raise ProtoError("Truncated")
    state_id = b[2:2 + STATE_ID_LEN]
    i, hlen = rd_varint(b, 2 + STATE_ID_LEN)
    if len(b) - hlen < GROUP_SIG_LEN or len(b) - hlen - GROUP_SIG_LEN < SIV_IV_LEN:
        raise ProtoError("Truncated")
    return dict(header=b[:hlen], state_id=state_id, index=i, ct=b[hlen:-GROUP_SIG_LEN],
                sig=b[-GROUP_SIG_LEN:])


def encode_record(typ, group_id, state_id, signing_public, owner_id, owner_sig, nodes,
                  closure=None):
    """§12.5 sender-key record (distribution 0x05 or export 0x06)."""
    out = (bytes([WIRE_VERSION, typ]) + group_g(group_id) + state_id + signing_public
           + u16(len(owner_id)) + owner_id + owner_sig + u16(len(nodes)))
    for d, p, key in nodes:
        out += bytes([d]) + u32(p) + key
    if closure is None:
        return out + b"\x00"
    return out + bytes([F_CLOSURE]) + closure[0] + u32(closure[1])


def decode_record(b, typ):
    """§12.5 decoding order (the node checks come when the record is taken in)."""
    check_header(b, typ)

    def need(n):
        if len(b) < n:
            raise ProtoError("Truncated")
    need(3)
    g = b[2]
    if g > MAX_GROUP_ID_LEN:
        raise ProtoError("TooLong")
    o = 3
    need(o + g)
    group_id = b[o:o + g]
    o += g
    need(o + STATE_ID_LEN)
    state_id = b[o:o + STATE_ID_LEN]
    o += STATE_ID_LEN
    need(o + 32)
    signing = b[o:o + 32]
    check_ed25519_public(signing)
    o += 32
    if state_id_of(signing) != state_id:
        raise ProtoError("InvalidStateId")
    need(o + 2)
    olen = int.from_bytes(b[o:o + 2], "big")
    if olen > MAX_MEMBER_ID_LEN:
        raise ProtoError("TooLong")
    o += 2
    need(o + olen)
    owner = b[o:o + olen]
    o += olen
    need(o + 64)
    owner_sig = b[o:o + 64]
    o += 64
    need(o + 2)
    n = int.from_bytes(b[o:o + 2], "big")
    if n > MAX_GROUP_STATE_NODES:
        raise ProtoError("TooLong")
    o += 2
    need(o + NODE_LEN * n)
    nodes = []
    for _ in range(n):
        nodes.append((b[o], rd32(b, o + 1), b[o + 5:o + 37]))
        o += NODE_LEN
    need(o + 1)
    flags = b[o]
    o += 1
    if flags & ~F_CLOSURE or (typ == T_EXPORT and flags & F_CLOSURE):
        raise ProtoError("UnknownFlags")
    closure = None
    if flags & F_CLOSURE:
        need(o + 20)
        closure = (b[o:o + 16], rd32(b, o + 16))
        o += 20
    if len(b) != o:
        raise ProtoError("TrailingBytes")
    return dict(type=typ, group_id=group_id, state_id=state_id, signing_key=signing,
                owner=owner, owner_sig=owner_sig, nodes=nodes, closure=closure)


def valid_key_tree(nodes):
    """§12.5 node checks (else Decode(InvalidKeyTree))."""
    if not 1 <= len(nodes) <= MAX_GROUP_STATE_NODES:
        return False
    prev_last = -1
    for d, p, _ in nodes:
        if d > TREE_DEPTH or p >= 2 ** d:
            return False
        if node_first(d, p) <= prev_last:
            return False
        prev_last = node_last(d, p)
    return True


class GroupReceiver:
    """The receiving side of one `Group` (§12.3 - §12.5): members' inbound
    sender states, enough to take in distributions and exports, read
    messages and export a state.  (No outbound state, no revoked list: the
    vectors exercise neither.)"""

    def __init__(self, group_id, members):
        self.group_id = group_id
        self.members = {m: {"states": [], "retired": []} for m in members}

    def _find(self, state_id):
        for mid, mem in self.members.items():
            for st in mem["states"]:
                if st["state_id"] == state_id:
                    return mid, st
        return None, None

    def _take_in(self, frm, data, typ):
        try:
            r = decode_record(data, typ)
        except ProtoError as e:
            raise ProtoError("Decode(%s)" % e)
        if r["group_id"] != self.group_id:
            raise ProtoError("WrongGroup")
        if frm not in self.members:
            raise ProtoError("NotAMember")
        if r["owner"] != frm or not verify_sig(
                r["signing_key"], owner_msg(r["group_id"], r["state_id"], r["owner"]),
                r["owner_sig"]):
            raise ProtoError("StateOwnedByAnotherMember")
        mem = self.members[frm]
        if r["state_id"] in mem["retired"]:
            self._apply_closure(frm, r)
            return None
        holder, held = self._find(r["state_id"])
        if held is not None:
            if holder != frm:
                raise ProtoError("StateOwnedByAnotherMember")
            if held["signing_key"] != r["signing_key"]:
                raise ProtoError("SigningKeyMismatch")
            # (a distribution replacing an unverified import is not exercised)
            self._apply_closure(frm, r)
            return held
        if not valid_key_tree(r["nodes"]):
            raise ProtoError("Decode(InvalidKeyTree)")
        d, p, _ = r["nodes"][0]
        st = dict(state_id=r["state_id"], signing_key=r["signing_key"], owner_sig=r["owner_sig"],
                  cover=list(r["nodes"]), start=node_first(d, p), newest=None,
                  verified=(typ == T_DISTRIBUTION), last=None, closes=r["closure"])
        for other in mem["states"]:
            if other["closes"] is not None and other["closes"][0] == st["state_id"]:
                self._close(st, other["closes"][1])
        mem["states"].insert(0, st)
        while len(mem["states"]) > MAX_SENDER_STATES_PER_MEMBER:
            mem["retired"].append(mem["states"].pop()["state_id"])
        self._apply_closure(frm, r)
        return st

    def _close(self, st, last):
        st["last"] = last if st["last"] is None else min(st["last"], last)
        st["cover"] = cover_restrict(st["cover"], 0, st["last"])

    def _apply_closure(self, frm, r):
        """§12.5 step 10."""
        cl = r["closure"]
        if cl is None or cl[0] == r["state_id"]:
            return
        for st in self.members[frm]["states"]:
            if st["state_id"] == cl[0]:
                self._close(st, cl[1])

    def receive_distribution(self, frm, data):
        return self._take_in(frm, data, T_DISTRIBUTION)

    def import_sender_state(self, frm, data):
        return self._take_in(frm, data, T_EXPORT)

    def decrypt(self, data):
        """§12.4 receiving, steps 1-8 (step 3, the revoked list, is empty
        here).  Returns (plaintext, sender, verified); transactional."""
        try:
            m = decode_group_message(data)
        except ProtoError as e:
            raise ProtoError("Decode(%s)" % e)
        frm, st = self._find(m["state_id"])
        if st is None:
            raise ProtoError("UnknownSenderState")
        i = m["index"]
        found = descend(st["cover"], i)
        if found is None:
            if st["last"] is not None and i > st["last"]:
                raise ProtoError("StateClosed")
            if i < st["start"]:
                raise ProtoError("BeforeStateStart")
            if st["newest"] is not None and i + MAX_GROUP_WINDOW < st["newest"]:
                raise ProtoError("OutsideWindow")
            raise ProtoError("Duplicate")
        pos, leaf, siblings = found
        ek, mk, commitment = group_message_keys(leaf, self.group_id, m["state_id"], i)
        if not verify_sig(st["signing_key"],
                          group_signed_msg(self.group_id, m["header"], m["ct"], commitment),
                          m["sig"]):
            raise ProtoError("BadSignature")
        pt = siv_open(ek, mk, group_g(self.group_id) + m["header"], m["ct"])
        # step 8: commit
        cover = puncture(st["cover"], pos, siblings)
        st["newest"] = i if st["newest"] is None else max(st["newest"], i)
        b = max(0, st["newest"] - MAX_GROUP_WINDOW)
        cover = cover_restrict(cover, b, LAST_INDEX)
        if len(cover) > MAX_GROUP_STATE_NODES:
            cover = cover[len(cover) - MAX_GROUP_STATE_NODES:]
        st["cover"] = cover
        return pt, frm, st["verified"]

    def export_sender_state(self, member, frm_index):
        """§12.5 export: the newest inbound state of `member`, cut to
        indices >= frm_index, with the owner signature received."""
        st = self.members[member]["states"][0]
        nodes = cover_restrict(st["cover"], frm_index, LAST_INDEX)
        if not nodes:
            return None
        nodes = nodes[-MAX_GROUP_STATE_NODES:]
        return encode_record(T_EXPORT, self.group_id, st["state_id"], st["signing_key"],
                             member, st["owner_sig"], nodes)


# ---------------------------------------------------------------- driver
class Checker:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("ok    %s" % name)
        else:
            self.failed += 1
            print("FAIL  %s%s" % (name, (": " + detail) if detail else ""))
        return ok

    def eq(self, name, got, want):
        if isinstance(got, bytes):
            got = got.hex()
        if isinstance(want, bytes):
            want = want.hex()
        return self.check(name, got == want, "got %s, want %s" % (got, want))

    def raises(self, name, fn, want):
        try:
            fn()
        except ProtoError as e:
            return self.check(name, str(e) == want, "got %s, want %s" % (e, want))
        return self.check(name, False, "no error, want %s" % want)


class KemTracker:
    """Checks of the KEM ratchet during a replay (§6.9): what each send drew
    against the file's kem_draws, each message's KEM fields against the
    sender's state, and what receivers rebuilt against what senders made."""

    def __init__(self, c, tag):
        self.c, self.tag = c, tag
        self.keygen = {}       # epoch -> (who, ek)
        self.encaps = {}       # epoch -> (who, ct, K)
        self.role_failures = []

    def ck(self, name, got, want):
        return self.c.eq("%s: %s" % (self.tag, name), got, want)

    def cc(self, name, ok, detail=""):
        return self.c.check("%s: %s" % (self.tag, name), ok, detail)

    def on_send(self, j, who, m, s):
        """After session s of `who` encrypted message j (file entry m)."""
        H = bytes.fromhex
        ls, kd = s.last_send, m.get("kem_draws")
        drew = ls["drew"] if ls else None
        want = None if kd is None else ("keygen" if "seed_d" in kd else "encaps")
        self.ck("message %d (%s): KEM draw at this send (state machine, §6.9.6 step 3)" % (j, who),
                drew["kind"] if drew else None, want)
        if drew and drew["kind"] == "keygen":
            self.keygen[drew["epoch"]] = (who, drew["ek"])
        if drew and drew["kind"] == "encaps" and want == "encaps":
            self.ck("message %d (%s): encapsulation epoch (mixed + 1)" % (j, who), drew["epoch"],
                    kd["epoch"])
            self.ck("message %d (%s): encapsulation key = the one rebuilt from the peer's chunks"
                    % (j, who), drew["ek"], H(kd["encapsulation_key"]))
            kg = self.keygen.get(drew["epoch"])
            self.cc("message %d (%s): that key is the peer's KeyGen(d, z) of epoch %d"
                    % (j, who, drew["epoch"]),
                    kg is not None and kg[0] != who and kg[1] == drew["ek"])
            self.ck("message %d (%s): ML-KEM ciphertext" % (j, who), drew["ct"], H(kd["ciphertext"]))
            self.ck("message %d (%s): epoch key K_e (§6.9.4)" % (j, who), drew["K"], H(kd["epoch_key"]))
            self.ck("message %d (%s): confirmation tag_e (§6.9.4)" % (j, who), drew["tag"], H(kd["tag"]))
            self.encaps[drew["epoch"]] = (who, drew["ct"], drew["K"])
        # the KEM fields of the listed bytes are those of the sender's state
        try:
            kind, dm = decode_message(H(m["bytes"]))
            inner = dm["inner"] if kind == "prekey" else dm
            got = (inner["e"], inner["chunk"][0] if inner["chunk"] else None,
                   inner["chunk"][1].hex() if inner["chunk"] else None)
        except ProtoError as e:
            got = "decode error %s" % e
        want_f = (ls["e"], ls["chunk"][0] if ls["chunk"] else None,
                  ls["chunk"][1].hex() if ls["chunk"] else None)
        self.ck("message %d (%s): KEM fields (E, chunk index, chunk) are the sender state's "
                "(E = %d, %s)" % (j, who, ls["e"], "chunk %d" % ls["chunk"][0] if ls["chunk"]
                                  else "no chunk"), got, want_f)
        self._roles(who, s)

    def on_delivery(self, i, who, s):
        """Drain what take-in did at `who` after delivery i."""
        kem = s.kem
        for ev in kem.events:
            if ev[0] == "ek received":
                kg = self.keygen.get(ev[1])
                self.cc("delivery %d: %s rebuilt the encapsulation key of epoch %d from chunks "
                        "(§6.9.3, hash and modulus check) = the peer's KeyGen(d, z)" % (i, who, ev[1]),
                        kg is not None and kg[0] != who and kg[1] == ev[2])
            elif ev[0] == "decapsulated":
                en = self.encaps.get(ev[1])
                self.cc("delivery %d: %s rebuilt the ciphertext of epoch %d, decapsulated and "
                        "confirmed the tag: K_e = the encapsulator's" % (i, who, ev[1]),
                        en is not None and en[0] != who and en[1] == ev[2] and en[2] == ev[3])
            elif ev[0] == "mixed on receiving":
                self.cc("delivery %d: %s mixed epoch %d on receiving (KDF_RK_KEM, §6.9.7)"
                        % (i, who, ev[1]), True)
            else:
                self.cc("delivery %d: %s: %s for epoch %d" % (i, who, ev[0], ev[1]), False)
        kem.events = []
        self._roles(who, s)

    def _roles(self, who, s):
        if s.kem is not None and not s.kem.roles_consistent():
            self.role_failures.append((who, s.kem.mixed, s.kem.state))

    def finish(self):
        self.cc("every state held by the side the roles of §6.9.5 give it (ek sender: initiator "
                "for odd epochs)", not self.role_failures, repr(self.role_failures[:3]))


def kem_header_split(msg):
    """(bytes of the header before N's end, the KEM fields after it) of a
    decoded normal message."""
    h = msg["header"]
    cut = 34 + len(varint(msg["pn"])) + len(varint(msg["n"]))
    return h[:cut], h[cut:]


def check_kem_fields_authenticated(c, name, session, dm):
    """§4.3, §6.4: the KEM fields are in the header, which is associated
    data: a message with E, the chunk index, a chunk byte changed or the
    chunk dropped fails (AuthenticationFailed) and changes nothing."""
    before, kem_f = kem_header_split(dm)
    e_len = len(varint(dm["e"]))
    idx, chunk = dm["chunk"]
    variants = [
        ("E + 1", before + varint(dm["e"] + 1) + kem_f[e_len:]),
        ("another chunk index", before + kem_f[:e_len] + bytes([(idx + 1) % 255 + 1]) + chunk),
        ("a chunk bit flipped", before + kem_f[:e_len] + bytes([idx + 1])
         + bytes([chunk[0] ^ 1]) + chunk[1:]),
        ("the chunk dropped", before + kem_f[:e_len] + b"\x00"),
    ]
    for what, header in variants:
        s2 = copy.deepcopy(session)
        snap = copy.deepcopy(s2.__dict__)
        c.raises("%s: %s refused (KEM fields are associated data)" % (name, what),
                 lambda h=header, s2=s2: s2.decrypt(h + dm["ct"]), "AuthenticationFailed")
        c.check("%s: state unchanged after that failure" % name, s2.__dict__ == snap)


def check_kem_wire_rules(c, tag, first, last, session):
    """§4.3, §4.4, §6.9.1, §6.9.7 decoding and kind rules, on a file's
    first (prekey) message and last normal message of type 0x0c."""
    pm = decode_prekey(first)
    plen = len(pm["prefix"])
    inner = first[plen:]
    c.raises("%s: prekey message with flag 0x04 and an inner type 0x03 refused (§4.4)" % tag,
             lambda: decode_prekey(first[:plen] + inner[:1] + bytes([T_NORMAL]) + inner[2:]),
             "WrongType{expected:0x0c}")
    c.raises("%s: prekey message without flag 0x04 and an inner type 0x0c refused (§4.4)" % tag,
             lambda: decode_prekey(first[:2] + bytes([first[2] & ~F_KEM]) + first[3:]),
             "WrongType{expected:0x03}")
    c.raises("%s: prekey message with an undefined flag bit (0x08) refused (§4.4)" % tag,
             lambda: decode_prekey(first[:2] + bytes([first[2] | 0x08]) + first[3:]),
             "UnknownFlags")
    before, kem_f = kem_header_split(last)
    e_len = len(varint(last["e"]))
    raw = before + kem_f + last["ct"]
    c.eq("%s: a type-0x0c message re-encodes from its decoded fields" % tag,
         raw.hex(), (last["header"] + last["ct"]).hex())
    c.raises("%s: type 0x0c cut inside E refused (§4.3)" % tag,
             lambda: decode_normal(before, T_KEM_NORMAL), "Truncated")
    c.raises("%s: type 0x0c cut before the chunk byte refused (§4.3)" % tag,
             lambda: decode_normal(before + kem_f[:e_len], T_KEM_NORMAL), "Truncated")
    c.raises("%s: type 0x0c with a chunk cut short refused (§4.3)" % tag,
             lambda: decode_normal(before + kem_f[:e_len] + b"\x05" + bytes(63), T_KEM_NORMAL),
             "Truncated")
    c.raises("%s: type 0x0c with fewer than 16 bytes after the header refused (§4.3)" % tag,
             lambda: decode_normal(last["header"] + bytes(15), T_KEM_NORMAL), "Truncated")
    c.raises("%s: type 0x0c with a non-canonical E refused (§4.1, §4.3)" % tag,
             lambda: decode_normal(before + b"\x80\x00" + kem_f[e_len:] + last["ct"], T_KEM_NORMAL),
             "NonCanonicalVarint")
    for cb in (1, 255):
        m = decode_normal(before + kem_f[:e_len] + bytes([cb]) + bytes(64) + bytes(16), T_KEM_NORMAL)
        c.eq("%s: chunk byte %d carries chunk index %d (§4.3)" % (tag, cb, cb - 1),
             m["chunk"][0], cb - 1)
    m = decode_normal(before + kem_f[:e_len] + b"\x00" + bytes(16), T_KEM_NORMAL)
    c.check("%s: chunk byte 0: no chunk, header %d bytes (§4.3: 38 to 50)" % (tag, len(m["header"])),
            m["chunk"] is None and 38 <= len(m["header"]) <= 50)
    c.raises("%s: a type-0x0c message given to the 0x03 decoder is WrongType (§4.5)" % tag,
             lambda: decode_normal(raw), "WrongType{expected:0x03}")
    # §6.9.7 kinds: a type-0x03 message under a ratchet key no receiving
    # chain has is refused with AuthenticationFailed, without chain work
    # (not DuplicateOrExpired, which step 3.1 would give), and changes nothing
    fresh_key = x25519_pub(bytes(range(1, 33)))
    as03 = (bytes([WIRE_VERSION, T_NORMAL]) + fresh_key + varint(last["pn"]) + varint(last["n"])
            + last["ct"])
    snap = copy.deepcopy(session.__dict__)
    c.raises("%s: a KEM session refuses a type-0x03 message under a new ratchet key (§6.9.7)"
             % tag, lambda: session.decrypt(as03), "AuthenticationFailed")
    c.check("%s: state unchanged after that refusal" % tag, session.__dict__ == snap)


def check_upgrade(c, tag, alice, bob):
    """§6.9.8 on copies of a session set up without the KEM ratchet (no
    vector fixes these bytes: a consistency check of the rules alone, with
    a fixed d || z)."""
    a, b = copy.deepcopy(alice), copy.deepcopy(bob)
    c.check("%s: upgrade_kem_ratchet on a session without it: true, mixed 0, peer_seen false, "
            "initiator in EkPending (§6.9.8)" % tag,
            a.upgrade_kem_ratchet() and a.kem.mixed == 0 and not a.kem.peer_seen
            and a.kem.state == EK_PENDING)
    c.check("%s: a second upgrade_kem_ratchet returns false" % tag, not a.upgrade_kem_ratchet())
    draws = {"seed_d": "11" * 32, "seed_z": "22" * 32}
    out, _ = a.encrypt(b"upgraded", bytes([7] * 32), draws)
    m = decode_normal(out, T_KEM_NORMAL)
    c.check("%s: the upgraded side sends type 0x0c with E = 0 and chunk 0" % tag,
            out[1] == T_KEM_NORMAL and m["e"] == 0 and m["chunk"] is not None and m["chunk"][0] == 0)
    wrong_e = kem_header_split(m)[0] + varint(1) + kem_header_split(m)[1][1:] + m["ct"]
    b2 = copy.deepcopy(b)
    c.raises("%s: a type-0x0c message with E != 0 to a session without the KEM ratchet "
             "refused (§6.9.8)" % tag, lambda: b2.decrypt(wrong_e), "AuthenticationFailed")
    c.check("%s: it stays without the KEM ratchet" % tag, b2.kem is None)
    pt = b.decrypt(out)
    c.check("%s: the peer decrypts the first upgraded message and is upgraded: responder in "
            "ReceivingEk, peer_seen true, one ek chunk held (§6.9.8)" % tag,
            pt == b"upgraded" and b.kem is not None and b.kem.state == RECEIVING_EK
            and b.kem.peer_seen and b.kem.mixed == 0 and len(b.kem.chunks) == 1)


def run_file(c, fname):
    tag = fname.replace(".json", "")
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    ck = lambda name, *a: c.eq("%s: %s" % (tag, name), *a)
    cc = lambda name, *a: c.check("%s: %s" % (tag, name), *a)

    c.eq("%s: wire_version" % tag, v["wire_version"], WIRE_VERSION)
    context = H(v["context"])
    alice = {"ed": H(v["alice"]["identity_ed25519_private"]),
             "x": H(v["alice"]["identity_x25519_private"])}
    alice["pub"] = public_identity(alice["ed"], alice["x"])
    # §11 does not list Alice's signed prekey or its capabilities.  The files'
    # description says that with PQXDH both accounts run the KEM ratchet, and
    # §3.3 says every account (Account::new) signs 0x03; so Alice's is taken
    # to be 0x03 (in the classic files Bob's 0x00 decides anyway).
    alice["caps"] = CAP_PQ | CAP_KEM
    # §11: in the classic files Bob is a classic-only account and Alice
    # starts classic setups (AcceptAndInitiate).  §11 does not name Bob's
    # ClassicX3dh setting; he must accept classic first messages, since the
    # file delivers Alice's classic first message to him.
    classic = v["setup_mode"] == "x3dh"
    bob = Responder(v["bob"], allow_classic=classic)

    # §4.1 / §3.1 public identities
    for who, mine in (("alice", alice["pub"]), ("bob", bob.pub)):
        enc = H(v[who]["public_identity"])
        ck("%s public identity from private keys (§3.1, §4.1)" % who, mine, enc)
        try:
            ed, x, sig = decode_identity(enc)
            cc("%s identity decodes; keys canonical, binding verifies (§3.2)" % who, True)
        except ProtoError as e:
            cc("%s identity decodes" % who, False, str(e))
        cc("%s binding also verifies with cryptography (cofactorless)" % who,
           _crypto_verify(enc[:32], binding_msg(enc[32:64]), enc[64:128]))
        cc("%s binding does not verify over the untyped message (label || key)" % who,
           not verify_sig(enc[:32], L_SIG_BINDING + enc[32:64], enc[64:128]))

    # setup mode
    mode = v["setup_mode"]
    bv = v["bob"]
    pqv = bv.get("pq_prekey")
    st = v["setup"]
    cc("setup_mode is pqxdh or x3dh", mode in ("pqxdh", "x3dh"))
    cc("PQ fields present exactly in pqxdh mode",
       all((x is not None) == (mode == "pqxdh") for x in
           (pqv, st["kem_encapsulation_m"], st["kem_ciphertext"], st["kem_shared_secret"])))

    # §4.2 bundle, §3.3 signed prekey
    spk_pub = H(bv["signed_prekey"]["public"])
    spk_sig = H(bv["signed_prekey"]["signature"])
    spk_id = bv["signed_prekey"]["id"]
    spk_caps = bv["signed_prekey"]["capabilities"]
    opk = bv["one_time_prekey"]
    bundle = H(v["bundle"])
    try:
        b = decode_bundle(bundle)
        cc("bundle decodes (§4.2)", True)
    except ProtoError as e:
        cc("bundle decodes (§4.2)", False, str(e))
        raise
    pq_len = 1 + 4 + 1 + MLKEM_EK_LEN + 64
    ck("bundle length (§4.2: 232, 268, 1486 or 1522)", len(bundle),
       (268 if opk else 232) + (pq_len if pqv else 0))
    ck("bundle flags", bundle[2], (F_OPK if opk else 0) | (F_PQ if pqv else 0))
    # §3.3: every account signs 0x03 (PQ prekeys and the KEM ratchet), the
    # classic-only Bob 0x00.  (§11 still says "1, or 0 in the classic files".)
    ck("signed prekey capabilities (§3.3: 3, or 0 for the classic-only Bob)", spk_caps,
       0 if classic else CAP_PQ | CAP_KEM)
    ck("bundle capabilities byte at offset 231 (§4.2)", b["caps"], spk_caps)
    ck("bundle identity", b["identity"], bob.pub)
    ck("bundle signed prekey id", b["spk_id"], spk_id)
    ck("signed prekey public from private", x25519_pub(H(bv["signed_prekey"]["private"])), spk_pub)
    ck("bundle signed prekey", b["spk"], spk_pub)
    ck("bundle signed prekey signature", b["spk_sig"], spk_sig)
    ck("signed prekey signature recomputed (label || u32(id) || 0x01 || key || u8(caps))",
       ed_sign(bob.ed_seed, spk_msg(spk_id, spk_pub, spk_caps)), spk_sig)
    cc("signed prekey signature verifies (§3.2)",
       verify_sig(bob.pub[:32], spk_msg(spk_id, spk_pub, spk_caps), spk_sig))
    cc("signed prekey signature does not verify untyped (label || u32(id) || key || caps)",
       not verify_sig(bob.pub[:32], L_SIG_SPK + u32(spk_id) + spk_pub + bytes([spk_caps]),
                      spk_sig))
    cc("signed prekey signature does not verify without the capabilities byte",
       not verify_sig(bob.pub[:32], L_SIG_SPK + u32(spk_id) + bytes([KT_X25519]) + spk_pub,
                      spk_sig))
    cc("signed prekey signature does not verify with the other capabilities value",
       not verify_sig(bob.pub[:32], spk_msg(spk_id, spk_pub, spk_caps ^ CAP_PQ), spk_sig))
    if opk:
        ck("bundle one-time prekey id", b["opk_id"], opk["id"])
        ck("one-time prekey public from private", x25519_pub(H(opk["private"])), H(opk["public"]))
        ck("bundle one-time prekey", b["opk"], H(opk["public"]))
    else:
        cc("bundle has no one-time prekey", b["opk"] is None and not bundle[2] & F_OPK)
    pq_enc = b""
    if pqv:
        pq_pub, pq_sig = H(pqv["public"]), H(pqv["signature"])
        ek_b, dk_b = mlkem_keygen(H(pqv["seed_d"]), H(pqv["seed_z"]))
        ck("ML-KEM-768 KeyGen_internal(seed_d, seed_z) gives pq_prekey.public (FIPS 203)",
           ek_b, pq_pub)
        cc("PQ prekey passes the FIPS 203 encapsulation-key check", mlkem_ek_check(pq_pub))
        ck("bundle PQ prekey kind", b["pq"]["kind"], pqv["kind"])
        ck("bundle PQ prekey id", b["pq"]["id"], pqv["id"])
        ck("bundle PQ prekey", b["pq"]["key"], pq_pub)
        ck("bundle PQ prekey signature", b["pq"]["sig"], pq_sig)
        ck("PQ prekey signature recomputed (label || kind || u32(id) || 0x02 || key)",
           ed_sign(bob.ed_seed, pq_msg(pqv["kind"], pqv["id"], pq_pub)), pq_sig)
        cc("PQ prekey signature verifies (§3.2)",
           verify_sig(bob.pub[:32], pq_msg(pqv["kind"], pqv["id"], pq_pub), pq_sig))
        other = PQ_LAST_RESORT if pqv["kind"] == PQ_ONE_TIME else PQ_ONE_TIME
        cc("PQ prekey signature does not verify with the other kind byte",
           not verify_sig(bob.pub[:32], pq_msg(other, pqv["id"], pq_pub), pq_sig))
        pq_enc = bytes([pqv["kind"]]) + u32(pqv["id"]) + bytes([KT_MLKEM768]) + pq_pub + pq_sig
        # ML-KEM itself, against the setup values
        m_kem = H(st["kem_encapsulation_m"])
        k_kem, c_kem = mlkem_encaps(pq_pub, m_kem)
        ck("ML-KEM-768 Encaps_internal(public, m) ciphertext", c_kem, H(st["kem_ciphertext"]))
        ck("ML-KEM-768 Encaps_internal(public, m) shared secret", k_kem, H(st["kem_shared_secret"]))
        ck("ML-KEM-768 Decaps recovers the shared secret", mlkem_decaps(dk_b, c_kem), k_kem)
        mangled = bytearray(c_kem)
        mangled[0] ^= 1
        k_bad = mlkem_decaps(dk_b, bytes(mangled))
        cc("ML-KEM-768 Decaps of a mangled ciphertext gives another secret (implicit rejection)",
           k_bad != k_kem)
        ck("implicit-rejection secret is J(z || c)", k_bad,
           hashlib.shake_256(H(pqv["seed_z"]) + bytes(mangled)).digest(32))
        x = _crypto_mlkem(H(pqv["seed_d"]) + H(pqv["seed_z"]), c_kem, bytes(mangled))
        if x is not None:
            ck("cryptography's ML-KEM-768 from the same seeds: public key", x[0], pq_pub)
            ck("cryptography's ML-KEM-768 decapsulates to the same secret", x[1], k_kem)
            ck("cryptography's ML-KEM-768 implicit rejection agrees", x[2], k_bad)
    else:
        cc("bundle has no PQ prekey", b["pq"] is None and not bundle[2] & F_PQ)
    ck("bundle re-encodes identically",
       bytes([1, 1, bundle[2]]) + bob.pub + u32(spk_id) + spk_pub + spk_sig + bytes([spk_caps])
       + (u32(opk["id"]) + H(opk["public"]) if opk else b"") + pq_enc, bundle)

    # setup (§5)
    msgs = v["messages"]
    ek_priv = H(st["base_key_private"])
    ck("base key public from private", x25519_pub(ek_priv), H(st["base_key_public"]))
    ck("first ratchet key = sender key of message 0", st["first_ratchet_key_private"],
       msgs[0]["sender_ratchet_private"])
    sa, first, derived = start_session(
        alice, bundle, context, H(msgs[0]["plaintext"]), ek_priv,
        H(st["first_ratchet_key_private"]),
        H(st["kem_encapsulation_m"]) if pqv else None, initiate_classic=classic,
        kem_draws=msgs[0].get("kem_draws"))
    ck("initiator session setup kind", derived["setup"], "Pqxdh" if pqv else "ClassicX3dh")
    # §6.9.1: the initiator runs the KEM ratchet when both signed prekeys sign 0x02
    runs_kem = bool(spk_caps & CAP_KEM)
    ck("initiator runs the KEM ratchet exactly when the bundle signs capability 0x02 (§6.9.1)",
       derived["kem"], runs_kem)
    ck("prekey message flag 0x04 (§4.4) set exactly with the KEM ratchet",
       bool(H(msgs[0]["bytes"])[2] & F_KEM), runs_kem)
    cc("kem_draws present (null or an object) on every message",
       all("kem_draws" in m for m in msgs))
    kt = KemTracker(c, tag)
    if pqv:
        ck("initiator KEM ciphertext", derived["CT"], H(st["kem_ciphertext"]))
        ck("initiator KEM shared secret SS", derived["SS"], H(st["kem_shared_secret"]))
    ck("initiator transcript hash T (§5.2)", derived["T"], H(st["transcript_hash"]))
    ck("initiator RK0 (§5.1)", derived["RK0"], H(st["root_key"]))
    ck("initiator CK0 (§5.1)", derived["CK0"], H(st["chain_key"]))
    ck("initiator session_ad (§5.3)", sa.session_ad, H(st["session_ad"]))
    ck("prefix length (§4.4)", len(sa.pending_prefix),
       (171 if opk else 167) + (5 + MLKEM_CT_LEN if pqv else 0))

    # conversation: message j is sent once sent_after_deliveries[j]
    # deliveries have happened (messages in list order)
    sessions = {"alice": sa, "bob": None}
    sent = 0
    ndel = len(v["deliveries"])
    sad = [m["sent_after_deliveries"] for m in msgs]
    cc("sent_after_deliveries is non-decreasing and within 0..%d" % ndel,
       all(0 <= a <= ndel for a in sad) and sad == sorted(sad) and sad[0] == 0)

    def send_upto(done):
        """Send every message whose sent_after_deliveries <= done."""
        nonlocal sent
        while sent < len(msgs) and msgs[sent]["sent_after_deliveries"] <= done:
            m = msgs[sent]
            rpriv = H(m["sender_ratchet_private"])
            s = sessions[m["from"]]
            if s is None:
                cc("message %d (%s): sender has a session when sending" % (sent, m["from"]), False)
                sent += 1
                continue
            try:
                if sent == 0:
                    out, newkey = first, True
                else:
                    out, newkey = s.encrypt(H(m["plaintext"]), rpriv, m.get("kem_draws"))
            except ProtoError as e:
                cc("message %d (%s) encrypts" % (sent, m["from"]), False, str(e))
                sent += 1
                continue
            ck("message %d (%s) sender ratchet private key is the session's" % (sent, m["from"]),
               s.our_priv, rpriv)
            ck("message %d (%s, after %d deliveries) bytes rebuilt (%s)" % (
                sent, m["from"], m["sent_after_deliveries"],
                "new ratchet key" if newkey else "same chain"), out, H(m["bytes"]))
            if s.kem is not None:
                kt.on_send(sent, m["from"], m, s)
            else:
                ck("message %d (%s): no KEM draws without the KEM ratchet" % (sent, m["from"]),
                   m.get("kem_draws"), None)
            sent += 1

    tampered = False
    for i, d in enumerate(v["deliveries"]):
        j = d["message"]
        send_upto(i)
        cc("delivery %d: message %d was sent before it is delivered" % (i, j), j < sent)
        m = msgs[j]
        cc("delivery %d: message %d goes from %s to the other party" % (i, j, m["from"]),
           d["to"] != m["from"] and d["to"] in ("alice", "bob"))
        data = H(m["bytes"])
        recv = sessions[d["to"]]
        if runs_kem and not tampered and recv is not None and data[1] == T_KEM_NORMAL:
            dm = decode_normal(data, T_KEM_NORMAL)
            if dm["chunk"] is not None:
                tampered = True
                check_kem_fields_authenticated(c, "%s: delivery %d (message %d)" % (tag, i, j),
                                               recv, dm)
        try:
            if d["to"] == "bob":
                pt, new = bob.receive(data, context)
                if new is not None:
                    sessions["bob"] = new
                    dv = bob.last_derived
                    if pqv:
                        ck("responder KEM shared secret on open (Decaps)", dv["SS"],
                           H(st["kem_shared_secret"]))
                    ck("responder T on open of message %d (§5.5)" % j, dv["T"], H(st["transcript_hash"]))
                    ck("responder RK0 on open (§5.1)", dv["RK0"], H(st["root_key"]))
                    ck("responder CK0 on open (§5.1)", dv["CK0"], H(st["chain_key"]))
                    ck("responder session_ad on open (§5.3)", new.session_ad, H(st["session_ad"]))
            else:
                pt = sessions["alice"].decrypt(data)
            ck("delivery %d: message %d to %s decrypts to the listed plaintext" % (i, j, d["to"]),
               pt, H(d["plaintext"]))
            ck("delivery %d: plaintext equals message %d's" % (i, j), d["plaintext"], m["plaintext"])
            if sessions[d["to"]] is not None and sessions[d["to"]].kem is not None:
                kt.on_delivery(i, d["to"], sessions[d["to"]])
        except ProtoError as e:
            cc("delivery %d: message %d to %s" % (i, j, d["to"]), False, "error %s" % e)
    send_upto(ndel)
    if runs_kem:
        ck("responder session runs the KEM ratchet (flag 0x04, §5.5 step 11)",
           sessions["bob"] is not None and sessions["bob"].kem is not None, True)
        cc("a KEM tampering check ran on a delivered message with a chunk", tampered)
        kt.finish()
    ck("every message sent", sent, len(msgs))
    cc("every message delivered exactly once",
       sorted(d["message"] for d in v["deliveries"]) == list(range(len(msgs))))

    # responder-side derivation, recomputed by a second open of message 0
    # on a fresh account (nothing consumed yet)
    fresh = Responder(v["bob"], allow_classic=classic)
    pend = fresh.open_first_message(H(msgs[0]["bytes"]), context)
    ck("responder transcript hash T (§5.5)", pend["derived"]["T"], H(st["transcript_hash"]))
    ck("responder RK0", pend["derived"]["RK0"], H(st["root_key"]))
    ck("responder CK0", pend["derived"]["CK0"], H(st["chain_key"]))
    ck("responder session_ad", pend["session"].session_ad, H(st["session_ad"]))
    ck("responder opens message 0 plaintext", pend["plaintext"], H(msgs[0]["plaintext"]))
    ck("responder session setup kind", pend["setup"], "Pqxdh" if pqv else "ClassicX3dh")
    if classic:
        c.raises("%s: classic first message refused by an account not allowing it (§5.7)" % tag,
                 lambda: Responder(v["bob"]).open_first_message(H(msgs[0]["bytes"]), context),
                 "ClassicSetupRefused")
        c.raises("%s: bundle without PQ prekey refused by an initiator that does not start "
                 "classic setups (Refuse or Accept, §5.7)"
                 % tag, lambda: start_session(alice, bundle, context, b"x", ek_priv,
                                              H(st["first_ratchet_key_private"])),
                 "MissingPqPreKey")
        with_cap = bundle[:231] + bytes([bundle[231] | CAP_PQ]) + bundle[232:]
        c.raises("%s: classic bundle with the PQ capability bit set refused (signed 0x00, "
                 "§3.3)" % tag,
                 lambda: start_session(alice, with_cap, context, b"x", ek_priv,
                                       H(st["first_ratchet_key_private"]), initiate_classic=True),
                 "BadSignedPreKeySignature")

    if pqv:
        ck("responder KEM shared secret (Decaps)", pend["derived"]["SS"], H(st["kem_shared_secret"]))
        # a mangled KEM ciphertext: implicit rejection gives another SS, so
        # other keys, so the inner message fails to authenticate
        bad0 = bytearray(H(msgs[0]["bytes"]))
        off = (171 if opk else 167) + 5 + 100
        bad0[off] ^= 0x01
        c.raises("%s: first message with a mangled KEM ciphertext refused" % tag,
                 lambda: Responder(v["bob"]).open_first_message(bytes(bad0), context),
                 "Message(AuthenticationFailed)")
        q = 171 if opk else 167
        # downgrade (§5.7): the PQ fields stripped from the first message
        m0 = H(msgs[0]["bytes"])
        stripped = m0[:2] + bytes([m0[2] & ~F_PQ]) + m0[3:q] + m0[q + 5 + MLKEM_CT_LEN:]
        c.raises("%s: first message with PQ fields stripped refused (classic not allowed)" % tag,
                 lambda: Responder(v["bob"]).open_first_message(stripped, context),
                 "ClassicSetupRefused")
        c.raises("%s: first message with PQ fields stripped fails to decrypt (classic allowed)"
                 % tag, lambda: Responder(v["bob"], allow_classic=True).open_first_message(
                     stripped, context), "Message(AuthenticationFailed)")
        for kb, want in ((PQ_LAST_RESORT if pqv["kind"] == PQ_ONE_TIME else PQ_ONE_TIME,
                          "UnknownPqPreKey"), (0x03, "UnknownPqPreKeyKind")):
            bk = bytearray(H(msgs[0]["bytes"]))
            bk[q] = kb
            c.raises("%s: first message naming PQ kind %#04x refused" % (tag, kb),
                     lambda: Responder(v["bob"]).open_first_message(bytes(bk), context), want)

    # canonical keys in every message; the prefix of every prekey message
    for j, m in enumerate(msgs):
        try:
            kind, dm = decode_message(H(m["bytes"]))
            if kind == "prekey":
                ck("message %d prefix is the initiator's pending prefix" % j, dm["prefix"],
                   H(msgs[0]["bytes"])[:len(dm["prefix"])])
                ck("message %d one-time prekey id" % j, dm["opk_id"], opk["id"] if opk else None)
                if pqv:
                    ck("message %d PQ kind, id" % j, (dm["pq"]["kind"], dm["pq"]["id"]),
                       (pqv["kind"], pqv["id"]))
                    ck("message %d KEM ciphertext is setup.kem_ciphertext" % j, dm["pq"]["ct"],
                       H(st["kem_ciphertext"]))
                else:
                    cc("message %d has no PQ part" % j, dm["pq"] is None)
            inner = dm["inner"] if kind == "prekey" else dm
            ck("message %d ratchet key canonical and matches sender_ratchet_private" % j,
               inner["ratchet_key"], x25519_pub(H(m["sender_ratchet_private"])))
        except ProtoError as e:
            cc("message %d decodes" % j, False, str(e))

    # replays after the conversation (§5.6, §6.5): must fail, change nothing
    for j, m in enumerate(msgs):
        to = "alice" if m["from"] == "bob" else "bob"
        if to == "bob":
            fn = lambda data=H(m["bytes"]): bob.receive(data, context)
        else:
            fn = lambda data=H(m["bytes"]): sessions["alice"].decrypt(data)
        c.raises("%s: replay of message %d to %s refused" % (tag, j, to), fn,
                 "DuplicateOrExpired")
    c.raises("%s: first message reopened after accept refused" % tag,
             lambda: bob.open_first_message(H(msgs[0]["bytes"]), context),
             "OneTimePreKeyUnavailable" if opk else "Replay")
    # a forgery at the next unused counter of Bob's current chain (§6.5 2.5):
    # AuthenticationFailed, and the state is exactly as before
    sb = sessions["bob"]
    before = copy.deepcopy(sb.__dict__)
    _, last = decode_message(H(msgs[-1]["bytes"]))
    last_kem = kem_header_split(last)[1]       # empty for type 0x03

    def forge(counter):
        return (bytes([WIRE_VERSION, last["type"]]) + last["ratchet_key"] + varint(last["pn"])
                + varint(counter) + last_kem + last["ct"])
    c.raises("%s: forged message (next counter) refused" % tag,
             lambda: sb.decrypt(forge(last["n"] + 1)), "AuthenticationFailed")
    cc("state unchanged after the failed decryption (§6.5)", sb.__dict__ == before)
    c.raises("%s: counter 0xFFFFFFFF refused (§6.7)" % tag,
             lambda: sb.decrypt(forge(0xFFFFFFFF)), "AuthenticationFailed")
    for bad in (bytes([0x80, 0x00]), bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x10]), bytes([0x80] * 5 + [0x01])):
        raw = bytes([WIRE_VERSION, T_NORMAL]) + last["ratchet_key"] + bad + varint(0) + last["ct"]
        c.raises("%s: non-canonical varint %s refused (§4.1)" % (tag, bad.hex()),
                 lambda raw=raw: decode_normal(raw), "NonCanonicalVarint")
    if runs_kem:
        check_kem_wire_rules(c, tag, H(msgs[0]["bytes"]), last, sb)
        # §6.9.1: a server cannot clear capability 0x02 (it is signed)
        no_kem_cap = bundle[:231] + bytes([bundle[231] & ~CAP_KEM]) + bundle[232:]
        c.raises("%s: bundle with capability 0x02 cleared refused (signed, §6.9.1)" % tag,
                 lambda: start_session(alice, no_kem_cap, context, b"x", ek_priv,
                                       H(st["first_ratchet_key_private"]),
                                       H(st["kem_encapsulation_m"]) if pqv else None),
                 "BadSignedPreKeySignature")
        # §6.9.1: an initiator from before the KEM ratchet (signs 0x01) does
        # not run it: no flag 0x04, inner message of type 0x03
        old_alice = dict(alice, caps=CAP_PQ)
        _, out_old, der_old = start_session(old_alice, bundle, context, H(msgs[0]["plaintext"]),
                                            ek_priv, H(st["first_ratchet_key_private"]),
                                            H(st["kem_encapsulation_m"]) if pqv else None)
        pm = decode_prekey(out_old)
        cc("an initiator signing 0x01 sends flag 0x04 clear and an inner type 0x03 (§6.9.1)",
           not der_old["kem"] and not pm["kem"] and pm["inner"]["type"] == T_NORMAL)
        pend_old = Responder(v["bob"]).open_first_message(out_old, context)
        cc("the responder opens it without the KEM ratchet (§6.9.1)",
           pend_old["session"].kem is None and pend_old["plaintext"] == H(msgs[0]["plaintext"]))

    # negative checks of the §1 / §3.2 rules on the vector's own data
    bad = bytearray(bob.pub)
    bad[100] ^= 1
    c.raises("%s: identity with a flipped binding bit refused" % tag,
             lambda: decode_identity(bytes(bad)), "BadIdentityBinding")
    s_plus_l = (int.from_bytes(bob.pub[96:128], "little") + L_ORDER).to_bytes(32, "little")
    cc("non-canonical S (S + l) refused by the pre-check (§3.2)",
       not verify_sig(bob.pub[:32], binding_msg(bob.pub[32:64]), bob.pub[64:96] + s_plus_l))
    hi = bytearray(bob.pub[32:64])
    hi[31] |= 0x80
    c.raises("%s: X25519 key with bit 255 set refused (§1)" % tag,
             lambda: check_x25519(bytes(hi)), "InvalidKey(NonCanonical)")
    c.raises("%s: bundle with trailing byte refused (§4.2)" % tag,
             lambda: decode_bundle(bundle + b"\x00"), "TrailingBytes")
    c.raises("%s: bundle with an undefined flag bit refused (§4.2)" % tag,
             lambda: decode_bundle(bundle[:2] + bytes([bundle[2] | 0x08]) + bundle[3:]),
             "UnknownFlags")
    for bit in (0x04, 0x80):
        d = decode_bundle(bundle[:231] + bytes([bundle[231] | bit]) + bundle[232:])
        c.eq("%s: a bundle with an unknown capabilities bit (%#04x) decodes, the bit kept (§3.3)"
             % (tag, bit), d["caps"], bundle[231] | bit)
        c.eq("%s: ... and, added on the way, breaks the signed prekey signature (§3.3)" % tag,
             verify_sig(bundle[3:35], spk_msg(d["spk_id"], d["spk"], d["caps"]), d["spk_sig"]), False)
    c.raises("%s: bundle truncated before the capabilities byte refused (§4.2)" % tag,
             lambda: decode_bundle(bytes([bundle[0], bundle[1], 0]) + bundle[3:231]),
             "Truncated")
    bad_spk_sig = bytearray(bundle)
    bad_spk_sig[200] ^= 1
    c.raises("%s: bundle with a flipped signed prekey signature bit refused (§5.4)" % tag,
             lambda: start_session(alice, bytes(bad_spk_sig), context, b"x", ek_priv,
                                   H(st["first_ratchet_key_private"]),
                                   H(st["kem_encapsulation_m"]) if pqv else None,
                                   initiate_classic=classic),
             "BadSignedPreKeySignature")
    if pqv:
        pq_off = 268 if opk else 232
        c.raises("%s: bundle truncated inside the PQ prekey refused" % tag,
                 lambda: decode_bundle(bundle[:-1]), "Truncated")
        wrong_kt = bytearray(bundle)
        wrong_kt[pq_off + 5] = KT_X25519
        c.raises("%s: bundle with key type 0x01 before the ML-KEM key refused (§4.2)" % tag,
                 lambda: decode_bundle(bytes(wrong_kt)), "UnknownKeyType")
        wrong_kind = bytearray(bundle)
        wrong_kind[pq_off] = 0x03
        c.raises("%s: bundle with PQ kind 0x03 refused (§4.2)" % tag,
                 lambda: decode_bundle(bytes(wrong_kind)), "UnknownPqPreKeyKind")
        big = bytearray(bundle)
        big[pq_off + 6:pq_off + 8] = b"\xff\x0f"           # first coefficient 0xfff >= q
        c.raises("%s: bundle with an ML-KEM key failing the modulus check refused (§1)" % tag,
                 lambda: decode_bundle(bytes(big)), "InvalidKey(InvalidKemKey)")
        bad_sig = bytearray(bundle)
        bad_sig[-10] ^= 1
        c.raises("%s: bundle with a flipped PQ prekey signature bit refused (§5.4)" % tag,
                 lambda: start_session(alice, bytes(bad_sig), context, b"x", ek_priv,
                                       H(st["first_ratchet_key_private"]),
                                       H(st["kem_encapsulation_m"])), "BadPqPreKeySignature")
        other_kind = bytearray(bundle)
        other_kind[pq_off] = PQ_LAST_RESORT if pqv["kind"] == PQ_ONE_TIME else PQ_ONE_TIME
        c.raises("%s: bundle with the other PQ kind byte refused (kind is signed, §3.5)" % tag,
                 lambda: start_session(alice, bytes(other_kind), context, b"x", ek_priv,
                                       H(st["first_ratchet_key_private"]),
                                       H(st["kem_encapsulation_m"])), "BadPqPreKeySignature")
        no_pq = bundle[:2] + bytes([bundle[2] & ~F_PQ]) + bundle[3:pq_off]
        for init in (False, True):
            c.raises("%s: bundle with the PQ prekey stripped refused (capability 0x01 signed, "
                     "§5.4 step 4, %s)" % (tag, "AcceptAndInitiate" if init else "Refuse"),
                     lambda: start_session(alice, no_pq, context, b"x", ek_priv,
                                           H(st["first_ratchet_key_private"]),
                                           initiate_classic=init), "PqPreKeyStripped")
        no_pq_no_cap = no_pq[:231] + bytes([no_pq[231] & ~CAP_PQ]) + no_pq[232:]
        c.raises("%s: bundle with the PQ prekey stripped and the capability bit cleared "
                 "refused (§5.4 step 3)" % tag,
                 lambda: start_session(alice, no_pq_no_cap, context, b"x", ek_priv,
                                       H(st["first_ratchet_key_private"]),
                                       initiate_classic=True), "PqPreKeyStripped")
        pq_no_cap = bundle[:231] + bytes([bundle[231] & ~CAP_PQ]) + bundle[232:]
        c.raises("%s: bundle with a PQ prekey but the capability bit cleared refused "
                 "(§5.4 step 3)" % tag,
                 lambda: start_session(alice, pq_no_cap, context, b"x", ek_priv,
                                       H(st["first_ratchet_key_private"]),
                                       H(st["kem_encapsulation_m"])),
                 "BadSignedPreKeySignature")
        if pqv["kind"] == PQ_LAST_RESORT:
            cc("last-resort PQ prekey kept after accept", (pqv["kind"], pqv["id"]) in bob.pqks)
        else:
            cc("one-time PQ prekey deleted on accept", (pqv["kind"], pqv["id"]) not in bob.pqks)

    if not runs_kem:
        check_upgrade(c, tag, sessions["alice"], sessions["bob"])

    # §7 safety number
    sn = safety_number(key_bytes(alice["pub"]), key_bytes(bob.pub))
    ck("safety number (§7)", sn, v["safety_number"])


def check_primitives(c):
    """§1 ChaCha20 (block counter 0) and §6.1 SIV, against RFC 8439."""
    H = bytes.fromhex
    # RFC 8439 Appendix A.1, test vector #1: key 0, nonce 0, block counter 0
    c.eq("primitives: ChaCha20 keystream, block counter 0 (RFC 8439 A.1 #1)",
         chacha20(bytes(32), bytes(12), bytes(64)),
         H("76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
           "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"))
    # RFC 8439 §2.8.2 encrypts with block counter 1: the same bytes come out
    # of ChaCha20 with counter 0 after one skipped block
    v = json.load(open(os.path.join(HERE, "rfc", "rfc8439_chacha20poly1305.json")))["cases"][0]
    c.eq("primitives: ChaCha20 block 1 = RFC 8439 §2.8.2 ciphertext (counter 1)",
         chacha20(H(v["key"]), H(v["nonce"]), bytes(64) + H(v["plaintext"]))[64:],
         H(v["ciphertext"]))
    ek, mk, ad, pt = bytes(range(32)), bytes(range(32, 64)), b"ad", b"plaintext"
    sealed = siv_seal(ek, mk, ad, pt)
    c.eq("primitives: SIV-Seal output = ChaCha20(ek, iv[0..12], pt) || iv, "
         "iv = HMAC(mk, u64(len(ad)) || ad || pt)[0..16]", sealed,
         chacha20(ek, hmac256(mk, u64(2) + ad + pt)[:12], pt) + hmac256(mk, u64(2) + ad + pt)[:16])
    c.eq("primitives: SIV-Open(SIV-Seal) round trip", siv_open(ek, mk, ad, sealed), pt)
    c.raises("primitives: SIV-Open with another ad fails", lambda: siv_open(ek, mk, b"ae", sealed),
             "AuthenticationFailed")
    c.raises("primitives: SIV-Open of fewer than 16 bytes fails",
             lambda: siv_open(ek, mk, ad, sealed[:15]), "AuthenticationFailed")


def run_group_file(c, fname):
    """§12 and §11's paragraph on group_sender_keys.json."""
    tag = fname.replace(".json", "")
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    ck = lambda name, *a: c.eq("%s: %s" % (tag, name), *a)
    cc = lambda name, *a: c.check("%s: %s" % (tag, name), *a)
    raises = lambda name, fn, want: c.raises("%s: %s" % (tag, name), fn, want)

    ck("wire_version", v["wire_version"], WIRE_VERSION)
    gid = H(v["group_id"])
    cc("group id at most 64 bytes (§12.1)", len(gid) <= MAX_GROUP_ID_LEN)
    seed = H(v["signing_key_seed"])
    spub = H(v["signing_key_public"])
    sid = H(v["state_id"])
    ck("signing key public from seed (Ed25519)", ed_pub(seed), spub)
    ck("state id = SHA-256(label || signing key)[0..16] (§12.3)", state_id_of(spub), sid)

    # §12.5 the distribution at index 0
    dist = H(v["distribution"])
    r = decode_record(dist, T_DISTRIBUTION)
    cc("distribution decodes (§12.5)", True)
    ck("distribution group id", r["group_id"], gid)
    ck("distribution state id", r["state_id"], sid)
    ck("distribution state id derived from its signing key", state_id_of(r["signing_key"]),
       r["state_id"])
    ck("distribution signing key", r["signing_key"], spub)
    owner = r["owner"]
    cc("distribution owner id is at most 256 bytes and not empty", 0 < len(owner) <= 256)
    cc("owner signature verifies (§12.5, §3.2 rule)",
       verify_sig(spub, owner_msg(gid, sid, owner), r["owner_sig"]))
    cc("owner signature also verifies with cryptography (cofactorless)",
       _crypto_verify(spub, owner_msg(gid, sid, owner), r["owner_sig"]))
    ck("owner signature recomputed from signing_key_seed", ed_sign(seed, owner_msg(gid, sid, owner)),
       r["owner_sig"])
    cc("owner signature does not verify for another owner id",
       not verify_sig(spub, owner_msg(gid, sid, owner + b"x"), r["owner_sig"]))
    ck("distribution at index 0 has one node, the root (0, 0)",
       [(d, p) for d, p, _ in r["nodes"]], [(0, 0)])
    ck("distribution at index 0 has no closure", r["closure"], None)
    ck("distribution length 157 + g + o (§12.5)", len(dist), 157 + len(gid) + len(owner))
    root = r["nodes"][0][2]
    ck("distribution re-encodes identically", encode_record(
        T_DISTRIBUTION, gid, sid, spub, owner, r["owner_sig"], [(0, 0, root)]), dist)

    # §12.2 tree sanity on the root: children, leaves by descent
    left, right = tree_children(0, 0, root)
    ck("left child = HMAC(K, tree-left)", left[2], hmac256(root, L_TREE_LEFT))
    ck("right child = HMAC(K, tree-right)", right[2], hmac256(root, L_TREE_RIGHT))
    ck("leaf of index 5 by Descend = by following the bits of 5",
       descend([(0, 0, root)], 5)[1], node_key_from(0, 0, root, 32, 5))
    ck("Descend(5) from the root leaves 32 siblings", len(descend([(0, 0, root)], 5)[2]), 32)

    # §12.3 / §12.4 sender side: Alice's state from the root, messages in order
    msgs = v["messages"]
    cover = [(0, 0, root)]
    leaves = {}
    for j, m in enumerate(msgs):
        i = node_first(cover[0][0], cover[0][1])       # the lowest index the cover holds
        ck("message %d index is the lowest index the sender's cover holds" % j, m["index"], i)
        pos, leaf, sibs = descend(cover, i)
        leaves[i] = leaf
        ck("message %d leaf = the root's leaf of index %d (§12.2)" % (j, i), leaf,
           node_key_from(0, 0, root, 32, i))
        ek, mk, commitment = group_message_keys(leaf, gid, sid, i)
        ck("message %d key commitment = HKDF-Expand(leaf, info, 96)[64..96] (§12.3)" % j,
           commitment, H(m["commitment"]))
        out, _ = encode_group_message(gid, sid, i, leaf, H(m["plaintext"]), seed)
        ck("message %d bytes rebuilt (SIV-Seal, signature over the digest with the "
           "commitment, §12.4)" % j, out, H(m["bytes"]))
        ck("message %d length = header + 80 + plaintext (§12.4)" % j, len(H(m["bytes"])),
           2 + STATE_ID_LEN + len(varint(i)) + 80 + len(H(m["plaintext"])))
        cover = puncture(cover, pos, sibs)
    cc("sender's cover after %d messages is the cover of [%d, 2^32 - 1] (§12.2)"
       % (len(msgs), len(msgs)), cover_holds_exactly(cover, len(msgs), LAST_INDEX))

    # message-level checks on the bytes themselves
    for j, m in enumerate(msgs):
        dm = decode_group_message(H(m["bytes"]))
        ck("message %d decodes: state id" % j, dm["state_id"], sid)
        ck("message %d decodes: index" % j, dm["index"], m["index"])
        com = H(m["commitment"])
        cc("message %d signature verifies over label || SHA-256(G || header || ct || "
           "commitment)" % j,
           verify_sig(spub, group_signed_msg(gid, dm["header"], dm["ct"], com), dm["sig"]))
        cc("message %d signature also verifies with cryptography (cofactorless)" % j,
           _crypto_verify(spub, group_signed_msg(gid, dm["header"], dm["ct"], com), dm["sig"]))
        cc("message %d signature does not verify without the commitment" % j,
           not verify_sig(spub, L_SIG_GROUP_MSG + sha256(group_g(gid) + dm["header"] + dm["ct"]),
                          dm["sig"]))
        ek, mk, _ = group_message_keys(leaves[dm["index"]], gid, sid, dm["index"])
        ck("message %d SIV-Open with ad = G || header" % j,
           siv_open(ek, mk, group_g(gid) + dm["header"], dm["ct"]), H(m["plaintext"]))
        raises("message %d SIV-Open refuses ad without G" % j,
               lambda dm=dm, ek=ek, mk=mk: siv_open(ek, mk, dm["header"], dm["ct"]),
               "AuthenticationFailed")

    # §12.4 receiver side: Bob takes the distribution from its owner and
    # reads the messages in the order of `reads`
    bob = GroupReceiver(gid, [owner])
    raises("distribution from a member that is not its owner refused (§12.5 step 5)",
           lambda: GroupReceiver(gid, [owner, b"mallory"]).receive_distribution(b"mallory", dist),
           "StateOwnedByAnotherMember")
    raises("distribution from a non-member refused (§12.5 step 4)",
           lambda: GroupReceiver(gid, [b"carol"]).receive_distribution(owner, dist), "NotAMember")
    raises("distribution for another group refused (§12.5 step 2)",
           lambda: GroupReceiver(gid + b"x", [owner]).receive_distribution(owner, dist),
           "WrongGroup")
    st = bob.receive_distribution(owner, dist)
    cc("distribution taken in: a verified state starting at 0",
       st is not None and st["verified"] and st["start"] == 0)
    for k, rd in enumerate(v["reads"]):
        j = rd["message"]
        ck("read %d: plaintext listed is message %d's" % (k, j), rd["plaintext"],
           msgs[j]["plaintext"])
        try:
            pt, frm, verified = bob.decrypt(H(msgs[j]["bytes"]))
            ck("read %d: message %d decrypts to the listed plaintext" % (k, j), pt,
               H(rd["plaintext"]))
            cc("read %d: sender is the owner, verified" % k, frm == owner and verified)
        except ProtoError as e:
            cc("read %d: message %d" % (k, j), False, "error %s" % e)
    cc("every message read exactly once",
       sorted(rd["message"] for rd in v["reads"]) == list(range(len(msgs))))
    for j, m in enumerate(msgs):
        raises("replay of message %d refused (§12.4 step 5)" % j,
               lambda m=m: bob.decrypt(H(m["bytes"])), "Duplicate")
    cc("Bob's cover after the reads is the cover of [6, 2^32 - 1]",
       cover_holds_exactly(st["cover"], 6, LAST_INDEX))

    # forgeries / another key (transactional: nothing changes)
    before = copy.deepcopy(bob.members)
    m0 = H(msgs[0]["bytes"])
    fresh = GroupReceiver(gid, [owner])
    fresh.receive_distribution(owner, dist)
    bad_ct = bytearray(m0)
    bad_ct[2 + STATE_ID_LEN + 1] ^= 1
    raises("message with a flipped ciphertext bit refused (BadSignature)",
           lambda: fresh.decrypt(bytes(bad_ct)), "BadSignature")
    other_root = GroupReceiver(gid, [owner])
    other_root.receive_distribution(owner, dist)
    other_root.members[owner]["states"][0]["cover"] = [(0, 0, sha256(root))]
    raises("message read with another root key refused: the commitment differs (§12.4)",
           lambda: other_root.decrypt(m0), "BadSignature")
    raises("message naming an unknown state refused",
           lambda: fresh.decrypt(m0[:2] + bytes(16) + m0[18:]), "UnknownSenderState")
    raises("message with fewer than 16 ciphertext bytes refused",
           lambda: fresh.decrypt(m0[:19] + m0[-64:]), "Decode(Truncated)")
    raises("message with a non-minimal index varint refused",
           lambda: fresh.decrypt(m0[:18] + b"\x80\x00" + m0[19:]), "Decode(NonCanonicalVarint)")
    ck("fresh receiver still reads message 0 after the failures", fresh.decrypt(m0)[0],
       H(msgs[0]["plaintext"]))
    cc("Bob's state unchanged by the failed replays", bob.members == before)

    # §12.5 decoding checks on the distribution
    raises("distribution with trailing byte refused", lambda: decode_record(dist + b"\x00",
           T_DISTRIBUTION), "TrailingBytes")
    raises("distribution with an undefined flag bit refused",
           lambda: decode_record(dist[:-1] + b"\x02", T_DISTRIBUTION), "UnknownFlags")
    raises("distribution whose state id is not derived from its key refused",
           lambda: decode_record(dist[:3 + len(gid)] + bytes(16) + dist[19 + len(gid):],
                                 T_DISTRIBUTION), "InvalidStateId")
    raises("distribution decoded as an export refused (type byte)",
           lambda: decode_record(dist, T_EXPORT), "WrongType{expected:0x06}")
    node0 = 119 + len(gid) + len(owner)                 # §12.5: the first node's depth byte
    bad_tree = dist[:node0] + bytes([33]) + dist[node0 + 1:]
    raises("distribution with a node of depth 33 refused when taken in (§12.5)",
           lambda: GroupReceiver(gid, [owner]).receive_distribution(owner, bad_tree),
           "Decode(InvalidKeyTree)")

    # §12.5 the export from index 3, after the reads
    exp = H(v["export_from_3_after_reads"])
    e = decode_record(exp, T_EXPORT)
    cc("export decodes (§12.5)", True)
    ck("export type byte", exp[1], T_EXPORT)
    ck("export group id, state id, signing key, owner",
       (e["group_id"], e["state_id"], e["signing_key"], e["owner"]), (gid, sid, spub, owner))
    ck("export carries the owner signature received", e["owner_sig"], r["owner_sig"])
    ck("export has no closure (flags 0)", e["closure"], None)
    cc("export node list is a valid cover (§12.5)", valid_key_tree(e["nodes"]))
    cc("export holds keys exactly for indices 6 .. 2^32 - 1 (none for 3..5)",
       cover_holds_exactly(e["nodes"], 6, LAST_INDEX))
    cc("export holds no node reaching below index 6",
       all(node_first(d, p) >= 6 for d, p, _ in e["nodes"]))
    cc("every export node key equals the root's key for that node (same leaves as the root)",
       all(k == node_key_from(0, 0, root, d, p) for d, p, k in e["nodes"]))
    for i in (6, 7, 8, 100, 2**31, LAST_INDEX):
        got = descend(e["nodes"], i)
        ck("export's leaf of index %d = the root's (Descend, §12.2)" % i,
           got[1] if got else None, node_key_from(0, 0, root, 32, i))
    cc("export holds no key for indices 0..5 (Descend finds no node)",
       all(descend(e["nodes"], i) is None for i in range(6)))
    ck("export node count = 1 + zero bits of 6 above its lowest 1 bit (§12.2)",
       len(e["nodes"]), 30)
    ck("export length 120 + g + o + 37n (§12.5)", len(exp),
       120 + len(gid) + len(owner) + 37 * len(e["nodes"]))
    ck("export rebuilt from Bob's receiver state (export_sender_state(owner, 3))",
       bob.export_sender_state(owner, 3), exp)
    raises("export with flag bit 0 (a closure) refused",
           lambda: decode_record(exp[:-1] + b"\x01", T_EXPORT), "UnknownFlags")
    carol = GroupReceiver(gid, [owner])
    ist = carol.import_sender_state(owner, exp)
    cc("imported state is unverified and starts at 6",
       ist is not None and not ist["verified"] and ist["start"] == 6)
    for j in (0, 3, 5):
        raises("imported state refuses message %d (BeforeStateStart)" % j,
               lambda j=j: carol.decrypt(H(msgs[j]["bytes"])), "BeforeStateStart")

    # rotation (§12.5 closures, §12.6)
    rot = v["rotation"]
    rsid, rpub = H(rot["state_id"]), H(rot["signing_key_public"])
    ck("new state id derived from its signing key (§12.3)", state_id_of(rpub), rsid)
    cc("new state id differs from the first", rsid != sid)
    rdist = H(rot["distribution"])
    rr = decode_record(rdist, T_DISTRIBUTION)
    cc("new distribution decodes", True)
    ck("new distribution group id, state id, signing key, owner",
       (rr["group_id"], rr["state_id"], rr["signing_key"], rr["owner"]), (gid, rsid, rpub, owner))
    cc("new owner signature verifies",
       verify_sig(rpub, owner_msg(gid, rsid, owner), rr["owner_sig"]))
    ck("new distribution has one node, the root (0, 0)",
       [(d, p) for d, p, _ in rr["nodes"]], [(0, 0)])
    ck("new distribution's closure names the first state with last index 5",
       rr["closure"], (sid, 5))
    ck("new distribution length 157 + g + o + 20 (§12.5)", len(rdist),
       157 + len(gid) + len(owner) + 20)
    ck("new distribution re-encodes identically", encode_record(
        T_DISTRIBUTION, gid, rsid, rpub, owner, rr["owner_sig"], rr["nodes"], rr["closure"]),
       rdist)
    old = H(rot["old_state_message_after_close"])
    od = decode_group_message(old)
    ck("old-state message names the first state", od["state_id"], sid)
    ck("old-state message index is 6", od["index"], 6)
    cc("old-state message index 6 > the closure's last index 5", od["index"] > rr["closure"][1])
    # it is genuine: the first state's key and leaf open it before the closure
    probe = copy.deepcopy(bob)
    try:
        pt_old, _, _ = probe.decrypt(old)
        cc("old-state message is genuine: Bob reads it before the closure (%r)" % pt_old, True)
    except ProtoError as ex:
        cc("old-state message is genuine: Bob reads it before the closure", False, str(ex))
    nst = bob.receive_distribution(owner, rdist)
    cc("new state taken in, verified, first in the member's list",
       nst is not None and nst["verified"] and bob.members[owner]["states"][0] is nst)
    ck("first state closed at last index 5", st["last"], 5)
    ck("first state holds no key after the closure", st["cover"], [])
    try:
        pt, frm, verified = bob.decrypt(H(rot["message"]))
        ck("new state's message decrypts to the listed plaintext", pt, H(rot["plaintext"]))
        cc("new state's message from the owner, verified", frm == owner and verified)
    except ProtoError as ex:
        cc("new state's message decrypts", False, str(ex))
    nm = decode_group_message(H(rot["message"]))
    ck("new state's message names the new state at index 0", (nm["state_id"], nm["index"]),
       (rsid, 0))
    raises("old-state message after the closure refused (StateClosed, §12.4 step 5)",
           lambda: bob.decrypt(old), "StateClosed")
    # the closure applies also when the successor's distribution comes first (§12.5 step 9)
    late = GroupReceiver(gid, [owner])
    late.receive_distribution(owner, rdist)
    late.receive_distribution(owner, dist)
    ck("first state taken in after its successor is closed at once at 5",
       late.members[owner]["states"][0]["last"], 5)
    ck("... and still reads message 5", late.decrypt(H(msgs[5]["bytes"]))[0],
       H(msgs[5]["plaintext"]))
    raises("... and refuses the old-state message at 6", lambda: late.decrypt(old), "StateClosed")


def _crypto_mlkem(seed64, c, c_bad):
    """(public key, Decaps(c), Decaps(c_bad)) from `cryptography`'s ML-KEM-768,
    or None when this version of `cryptography` has no ML-KEM."""
    try:
        from cryptography.hazmat.primitives.asymmetric import mlkem
        sk = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed64)
        return (sk.public_key().public_bytes_raw(), sk.decapsulate(c), sk.decapsulate(c_bad))
    except (ImportError, AttributeError, UnsupportedAlgorithm):
        return None


def _crypto_verify(a, m, sig):
    try:
        Ed25519PublicKey.from_public_bytes(a).verify(sig, m)
        return True
    except InvalidSignature:
        return False


MAX_RECEIPT_IDS = 32


def read_content(b):
    """§13.6: (content name, fields) of a decrypted 1:1 plaintext, or
    ("unknown", None)."""
    if not b:
        return ("unknown", None)
    t, body = b[0], b[1:]
    if t == 0x00:
        return ("message", {"body": body})
    if t == 0x01:
        return ("group_keys", {"body": body})
    if t == 0x02:
        return ("group_key_request", {"group_id": body})
    if t == 0x03 and not body:
        return ("heal", {})
    if t == 0x04 and len(body) >= 8:
        ids_bytes = body[8:]
        n = len(ids_bytes) // 36
        if len(ids_bytes) % 36 == 0 and 1 <= n <= MAX_RECEIPT_IDS:
            ids = [(ids_bytes[36 * i:36 * i + 32], rd32(ids_bytes, 36 * i + 32)) for i in range(n)]
            return ("retry_receipt", {"at": int.from_bytes(body[:8], "big"), "ids": ids})
    if t == 0x05 and len(body) >= 37 and body[36] in (0x00, 0x09):
        return ("resend", {"id": (body[:32], rd32(body, 32)), "original": body[36:]})
    if t == 0x09 and body and len(body) >= 1 + body[0]:
        return ("transcript", {"user": body[1:1 + body[0]], "envelope": body[1 + body[0]:]})
    if t == 0x08 and len(body) == 8:
        return ("resync", {"at": int.from_bytes(body, "big")})
    if t in (0x06, 0x07) and body and body[0] <= 64 and len(body) >= 1 + body[0]:
        group_id, rest = body[1:1 + body[0]], body[1 + body[0]:]
        if t == 0x06 and len(rest) >= 8:
            ids_bytes = rest[8:]
            n = len(ids_bytes) // 20
            if len(ids_bytes) % 20 == 0 and 1 <= n <= MAX_RECEIPT_IDS:
                ids = [(ids_bytes[20 * i:20 * i + 16], rd32(ids_bytes, 20 * i + 16)) for i in range(n)]
                return ("group_retry_receipt", {"group_id": group_id, "at": int.from_bytes(rest[:8], "big"), "ids": ids})
        if t == 0x07 and len(rest) >= 20:
            return ("group_resend", {"group_id": group_id, "id": (rest[:16], rd32(rest, 16)), "plaintext": rest[20:]})
    return ("unknown", None)


def run_content_file(c, fname):
    """§13.6-§13.10: content bytes built from their fields, and bodies that
    read as an unknown content type."""
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    for n, e in enumerate(v["valid"]):
        kind, want = e["content"], H(e["bytes"])
        if kind in ("message", "group_keys"):
            built = bytes([0x00 if kind == "message" else 0x01]) + H(e["body"])
        elif kind == "group_key_request":
            built = b"\x02" + H(e["group_id"])
        elif kind == "heal":
            built = b"\x03"
        elif kind == "retry_receipt":
            built = b"\x04" + u64(e["at"]) + b"".join(H(i["ratchet_key"]) + u32(i["counter"]) for i in e["ids"])
        elif kind == "resend":
            built = b"\x05" + H(e["id"]["ratchet_key"]) + u32(e["id"]["counter"]) + H(e["original"])
        elif kind == "resync":
            built = b"\x08" + u64(e["at"])
        elif kind == "transcript":
            user = e["user"].encode()
            built = b"\x09" + bytes([len(user)]) + user + H(e["envelope"])
        elif kind == "group_retry_receipt":
            g = H(e["group_id"])
            built = (b"\x06" + bytes([len(g)]) + g + u64(e["at"])
                     + b"".join(H(i["state_id"]) + u32(i["index"]) for i in e["ids"]))
        elif kind == "group_resend":
            g = H(e["group_id"])
            built = b"\x07" + bytes([len(g)]) + g + H(e["id"]["state_id"]) + u32(e["id"]["index"]) + H(e["plaintext"])
        else:
            built = None
        c.eq("%s: valid[%d] %s built from its fields" % (fname, n, kind), built, want)
        c.eq("%s: valid[%d] reads as %s" % (fname, n, kind), read_content(want)[0], kind)
    for n, b in enumerate(v["unknown"]):
        c.eq("%s: unknown[%d] reads as an unknown type" % (fname, n), read_content(H(b))[0], "unknown")


# ------------------------------------------------- §13.12 content envelope
ENVELOPE_KINDS = {"text": 1, "payload": 2, "edit": 3, "delete": 4, "reaction": 5, "receipt": 6, "timer": 7,
                  "attachment": 8}


def build_kind(content):
    """kind byte || body of a content (§13.12), from its JSON fields."""
    H = bytes.fromhex
    k = content["kind"]
    if k == "text":
        return b"\x01" + content["text"].encode()
    if k == "payload":
        name = content["type"].encode()
        return b"\x02" + bytes([len(name)]) + name + H(content["bytes"])
    if k == "edit":
        return b"\x03" + H(content["target"]) + build_kind(content["content"])
    if k == "delete":
        return b"\x04" + H(content["target"])
    if k == "reaction":
        return b"\x05" + H(content["target"]) + bytes([1 if content["remove"] else 0]) + content["emoji"].encode()
    if k == "receipt":
        return b"\x06" + bytes([1 if content["receipt"] == "read" else 0]) + b"".join(H(i) for i in content["ids"])
    if k == "timer":
        return b"\x07" + u32(content["version"])
    if k == "attachment":
        return b"\x08" + encode_pointer(pointer_of(content))
    if k == "unknown":
        return bytes([content["kind_byte"]]) + H(content["body"])
    raise ValueError(k)


def utf8(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_kind(b, timer):
    """The content of kind || body as a JSON-like dict, or None if a known
    kind's body is malformed."""
    if not b:
        return None
    k, body = b[0], b[1:]
    if k == 1:
        text = utf8(body)
        return None if text is None else {"kind": "text", "text": text}
    if k == 2:
        if not body or len(body) < 1 + body[0] or body[0] > 64:
            return None
        name = utf8(body[1:1 + body[0]])
        return None if name is None else {"kind": "payload", "type": name, "bytes": body[1 + body[0]:].hex()}
    if k == 3:
        if len(body) < 17 or body[16] not in (1, 2):
            return None
        inner = read_kind(body[16:], timer)
        return None if inner is None else {"kind": "edit", "target": body[:16].hex(), "content": inner}
    if k == 4:
        return {"kind": "delete", "target": body.hex()} if len(body) == 16 else None
    if k == 5:
        if len(body) < 17 or body[16] not in (0, 1) or not 1 <= len(body) - 17 <= 64:
            return None
        emoji = utf8(body[17:])
        if emoji is None:
            return None
        return {"kind": "reaction", "target": body[:16].hex(), "emoji": emoji, "remove": body[16] == 1}
    if k == 6:
        if not body or body[0] not in (0, 1):
            return None
        ids = body[1:]
        if len(ids) % 16 or not 1 <= len(ids) // 16 <= 100:
            return None
        return {"kind": "receipt", "receipt": "read" if body[0] else "delivered",
                "ids": [ids[16 * i:16 * i + 16].hex() for i in range(len(ids) // 16)]}
    if k == 7:
        return {"kind": "timer", "seconds": timer, "version": rd32(body, 0)} if len(body) == 4 else None
    if k == 8:
        try:
            ptr = decode_pointer(body)
        except ProtoError:  # MalformedPointer: the envelope is MalformedContent
            return None
        return dict(kind="attachment", **pointer_json(ptr))
    return {"kind": "unknown", "kind_byte": k, "body": body.hex()}


def read_envelope(b):
    if len(b) < 29:
        return None
    timer = rd32(b, 24)
    content = read_kind(b[28:], timer)
    if content is None:
        return None
    return {"id": b[:16].hex(), "sent_at": int.from_bytes(b[16:24], "big"), "timer": timer, "content": content}


def padme(n):
    e = n.bit_length() - 1
    s_ = e.bit_length() - 1 + 1
    mask = (1 << (e - s_)) - 1
    return (n + mask) & ~mask


def padded_len(policy, cap, length):
    """§13.13 from its text."""
    n = length + 1
    if policy == "off":
        return n
    big = max(n, 64)
    if policy == "padme":
        return padme(big)
    c = 1 << (max(cap, 64) - 1).bit_length()
    if big <= c:
        return 1 << (big - 1).bit_length()
    return -(-big // c) * c


def unpad(b):
    end = len(b)
    while end and b[end - 1] == 0:
        end -= 1
    if not end or b[end - 1] != 0x80:
        return None
    return b[:end - 1]


def run_envelope_file(c, fname):
    """§13.12-§13.13: envelopes rebuilt from their fields and read back,
    malformed ones refused, padded lengths and bytes, bad padding refused."""
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    for n, e in enumerate(v["envelopes"]):
        built = H(e["id"]) + u64(e["sent_at"]) + u32(e["timer"]) + build_kind(e["content"])
        c.eq("%s: envelopes[%d] built from its fields" % (fname, n), built.hex(), e["bytes"])
        want = {"id": e["id"], "sent_at": e["sent_at"], "timer": e["timer"], "content": e["content"]}
        c.eq("%s: envelopes[%d] reads back" % (fname, n), read_envelope(H(e["bytes"])), want)
    for n, b in enumerate(v["malformed"]):
        c.eq("%s: malformed[%d] refused" % (fname, n), read_envelope(H(b)), None)
    for n, p in enumerate(v["padded_lengths"]):
        c.eq("%s: padded_lengths[%d] %s cap %d len %d" % (fname, n, p["policy"], p["cap"], p["len"]),
             padded_len(p["policy"], p["cap"], p["len"]), p["padded_len"])
    for n, p in enumerate(v["padded"]):
        plain = H(p["plaintext"])
        built = plain + b"\x80" + bytes(padded_len(p["policy"], 0, len(plain)) - len(plain) - 1)
        c.eq("%s: padded[%d] built" % (fname, n), built.hex(), p["padded"])
        c.eq("%s: padded[%d] unpads" % (fname, n), unpad(H(p["padded"])), plain)
    for n, b in enumerate(v["unpad_refused"]):
        c.eq("%s: unpad_refused[%d]" % (fname, n), unpad(H(b)), None)

# ---------------------------------------------------------------- §4.6-§4.7 uploads
class Rd:
    """A cursor that raises Truncated past the end."""

    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, n):
        if self.o + n > len(self.b):
            raise ProtoError("Truncated")
        out = self.b[self.o:self.o + n]
        self.o += n
        return out

    def int(self, n):
        return int.from_bytes(self.take(n), "big")

    def end(self):
        if self.o != len(self.b):
            raise ProtoError("TrailingBytes")


def read_pq_field(r, want_kind):
    """§4.2 PQ prekey field; its kind must be want_kind (§4.6, §4.7)."""
    kind = r.int(1)
    if kind not in (PQ_ONE_TIME, PQ_LAST_RESORT):
        raise ProtoError("UnknownPqPreKeyKind")
    pq_id = r.int(4)
    if r.int(1) != KT_MLKEM768:
        raise ProtoError("UnknownKeyType")
    ek = r.take(MLKEM_EK_LEN)
    if not mlkem_ek_check(ek):
        raise ProtoError("InvalidKey(InvalidKemKey)")
    sig = r.take(64)
    if kind != want_kind:
        raise ProtoError("UnexpectedPqPreKeyKind")
    return dict(kind=kind, id=pq_id, key=ek, sig=sig)


def read_link_field(r, ident):
    """u16 len || device link statement (§13.14), about identity `ident`."""
    n = r.int(2)
    raw = r.take(n)
    fields, _, _ = decode_device_link(raw)
    if fields["identity"] != ident:
        raise ProtoError("LinkMismatch")
    return raw


def decode_identity_upload(b):
    """§4.6: returns the fields; signatures are checked by verify_identity_upload."""
    check_header(b, T_IDENTITY_UPLOAD)
    r = Rd(b)
    r.take(2)
    flags = r.int(1)
    if flags & ~0x03:
        raise ProtoError("UnknownFlags")
    ident = r.take(128)
    decode_identity(ident)
    at = r.int(8)
    spk_id = r.int(4)
    spk = check_x25519(r.take(32))
    spk_sig = r.take(64)
    caps = r.int(1)                        # unknown bits kept and ignored (§3.3)
    pq = read_pq_field(r, PQ_LAST_RESORT) if flags & 0x01 else None
    link = read_link_field(r, ident) if flags & 0x02 else None
    body_end = r.o
    sig = r.take(64)
    r.end()
    return dict(identity=ident, at=at, spk_id=spk_id, spk=spk, spk_sig=spk_sig, caps=caps, pq=pq,
                link=link, body=b[:body_end], sig=sig)


def verify_identity_upload(u):
    """§4.6 order: signed prekey, PQ prekey, PQ presence, upload signature.
    Returns None or the failing part / error name."""
    ed = u["identity"][:32]
    if not verify_sig(ed, spk_msg(u["spk_id"], u["spk"], u["caps"]), u["spk_sig"]):
        return "signed prekey"
    pq = u["pq"]
    if pq is not None and not verify_sig(ed, pq_msg(pq["kind"], pq["id"], pq["key"]), pq["sig"]):
        return "last-resort PQ prekey"
    if pq is None and u["caps"] & CAP_PQ:
        return "MissingPqPreKey"
    if pq is not None and not u["caps"] & CAP_PQ:
        return "UnexpectedPqPreKey"
    if not verify_sig(ed, L_SIG_UPLOAD + u["body"], u["sig"]):
        return "identity upload"
    return None


def decode_prekey_batch(b):
    """§4.7: counts checked before entries, ids rising, kinds one-time."""
    check_header(b, T_PREKEY_BATCH)
    r = Rd(b)
    r.take(2)
    ident = r.take(128)
    decode_identity(ident)
    n = r.int(2)
    if n > MAX_ONE_TIME_PREKEYS:
        raise ProtoError("TooLong")
    one_time, last = [], None
    for _ in range(n):
        k_id = r.int(4)
        key = check_x25519(r.take(32))
        if last is not None and k_id <= last:
            raise ProtoError("PreKeysOutOfOrder")
        one_time.append((k_id, key))
        last = k_id
    m = r.int(2)
    if m > MAX_PQ_ONE_TIME_PREKEYS:
        raise ProtoError("TooLong")
    pq, last = [], None
    for _ in range(m):
        k = read_pq_field(r, PQ_ONE_TIME)
        if last is not None and k["id"] <= last:
            raise ProtoError("PreKeysOutOfOrder")
        pq.append(k)
        last = k["id"]
    body_end = r.o
    sig = r.take(64)
    r.end()
    return dict(identity=ident, one_time=one_time, pq=pq, body=b[:body_end], sig=sig)


def verify_prekey_batch(bt):
    ed = bt["identity"][:32]
    for k in bt["pq"]:
        if not verify_sig(ed, pq_msg(k["kind"], k["id"], k["key"]), k["sig"]):
            return "one-time PQ prekey"
    if not verify_sig(ed, L_SIG_BATCH + bt["body"], bt["sig"]):
        return "prekey batch"
    return None


def build_identity(sec):
    """§4.1 public identity from the two secrets (Ed25519 signing is deterministic)."""
    H = bytes.fromhex
    seed, xp = H(sec["identity_ed25519_private"]), H(sec["identity_x25519_private"])
    x = x25519_pub(xp)
    return seed, ed_pub(seed) + x + ed_sign(seed, binding_msg(x))


def build_pq_field(seed, kind, k):
    ek, _ = mlkem_keygen(bytes.fromhex(k["seed_d"]), bytes.fromhex(k["seed_z"]))
    return bytes([kind]) + u32(k["id"]) + bytes([KT_MLKEM768]) + ek + ed_sign(seed, pq_msg(kind, k["id"], ek))


def build_identity_upload(sec, at):
    seed, ident = build_identity(sec)
    spk = sec["signed_prekey"]
    spk_pub = x25519_pub(bytes.fromhex(spk["private"]))
    lr = sec["last_resort_pq_prekey"]
    body = bytes([WIRE_VERSION, T_IDENTITY_UPLOAD, 0x01 if lr else 0x00]) + ident + u64(at)
    body += u32(spk["id"]) + spk_pub + ed_sign(seed, spk_msg(spk["id"], spk_pub, spk["capabilities"]))
    body += bytes([spk["capabilities"]])
    if lr:
        body += build_pq_field(seed, PQ_LAST_RESORT, lr)
    return body + ed_sign(seed, L_SIG_UPLOAD + body)


def build_prekey_batch(sec):
    seed, ident = build_identity(sec)
    body = bytes([WIRE_VERSION, T_PREKEY_BATCH]) + ident + u16(len(sec["one_time_prekeys"]))
    for k in sec["one_time_prekeys"]:
        body += u32(k["id"]) + x25519_pub(bytes.fromhex(k["private"]))
    body += u16(len(sec["pq_one_time_prekeys"]))
    for k in sec["pq_one_time_prekeys"]:
        body += build_pq_field(seed, PQ_ONE_TIME, k)
    return body + ed_sign(seed, L_SIG_BATCH + body)


def run_uploads_file(c, fname):
    """§4.6-§4.7: uploads rebuilt from their secrets, decoded and verified;
    malformed ones refused with the named error; bad signatures named."""
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    for acct, up in (("account", "identity_upload"), ("classic_account", "classic_identity_upload")):
        built = build_identity_upload(v[acct], v[up]["uploaded_at"])
        c.eq("%s: %s rebuilt from its secrets" % (fname, up), built.hex(), v[up]["bytes"])
        u = decode_identity_upload(H(v[up]["bytes"]))
        c.eq("%s: %s verifies" % (fname, up), verify_identity_upload(u), None)
        c.eq("%s: %s length" % (fname, up), len(H(v[up]["bytes"])), 1558 if v[acct]["last_resort_pq_prekey"] else 304)
    ub = H(v["identity_upload"]["bytes"])
    c.eq("%s: the rotated account's signed prekey capabilities (§3.3: 0x03)" % fname,
         ub[239], CAP_PQ | CAP_KEM)
    c.eq("%s: identity upload with an unknown capabilities bit (0x04) decodes, the bit kept (§3.3, §4.6)"
         % fname, decode_identity_upload(ub[:239] + bytes([ub[239] | 0x04]) + ub[240:])["caps"],
         ub[239] | 0x04)
    built = build_prekey_batch(v["account"])
    c.eq("%s: prekey_batch rebuilt from its secrets" % fname, built.hex(), v["prekey_batch"]["bytes"])
    bt = decode_prekey_batch(H(v["prekey_batch"]["bytes"]))
    c.eq("%s: prekey_batch verifies" % fname, verify_prekey_batch(bt), None)
    n, m = len(bt["one_time"]), len(bt["pq"])
    c.eq("%s: prekey_batch length" % fname, len(built), 198 + 36 * n + 1254 * m)
    decoders = {"identity_upload": decode_identity_upload, "prekey_batch": decode_prekey_batch}
    for i, e in enumerate(v["malformed"]):
        c.raises("%s: malformed[%d] %s" % (fname, i, e["error"]), lambda: decoders[e["type"]](H(e["bytes"])),
                 e["error"])
    verifiers = {"identity_upload": lambda b: verify_identity_upload(decode_identity_upload(b)),
                 "prekey_batch": lambda b: verify_prekey_batch(decode_prekey_batch(b))}
    for i, e in enumerate(v["bad_signatures"]):
        c.eq("%s: bad_signatures[%d] %s" % (fname, i, e["what"]), verifiers[e["type"]](H(e["bytes"])), e["what"])


# ---------------------------------------------------------------- §6.9 kem_ratchet.json
def run_kem_file(c, fname):
    """§6.9: the erasure code's vectors, then a whole session replayed from
    the setup's output (RK0, CK0, R_A0, session_ad) through three epochs."""
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    tag = fname.replace(".json", "")
    ck = lambda name, *a: c.eq("%s: %s" % (tag, name), *a)
    cc = lambda name, *a: c.check("%s: %s" % (tag, name), *a)
    ck("wire_version", v["wire_version"], WIRE_VERSION)

    # §6.9.3 the field and the code
    cc("GF(2^8) mod 0x11d: table multiplication = shift-and-add for all 65,536 pairs",
       all(gf_mul(a, b) == gf_mul_slow(a, b) for a in range(256) for b in range(256)))
    cc("GF(2^8): 2 generates the 255 non-zero elements (0x11d is primitive)",
       len(set(GF_EXP[:255])) == 255)
    er = v["erasure"]
    k = er["k"]
    payload = H(er["payload"])
    ck("erasure: k is the ek payload's 19 chunks (§6.9.2)", k, KEM_EK_CHUNKS)
    ck("erasure: payload is k · 64 bytes", len(payload), k * KEM_CHUNK_LEN)
    for ch in er["chunks"]:
        i = ch["index"]
        ck("erasure: chunk %d = P_0(%d) ... P_63(%d) (%s)" % (
            i, i, i, "the payload's own piece" if i < k else "parity"),
           rs_chunk(payload, k, i), H(ch["bytes"]))
        if i < k:
            ck("erasure: chunk %d is payload[64·%d .. 64·%d + 64] (systematic)" % (i, i, i),
               H(ch["bytes"]), payload[64 * i:64 * i + 64])
    idx = er["rebuilt_from_indices"]
    cc("erasure: rebuilt_from_indices are %d distinct indices in 0..254" % k,
       len(idx) == k and len(set(idx)) == k and all(0 <= i <= MAX_KEM_CHUNK_INDEX for i in idx))
    listed = {ch["index"]: H(ch["bytes"]) for ch in er["chunks"]}
    held = [(i, listed.get(i, rs_chunk(payload, k, i))) for i in idx]
    ck("erasure: payload rebuilt from indices %s by Lagrange interpolation" % idx,
       rs_rebuild(held, k), payload)
    ck("erasure: the same payload from a second decoder (Vandermonde, Gaussian elimination)",
       rs_rebuild_gauss(held, k), payload)
    ck("erasure: the held chunks in another order give the same payload",
       rs_rebuild(list(reversed(held)), k), payload)

    # the session
    se = v["session"]
    ini = se["initial"]
    msgs, dels = se["messages"], se["deliveries"]
    rk0, ck0, ra0 = H(ini["root_key"]), H(ini["chain_key"]), H(ini["alice_first_ratchet_private"])
    sad = H(ini["session_ad"])
    try:
        pm = decode_prekey(H(msgs[0]["bytes"]))
    except ProtoError as e:
        cc("message 0 decodes as a prekey message", False, str(e))
        return
    ck("message 0: prekey flags PQ and KEM ratchet, no one-time prekey (0x06)",
       H(msgs[0]["bytes"])[2], F_PQ | F_KEM)
    ck("message 0: inner message of type 0x0c (§4.4 flag 0x04)", pm["inner"]["type"], T_KEM_NORMAL)
    ck("message 0: inner ratchet key is R_A0's", pm["inner"]["ratchet_key"], x25519_pub(ra0))
    prefix = pm["prefix"]
    ck("message 0: prefix length (PQXDH, no one-time prekey: 1260)", len(prefix), 1260)
    alice = Session(True, pm["identity"], pm["base_key"], sad, rk0)
    alice.our_priv, alice.our_pub = ra0, x25519_pub(ra0)       # §5.4 step 8
    alice.sending = [ck0, 0]
    alice.expecting_new_chain = True
    alice.pending_prefix = prefix
    alice.kem = KemRatchet(True)                               # EkPending
    bob = Session(False, pm["identity"], pm["base_key"], sad, rk0)
    bob.receiving = [{"ratchet_key": x25519_pub(ra0), "chain": [ck0, 0], "skipped": {}}]
    bob.kem = KemRatchet(False)                                # §5.5 step 11: ReceivingEk
    sessions = {"alice": alice, "bob": bob}
    kt = KemTracker(c, tag)

    sa = [m["sent_after_deliveries"] for m in msgs]
    cc("sent_after_deliveries is non-decreasing and within 0..%d" % len(dels),
       sa == sorted(sa) and sa[0] == 0 and sa[-1] <= len(dels))
    delivered = [d["message"] for d in dels]
    cc("no message is delivered twice", len(set(delivered)) == len(delivered))
    lost = sorted(set(range(len(msgs))) - set(delivered))
    cc("%d of %d messages delivered, %d lost" % (len(delivered), len(msgs), len(lost)),
       all(0 <= j < len(msgs) for j in delivered))
    sent = 0
    prefix_msgs = []

    def send_upto(done):
        nonlocal sent
        while sent < len(msgs) and msgs[sent]["sent_after_deliveries"] <= done:
            m = msgs[sent]
            s = sessions[m["from"]]
            rpriv = H(m["sender_ratchet_private"])
            try:
                out, newkey = s.encrypt(H(m["plaintext"]), rpriv, m["kem_draws"])
            except ProtoError as e:
                cc("message %d (%s) encrypts" % (sent, m["from"]), False, str(e))
                sent += 1
                continue
            ck("message %d (%s, after %d deliveries) bytes rebuilt (%s%s)" % (
                sent, m["from"], m["sent_after_deliveries"],
                "new ratchet key" if newkey else "same chain",
                ", mixes epoch %d (KDF_RK_KEM)" % s.kem.mixed if s.last_send["mixed"] else ""),
               out, H(m["bytes"]))
            ck("message %d (%s) ratchet private key is the session's" % (sent, m["from"]),
               s.our_priv, rpriv)
            if out[1] == T_PREKEY:
                prefix_msgs.append(sent)
            kt.on_send(sent, m["from"], m, s)
            sent += 1

    mixed_after = []
    for i, d in enumerate(dels):
        send_upto(i)
        j = d["message"]
        m = msgs[j]
        cc("delivery %d: message %d was sent before it is delivered, to the other party"
           % (i, j), j < sent and d["to"] != m["from"] and d["to"] in sessions)
        try:
            pt = sessions[d["to"]].decrypt(H(m["bytes"]))
            ck("delivery %d: message %d to %s decrypts to the listed plaintext" % (i, j, d["to"]),
               pt, H(d["plaintext"]))
            ck("delivery %d: plaintext equals message %d's" % (i, j), d["plaintext"], m["plaintext"])
            kt.on_delivery(i, d["to"], sessions[d["to"]])
        except ProtoError as e:
            cc("delivery %d: message %d to %s" % (i, j, d["to"]), False, "error %s" % e)
        mixed_after.append((alice.kem.mixed, bob.kem.mixed))
    send_upto(len(dels))
    ck("every message sent", sent, len(msgs))
    kt.finish()
    first_to_alice = next(i for i, d in enumerate(dels) if d["to"] == "alice")
    ck("Alice's messages are prekey messages with message 0's prefix exactly until she "
       "decrypted a reply (delivery %d, §5.4)" % first_to_alice, prefix_msgs,
       [j for j, m in enumerate(msgs) if m["from"] == "alice"
        and m["sent_after_deliveries"] <= first_to_alice])
    cc("those prekey messages carry message 0's prefix",
       all(H(msgs[j]["bytes"])[:len(prefix)] == prefix for j in prefix_msgs))

    # epochs_mixed: each side's mixed count after the listed delivery
    for cp in se["epochs_mixed"]:
        dd = cp["delivery"]
        got = mixed_after[dd] if 0 <= dd < len(mixed_after) else None
        ck("epochs_mixed after delivery %d: (alice, bob)" % dd, got and list(got),
           [cp["alice"], cp["bob"]])
    changes = [i for i in range(len(mixed_after))
               if i == 0 or mixed_after[i] != mixed_after[i - 1]]
    ck("epochs_mixed lists delivery 0 and every delivery after which (alice, bob) changed",
       [cp["delivery"] for cp in se["epochs_mixed"]], changes)
    ck("three epochs mixed on both sides at the end", [alice.kem.mixed, bob.kem.mixed], [3, 3])
    ck("epoch draws: a key pair for epochs 1..4, an encapsulation for 1..3",
       [sorted(kt.keygen), sorted(kt.encaps)], [[1, 2, 3, 4], [1, 2, 3]])
    ck("ek senders alternate: initiator for odd epochs, responder for even (§6.9.5)",
       [kt.keygen[e][0] for e in sorted(kt.keygen)], ["alice", "bob", "alice", "bob"])

    # replays after the conversation: refused, nothing changes
    for j in delivered:
        m = msgs[j]
        to = "alice" if m["from"] == "bob" else "bob"
        snap = copy.deepcopy(sessions[to].__dict__)
        try:
            sessions[to].decrypt(H(m["bytes"]))
            res = "decrypted"
        except ProtoError as e:
            res = str(e)
        if res != "DuplicateOrExpired" or sessions[to].__dict__ != snap:
            cc("replay of message %d to %s refused, state unchanged" % (j, to), False, res)
            break
    else:
        cc("replay of each of the %d delivered messages refused (DuplicateOrExpired), state "
           "unchanged" % len(delivered), True)


# ---------------------------------------------------------------- §13.14 linking
def user_field(user):
    u = user.encode()
    return bytes([len(u)]) + u


def build_device_link(linker_sec, new_sec, st):
    seed, _ = build_identity(linker_sec)
    _, new_ident = build_identity(new_sec)
    body = bytes([WIRE_VERSION, T_DEVICE_LINK]) + user_field(st["user"]) + u32(st["device"]) + new_ident
    body += u32(st["linked_by"]) + u64(st["linked_at"])
    return body + ed_sign(seed, L_SIG_LINK + body)


def decode_device_link(b):
    """§13.14 statement: returns (fields, signed part, signature)."""
    check_header(b, T_DEVICE_LINK)
    r = Rd(b)
    r.take(2)
    n = r.int(1)
    user = r.take(n)
    try:
        user = user.decode()
    except UnicodeDecodeError:
        raise ProtoError("InvalidText")
    if not user:
        raise ProtoError("InvalidText")
    device = r.int(4)
    ident = r.take(128)
    decode_identity(ident)
    linked_by = r.int(4)
    if linked_by == device:
        raise ProtoError("SelfLink")
    linked_at = r.int(8)
    signed_end = r.o
    sig = r.take(64)
    r.end()
    return dict(user=user, device=device, identity=ident, linked_by=linked_by, linked_at=linked_at), b[:signed_end], sig


def run_link_file(c, fname):
    """§13.14: the statement and offer rebuilt, the handover key derived,
    the 0x0a framing, malformed statements refused, a bad signature."""
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    st = v["statement"]
    built = build_device_link(v["linker"], v["new_device"], st)
    c.eq("%s: statement rebuilt from its secrets" % fname, built.hex(), st["bytes"])
    fields, signed, sig = decode_device_link(H(st["bytes"]))
    linker_ed = ed_pub(H(v["linker"]["identity_ed25519_private"]))
    c.check("%s: statement verifies under the linker" % fname, verify_sig(linker_ed, L_SIG_LINK + signed, sig))
    new_ed = ed_pub(H(v["new_device"]["identity_ed25519_private"]))
    c.check("%s: statement does not verify under the new device" % fname, not verify_sig(new_ed, L_SIG_LINK + signed, sig))
    o = v["offer"]
    _, new_ident = build_identity(v["new_device"])
    offer = bytes([WIRE_VERSION, T_LINK_OFFER]) + user_field(o["user"]) + u32(o["device"]) + new_ident
    offer += H(o["secret"]) + u64(o["created_at"])
    c.eq("%s: offer rebuilt" % fname, offer.hex(), o["bytes"])
    hk = v["handover_key"]
    e_pub = x25519_pub(H(hk["ephemeral_private"]))
    c.eq("%s: ephemeral public" % fname, e_pub.hex(), hk["ephemeral_public"])
    shared = dh(H(hk["ephemeral_private"]), new_ident[32:64])
    key = hkdf(H(o["secret"]), shared, L_KDF_LINK_KEY + e_pub + new_ident[:64], 32)
    c.eq("%s: handover key" % fname, key.hex(), hk["key"])
    fm = v["framed_message"]
    framed = bytes([0x0a]) + u16(len(built)) + built + H(fm["inner"])
    c.eq("%s: framed message" % fname, framed.hex(), fm["bytes"])
    for i, e in enumerate(v["malformed"]):
        c.raises("%s: malformed[%d] %s" % (fname, i, e["error"]), lambda: decode_device_link(H(e["bytes"])), e["error"])
    _, signed, sig = decode_device_link(H(v["bad_signature"]))
    c.check("%s: bad signature refused" % fname, not verify_sig(linker_ed, L_SIG_LINK + signed, sig))
    bundle = decode_bundle(H(v["bundle_with_link"]))
    c.eq("%s: bundle carries the statement" % fname, bundle["link"], H(st["bytes"]))
    c.eq("%s: bundle identity is the new device's" % fname, bundle["identity"], new_ident)
    up = decode_identity_upload(H(v["identity_upload_with_link"]))
    c.eq("%s: identity upload carries the statement" % fname, up["link"], H(st["bytes"]))
    c.eq("%s: identity upload with the statement verifies" % fname, verify_identity_upload(up), None)
    c.raises("%s: a statement on another identity's bundle" % fname,
             lambda: decode_bundle(H(v["bundle_with_foreign_link"])), "LinkMismatch")


# ---------------------------------------------------------------- §14 attachments
ATTACHMENT_VERSION = 1
ATTACHMENT_HEADER_LEN = 33
ATTACHMENT_CHUNK_LEN = 65_536          # C
ATTACHMENT_TAG_LEN = 16                # Poly1305 tag of every chunk
MAX_ATTACHMENT_LEN = 2**40
MIN_ATTACHMENT_PADDED_LEN = 1024
MAX_ATTACHMENT_CONTENT_TYPE_LEN = 128
MAX_ATTACHMENT_FILE_NAME_LEN = 255
MAX_ATTACHMENT_LOCATION_LEN = 2048


class AttachmentError(ProtoError):
    """A §14.4 reading error; `index` is the chunk for Chunk and Padding."""

    def __init__(self, name, index=None):
        super().__init__(name)
        self.name, self.index = name, index


def attachment_keys(key):
    """§14.2: (chunk_key, commitment) = HKDF-SHA256(salt "", ikm K, info, 64) split in two."""
    assert len(key) == 32
    okm = hkdf(b"", key, L_KDF_ATTACHMENT, 64)
    return okm[:32], okm[32:]


def attachment_layout(size):
    """§14.3: padded, n, and each chunk's (index, blob offset, plaintext length)."""
    if not 0 <= size <= MAX_ATTACHMENT_LEN:
        raise ValueError("size past MAX_ATTACHMENT_LEN")
    padded = padme(max(size, MIN_ATTACHMENT_PADDED_LEN))
    n = -(-padded // ATTACHMENT_CHUNK_LEN)
    assert n >= 1
    chunks = []
    for i in range(n):
        ln = min((i + 1) * ATTACHMENT_CHUNK_LEN, padded) - i * ATTACHMENT_CHUNK_LEN
        off = ATTACHMENT_HEADER_LEN + i * (ATTACHMENT_CHUNK_LEN + ATTACHMENT_TAG_LEN)
        chunks.append((i, off, ln))
    return padded, n, chunks


def attachment_nonce(i, n):
    """§14.3: 0x00 0x00 0x00 || u64(i) || last_i."""
    return b"\x00\x00\x00" + u64(i) + (b"\x01" if i == n - 1 else b"\x00")


def attachment_file(size):
    """§11: byte i of a test file is i mod 251."""
    return bytes(i % 251 for i in range(size))


def encrypt_attachment(key, data):
    """§14.3: returns (blob, digest, per-chunk details)."""
    chunk_key, commitment = attachment_keys(key)
    size = len(data)
    padded, n, layout = attachment_layout(size)
    p = data + bytes(padded - size)
    aead = ChaCha20Poly1305(chunk_key)
    blob = bytearray(bytes([ATTACHMENT_VERSION]) + commitment)
    details = []
    for i, off, ln in layout:
        assert len(blob) == off
        nonce = attachment_nonce(i, n)
        sealed = aead.encrypt(nonce, p[i * ATTACHMENT_CHUNK_LEN:i * ATTACHMENT_CHUNK_LEN + ln], b"")
        assert len(sealed) == ln + ATTACHMENT_TAG_LEN
        blob += sealed
        details.append(dict(index=i, offset=off, plaintext_len=ln, nonce=nonce.hex(),
                            tag=sealed[-ATTACHMENT_TAG_LEN:].hex()))
    blob = bytes(blob)
    return blob, sha256(blob), details


def decrypt_attachment(blob, key, digest, size):
    """§14.4, steps 1-4 in order, reading the whole blob.  Raises
    AttachmentError (UnsupportedVersion, WrongKey, Chunk(i), Padding(i),
    Truncated, TrailingBytes, DigestMismatch); returns the file.

    Bytes are taken as the steps need them: a blob that ends before the
    header or before the end of the chunk being read is Truncated there
    (step 3's "fewer bytes"); bytes after S_{n-1} are TrailingBytes."""
    chunk_key, commitment = attachment_keys(key)
    padded, n, layout = attachment_layout(size)
    # step 1
    if len(blob) < ATTACHMENT_HEADER_LEN:
        raise AttachmentError("Truncated")
    if blob[0] != ATTACHMENT_VERSION:
        raise AttachmentError("UnsupportedVersion")
    if not hmac.compare_digest(blob[1:ATTACHMENT_HEADER_LEN], commitment):
        raise AttachmentError("WrongKey")
    # step 2
    aead = ChaCha20Poly1305(chunk_key)
    out = bytearray()
    end = ATTACHMENT_HEADER_LEN
    for i, off, ln in layout:
        end = off + ln + ATTACHMENT_TAG_LEN
        if len(blob) < end:
            raise AttachmentError("Truncated")
        try:
            p_i = aead.decrypt(attachment_nonce(i, n), blob[off:end], b"")
        except InvalidTag:
            raise AttachmentError("Chunk", i)
        start = i * ATTACHMENT_CHUNK_LEN          # file offset of P_i[0]
        keep = max(0, min(ln, size - start))      # P_i's bytes below file offset `size`
        if any(p_i[keep:]):
            raise AttachmentError("Padding", i)
        out += p_i[:keep]
    # step 3
    if len(blob) > end:
        raise AttachmentError("TrailingBytes")
    assert len(blob) == end == ATTACHMENT_HEADER_LEN + padded + ATTACHMENT_TAG_LEN * n
    # step 4
    if not hmac.compare_digest(sha256(blob), digest):
        raise AttachmentError("DigestMismatch")
    assert len(out) == size
    return bytes(out)


def read_error(fn):
    """(error name, chunk index) of a failing read, or ("ok", None)."""
    try:
        fn()
    except AttachmentError as e:
        return e.name, e.index
    return "ok", None


def encode_pointer(ptr):
    """§14.5; refuses (as a sender does) what a reader would refuse."""
    ct, name, loc = (ptr[k].encode() for k in ("content_type", "file_name", "location"))
    if (len(ptr["key"]) != 32 or len(ptr["digest"]) != 32 or not 0 <= ptr["size"] <= MAX_ATTACHMENT_LEN
            or len(ct) > MAX_ATTACHMENT_CONTENT_TYPE_LEN or len(name) > MAX_ATTACHMENT_FILE_NAME_LEN
            or len(loc) > MAX_ATTACHMENT_LOCATION_LEN):
        raise ProtoError("InvalidContent")
    return (ptr["key"] + ptr["digest"] + u64(ptr["size"]) + bytes([len(ct)]) + ct + bytes([len(name)]) + name
            + u16(len(loc)) + loc)


def decode_pointer(b):
    """§14.5, strictly: cut short, trailing bytes, a length past its limit,
    text that is not UTF-8 or a size past MAX_ATTACHMENT_LEN is
    MalformedPointer (the reason is kept in .reason)."""
    def bad(reason):
        e = ProtoError("MalformedPointer")
        e.reason = reason
        return e

    def text(raw):
        t = utf8(raw)
        if t is None:
            raise bad("not UTF-8")
        return t

    r = Rd(b)
    try:
        key = r.take(32)
        digest = r.take(32)
        size = r.int(8)
        if size > MAX_ATTACHMENT_LEN:
            raise bad("size past MAX_ATTACHMENT_LEN")
        t = r.int(1)
        if t > MAX_ATTACHMENT_CONTENT_TYPE_LEN:
            raise bad("content type too long")
        ct = text(r.take(t))
        f = r.int(1)
        if f > MAX_ATTACHMENT_FILE_NAME_LEN:
            raise bad("file name too long")
        name = text(r.take(f))
        l_ = r.int(2)
        if l_ > MAX_ATTACHMENT_LOCATION_LEN:
            raise bad("location too long")
        loc = text(r.take(l_))
        r.end()
    except ProtoError as e:
        if str(e) == "MalformedPointer":
            raise
        raise bad(str(e))  # Truncated / TrailingBytes
    return dict(key=key, digest=digest, size=size, content_type=ct, file_name=name, location=loc)


def pointer_json(ptr):
    """A decoded pointer as in the vector file (hex for the byte fields)."""
    return dict(key=ptr["key"].hex(), digest=ptr["digest"].hex(), size=ptr["size"],
                content_type=ptr["content_type"], file_name=ptr["file_name"], location=ptr["location"])


def pointer_of(fields):
    """A pointer from vector fields; a text field that is not listed is empty."""
    H = bytes.fromhex
    return dict(key=H(fields["key"]), digest=H(fields["digest"]), size=fields["size"],
                content_type=fields.get("content_type", ""), file_name=fields.get("file_name", ""),
                location=fields.get("location", ""))


def damage_blob(blob, d):
    """§11: one change to a blob (`op` truncate / flip / append / swap_chunks / set_version)."""
    b = bytearray(blob)
    op = d["op"]
    if op == "truncate":
        return bytes(b[:d["at"]])
    if op == "flip":
        b[d["at"]] ^= 0x01          # the least significant bit
        return bytes(b)
    if op == "append":
        return bytes(b) + b"\x00"
    if op == "swap_chunks":
        c0 = ATTACHMENT_HEADER_LEN
        c1 = c0 + ATTACHMENT_CHUNK_LEN + ATTACHMENT_TAG_LEN
        c2 = c1 + ATTACHMENT_CHUNK_LEN + ATTACHMENT_TAG_LEN
        assert len(b) >= c2  # both chunks full-size, so the swap keeps every offset
        return bytes(b[:c0] + b[c1:c2] + b[c0:c1] + b[c2:])
    if op == "set_version":
        b[0] = 2
        return bytes(b)
    raise ValueError(op)


def run_attachments_file(c, fname):
    """§14: blobs rebuilt field by field and read back; damaged blobs, a
    forged size and other files under the same key refused as listed;
    pointers and their envelope decoded and re-encoded; malformed pointers
    refused."""
    v = json.load(open(os.path.join(HERE, fname)))
    H = bytes.fromhex
    f = fname
    # §11: sizes 0, 5, 1,024, 1,025, 65,536, 65,537, 140,000 under keys 01..01 to 07..07
    c.eq("%s: blob sizes as §11 lists them" % f, [b["size"] for b in v["blobs"]],
         [0, 5, 1024, 1025, 65536, 65537, 140000])
    built = {}
    for n, b in enumerate(v["blobs"]):
        tag = "%s: blobs[%d] size %d" % (f, n, b["size"])
        key = H(b["key"])
        c.eq("%s key is %02x..%02x" % (tag, n + 1, n + 1), key, bytes([n + 1]) * 32)
        data = attachment_file(b["size"])
        chunk_key, commitment = attachment_keys(key)
        c.eq("%s chunk_key" % tag, chunk_key, b["chunk_key"])
        c.eq("%s commitment" % tag, commitment, b["commitment"])
        padded, cnt, _ = attachment_layout(b["size"])
        c.eq("%s padded_len" % tag, padded, b["padded_len"])
        c.eq("%s chunk_count" % tag, cnt, b["chunk_count"])
        blob, digest, details = encrypt_attachment(key, data)
        built[b["size"]] = (blob, b)
        c.eq("%s blob_len" % tag, len(blob), b["blob_len"])
        c.eq("%s blob_len = 33 + padded + 16n" % tag, b["blob_len"], 33 + b["padded_len"] + 16 * b["chunk_count"])
        c.eq("%s header" % tag, blob[:ATTACHMENT_HEADER_LEN], b["header"])
        c.eq("%s number of chunks listed" % tag, len(b["chunks"]), cnt)
        for j, ch in enumerate(b["chunks"]):
            got = details[j] if j < len(details) else None
            c.eq("%s chunks[%d] index, offset, plaintext_len, nonce, tag" % (tag, j), got,
                 {k: ch[k] for k in ("index", "offset", "plaintext_len", "nonce", "tag")})
            if got:
                c.eq("%s chunks[%d] tag ends the chunk in the blob" % (tag, j),
                     blob[ch["offset"] + ch["plaintext_len"]:ch["offset"] + ch["plaintext_len"] + 16], ch["tag"])
        c.eq("%s digest" % tag, digest, b["digest"])
        if b.get("blob") is not None:
            c.eq("%s whole blob" % tag, blob, b["blob"])
        else:
            c.check("%s blob omitted only when over 4,096 bytes" % tag, b["blob_len"] > 4096)
        listed = H(b["blob"]) if b.get("blob") is not None else blob
        c.eq("%s reads back" % tag, read_error(lambda: decrypt_attachment(listed, key, H(b["digest"]), b["size"]))
             + (decrypt_attachment(listed, key, H(b["digest"]), b["size"]) == data,), ("ok", None, True))
        c.eq("%s under another key: WrongKey" % tag,
             read_error(lambda: decrypt_attachment(listed, bytes(32), H(b["digest"]), b["size"])), ("WrongKey", None))
    # §14.3 worked examples
    c.eq("%s: §14.3 example, 5 bytes" % f, attachment_layout(5)[:2] + (len(built[5][0]),), (1024, 1, 1073))
    c.eq("%s: §14.3 example, 65,537 bytes" % f, attachment_layout(65537)[:2], (67584, 2))

    # damaged copies of the 140,000-byte case
    big, bcase = built[140000]
    bkey, bdigest = H(bcase["key"]), H(bcase["digest"])
    for n, d in enumerate(v["damaged"]):
        got = read_error(lambda: decrypt_attachment(damage_blob(big, d["damage"]), bkey, bdigest, 140000))
        c.eq("%s: damaged[%d] %s: %s%s" % (f, n, d["name"], d["error"],
                                           "" if d.get("chunk") is None else " chunk %d" % d["chunk"]),
             got, (d["error"], d.get("chunk")))

    # two faults in one blob: the first failing part names the error
    for n, d in enumerate(v["two_faults"]):
        damaged = big
        for op in d["damages"]:
            damaged = damage_blob(damaged, op)
        got = read_error(lambda: decrypt_attachment(damaged, bkey, bdigest, 140000))
        c.eq("%s: two_faults[%d] %s: %s%s" % (f, n, d["name"], d["error"],
                                             "" if d.get("chunk") is None else " chunk %d" % d["chunk"]),
             got, (d["error"], d.get("chunk")))

    # forged size
    fs = v["forged_size"]
    fblob, fcase = built[fs["case_size"]]
    cut = fblob[:fs["cut_at"]]
    c.eq("%s: forged_size cut is right after chunk 0" % f, fs["cut_at"], fcase["chunks"][1]["offset"])
    c.eq("%s: forged_size read as %d bytes: %s chunk %d" % (f, fs["size"], fs["error"], fs["chunk"]),
         read_error(lambda: decrypt_attachment(cut, H(fcase["key"]), H(fcase["digest"]), fs["size"])),
         (fs["error"], fs["chunk"]))

    # same key, another file
    sk = v["same_key_other_file"]
    s5 = built[5][1]
    k5 = H(s5["key"])
    other = H(sk["other_blob"])
    c.eq("%s: same_key_other_file other_blob rebuilt (file \"other\")" % f,
         encrypt_attachment(k5, b"other")[0], other)
    c.eq("%s: same_key_other_file other_blob with the size-5 pointer: DigestMismatch" % f,
         read_error(lambda: decrypt_attachment(other, k5, H(s5["digest"]), 5)), ("DigestMismatch", None))
    c.eq("%s: same_key_other_file other_blob with its own digest reads" % f,
         read_error(lambda: decrypt_attachment(other, k5, sha256(other), 5)), ("ok", None))
    six = H(sk["six_byte_blob"])
    c.eq("%s: same_key_other_file six_byte_blob rebuilt (file 00..05)" % f,
         encrypt_attachment(k5, bytes(range(6)))[0], six)
    c.eq("%s: same_key_other_file six_byte_blob as 5 bytes, own digest: Padding chunk 0" % f,
         read_error(lambda: decrypt_attachment(six, k5, sha256(six), 5)), ("Padding", 0))
    c.eq("%s: same_key_other_file six_byte_blob as 6 bytes reads" % f,
         read_error(lambda: decrypt_attachment(six, k5, sha256(six), 6)), ("ok", None))

    # pointers
    fields = ("key", "digest", "size", "content_type", "file_name", "location")
    for n, p in enumerate(v["pointers"]):
        tag = "%s: pointers[%d] %s" % (f, n, p["name"])
        raw = H(p["bytes"])
        ptr = decode_pointer(raw)
        got = pointer_json(ptr)
        listed = [k for k in fields if k in p]
        c.eq("%s decodes (listed fields: %s)" % (tag, ", ".join(listed)), {k: got[k] for k in listed},
             {k: p[k] for k in listed})
        # a pointer entry may leave out the key and digest (then its blob case, found by
        # size, gives them) and empty text fields
        case = built.get(p["size"], (None, None))[1]
        c.check("%s names a blob case" % tag, case is not None)
        want = pointer_json(pointer_of(dict({"key": case["key"], "digest": case["digest"]}, **p)))
        c.eq("%s is its blob case's pointer (unlisted text fields empty)" % tag, got, want)
        c.eq("%s re-encodes" % tag, encode_pointer(ptr), raw)
        c.eq("%s reads its blob" % tag,
             read_error(lambda: decrypt_attachment(built[case["size"]][0], ptr["key"], ptr["digest"], ptr["size"])),
             ("ok", None))
        env = p.get("envelope")
        if env is not None:
            eb = H(env["bytes"])
            want = {"id": env["id"], "sent_at": env["sent_at"], "timer": env["timer"],
                    "content": dict(kind="attachment", **want)}
            c.eq("%s envelope reads back" % tag, read_envelope(eb), want)
            c.eq("%s envelope kind 0x08 body is the pointer" % tag, eb[28:], b"\x08" + raw)
            rebuilt = H(env["id"]) + u64(env["sent_at"]) + u32(env["timer"]) + build_kind(want["content"])
            c.eq("%s envelope built from its fields" % tag, rebuilt, eb)
    c.check("%s: one pointer carries an envelope" % f, sum(1 for p in v["pointers"] if p.get("envelope")) == 1)
    for n, m in enumerate(v["malformed_pointers"]):
        raw = H(m["bytes"])
        c.raises("%s: malformed_pointers[%d] %s refused" % (f, n, m["name"]), lambda: decode_pointer(raw),
                 "MalformedPointer")
        env = H("31" * 16) + u64(1800000000) + u32(0) + b"\x08" + raw
        c.eq("%s: malformed_pointers[%d] inside an envelope: MalformedContent" % (f, n), read_envelope(env), None)
    # an edit may not carry an attachment (§13.12: new content must be text or a payload)
    p1 = H(v["pointers"][0]["bytes"])
    c.eq("%s: an edit carrying an attachment is MalformedContent" % f,
         read_envelope(H("31" * 16) + u64(1) + u32(0) + b"\x03" + H("07" * 16) + b"\x08" + p1), None)


def main():
    c = Checker()
    check_primitives(c)
    for f in VECTOR_FILES:
        try:
            if f.startswith("group_"):
                run_group_file(c, f)
            elif f.startswith("conversation_"):
                run_content_file(c, f)
            elif f.startswith("content_"):
                run_envelope_file(c, f)
            elif f.startswith("prekey_"):
                run_uploads_file(c, f)
            elif f.startswith("device_link"):
                run_link_file(c, f)
            elif f.startswith("attachments"):
                run_attachments_file(c, f)
            elif f.startswith("kem_ratchet"):
                run_kem_file(c, f)
            else:
                run_file(c, f)
        except Exception as e:  # any crash is a failure
            import traceback
            traceback.print_exc()
            c.check("%s: completed without exception" % f, False, repr(e))
    print("%d passed, %d failed" % (c.passed, c.failed))
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
