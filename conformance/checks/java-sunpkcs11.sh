# shellcheck shell=bash
# Java SunPKCS11 (keytool -providerclass sun.security.pkcs11.SunPKCS11 -providerarg CFG, and a small
# Java program). No checks yet. Add them here with `check NAME FUNC` (see README.md).
