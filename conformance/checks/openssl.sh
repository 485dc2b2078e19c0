# shellcheck shell=bash
# OpenSSL through a PKCS#11 provider/engine (pkcs11-provider or libengine-pkcs11-openssl).
# No checks yet: issue 2 has no cryptography. Add them here with `check NAME FUNC` (see README.md).
