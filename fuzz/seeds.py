#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/corpus/ that follow the byte formats of the targets (the
`Reader` programs of fuzz/src/lib.rs and each target's header comment). The config seeds are
written by hand, the record seeds come from a token (see docs/SECURITY.md, "Fuzzing").

Run from the repository: python3 fuzz/seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_VALUE = 0, 1, 2, 3, 0x11
CKA_KEY_TYPE, CKA_ID, CKA_SENSITIVE, CKA_SIGN, CKA_VERIFY = 0x100, 0x102, 0x103, 0x108, 0x10A
CKA_VALUE_LEN, CKA_EXTRACTABLE, CKA_EC_PARAMS, CKA_EC_POINT = 0x161, 0x162, 0x180, 0x181
CKA_WRAP_TEMPLATE, CKA_ALLOWED_MECHANISMS = 0x40000211, 0x40000600
CKO_DATA, CKO_PUBLIC_KEY, CKO_SECRET_KEY = 0, 2, 4
CKK_EC, CKK_GENERIC_SECRET, CKK_AES = 3, 0x10, 0x1F
P256 = bytes.fromhex("06082a8648ce3d030107")


def u16(n):
    return struct.pack("<H", n)


def u64(n):
    return struct.pack("<Q", n)


# ---- Template::read: n, then per attribute 0xff + type (u64), mode, value ----
def a_bool(ty, v):
    return bytes([0xFF]) + u64(ty) + bytes([1, v])


def a_small(ty, v):
    return bytes([0xFF]) + u64(ty) + bytes([2, v])


def a_bytes(ty, v, shorter=None):
    if shorter is None:
        return bytes([0xFF]) + u64(ty) + bytes([6]) + u16(len(v)) + v
    return bytes([0xFF]) + u64(ty) + bytes([0x86]) + u16(len(v)) + v + u16(shorter)


def a_null(ty, claimed):
    return bytes([0xFF]) + u64(ty) + bytes([0]) + u16(claimed)


def a_nested(ty, inner):
    return bytes([0xFF]) + u64(ty) + bytes([4]) + template(inner)


def template(attrs):
    return bytes([len(attrs)]) + b"".join(attrs)


# ---- Template::for_output: n, then per attribute 0xff + type, length (u16), NULL flag ----
def out_template(items):
    b = bytes([len(items)])
    for ty, length, null in items:
        b += bytes([0xFF]) + u64(ty) + u16(length) + bytes([0 if null else 1])
    return b


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def attributes():
    data_obj = template([
        a_small(CKA_CLASS, CKO_DATA),
        a_bool(CKA_TOKEN, 0),
        a_bytes(CKA_LABEL, b"label"),
        a_bytes(CKA_VALUE, b"data"),
    ])
    aes = template([
        a_small(CKA_CLASS, CKO_SECRET_KEY),
        a_small(CKA_KEY_TYPE, CKK_AES),
        a_bool(CKA_SENSITIVE, 1),
        a_bytes(CKA_VALUE, bytes(range(16))),
        a_nested(CKA_WRAP_TEMPLATE, [a_small(CKA_KEY_TYPE, CKK_AES)]),
    ])
    ec_pub = template([
        a_small(CKA_CLASS, CKO_PUBLIC_KEY),
        a_small(CKA_KEY_TYPE, CKK_EC),
        a_bytes(CKA_EC_PARAMS, P256),
        a_bytes(CKA_EC_POINT, bytes.fromhex(
            "044104" "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
            "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")),
    ])
    # Create, then read back (index 3 is the first object made: three fixed ones come first).
    write("attributes", "data-object", b"\x00" + data_obj + b"\x01\x03" +
          out_template([(CKA_VALUE, 16, False), (CKA_LABEL, 0, True), (CKA_CLASS, 8, False)]))
    write("attributes", "sensitive-aes", b"\x00" + aes + b"\x01\x03" +
          out_template([(CKA_VALUE, 16, False), (CKA_WRAP_TEMPLATE, 0, True)]))
    write("attributes", "ec-public", b"\x00" + ec_pub + b"\x02\x03" +
          template([a_bytes(CKA_LABEL, b"new"), a_bytes(CKA_ID, b"\x01", shorter=0)]))
    write("attributes", "find", b"\x03" + template([a_small(CKA_CLASS, CKO_SECRET_KEY)]) +
          b"\x03" + template([a_null(CKA_LABEL, 5)]))


def mechanism_params():
    # value length, with-length flag, then per call: mechanism index (u16), key index, parameter
    # mode and fields, data, operation. Spread over the mechanism list; the fuzzer takes it on.
    for i in range(12):
        b = bytes([32, 0])
        for j in range(4):
            mech = (i * 4 + j) * 7
            b += u16(mech) + bytes([i + j, 1 + j]) + bytes([1, 16]) + bytes(16) + bytes([32])
            b += u16(16) + bytes(range(16)) + bytes([j + i])
        write("mechanism_params", "spread-%02d" % i, b)


def calls():
    # op, session selector, object selector, then the op's bytes. With no open session a
    # selector below 200 is followed by a raw handle byte; with no object, by a raw u16.
    open_rw = bytes([0, 0, 0]) + bytes([0]) + u16(0) + bytes([0, 0, 1])
    # A second session: the selector picks the open one, no raw handle byte.
    open_rw2 = bytes([0, 0]) + bytes([0]) + u16(0) + bytes([0, 0, 1])
    login_user = bytes([3, 0, 0]) + u16(0) + bytes([0, 0, 0])
    create_key = bytes([5, 0, 0]) + u16(0) + bytes([0, 0, 1, 0])
    sign_init = bytes([11, 0, 0]) + bytes([0, 4]) + b"data" + bytes([32, 1, 1])
    sign = bytes([11, 0, 0]) + bytes([1, 4]) + b"data" + bytes([32, 1, 1])
    verify_init = bytes([12, 0, 0]) + bytes([0, 4]) + b"data" + bytes([32, 1, 1])
    close_all = bytes([2, 0, 0]) + bytes([0])
    info = bytes([13, 0, 0, 1])
    write("calls", "sign", open_rw + login_user + create_key + sign_init + sign + info)
    write("calls", "verify-then-close", open_rw + login_user + create_key + verify_init +
          close_all + info)
    write("calls", "two-sessions", open_rw + open_rw2 + login_user + create_key + sign_init +
          bytes([11, 1, 0]) + bytes([1, 4]) + b"data" + bytes([32, 1, 1]) + info)


def imports():
    write("import", "p256-params-point", bytes([1, len(P256)]) + P256 + bytes.fromhex(
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"))
    write("import", "curve-name", bytes([2]) + b"\x13\x0aprime256v1")
    write("import", "ed25519", bytes([3, 5]) + bytes.fromhex("06032b6570") +
          bytes.fromhex("0420") + bytes(32))
    write("import", "octet-string", bytes([4]) + bytes.fromhex("0403010203"))
    write("import", "parameter-set", bytes([5]) + u64(2))


if __name__ == "__main__":
    attributes()
    mechanism_params()
    calls()
    imports()
