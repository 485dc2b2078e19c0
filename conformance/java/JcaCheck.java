// JCA through the SunPKCS11 provider, for conformance/checks/java-sunpkcs11.sh.
//
// Usage: java JcaCheck CONFIG PIN [p521-short | ecdh CURVE...]
//   CONFIG: a SunPKCS11 configuration (name, library, slot). The token must hold the key entries
//   the shell check made with keytool: "rsa" (RSA 2048), "ec256" (P-256), "ec384" (P-384).
//   p521-short: only verify two fixed P-521 signatures (OpenSSL-made, key and signatures below) through
//   SunPKCS11 with the public key imported into the token; see p521Short.
//   ecdh CURVE...: only KeyAgreement ECDH on each named curve (see ecdh); no keytool entries needed.
// Prints one line per sub-check, "ok - ..." or "FAIL - ...", and exits 1 when any failed.
// Every token result is checked by the JDK's own providers (SunRsaSign, SunEC, SunJCE).
import java.nio.charset.StandardCharsets;
import java.security.*;
import java.security.cert.Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.*;
import java.util.concurrent.*;
import javax.crypto.*;
import javax.crypto.spec.SecretKeySpec;

public class JcaCheck {
    static int failures = 0;
    static Provider p11;
    static final byte[] MSG = "message signed through SunPKCS11\n".getBytes(StandardCharsets.UTF_8);

    interface Body { void run() throws Exception; }

    static void sub(String name, Body b) {
        try {
            b.run();
            System.out.println("ok - " + name);
        } catch (Throwable t) {
            failures++;
            System.out.println("FAIL - " + name + ": " + t);
            t.printStackTrace(System.out);
        }
    }

    static void require(boolean cond, String what) {
        if (!cond) throw new AssertionError(what);
    }

    static byte[] tampered(byte[] m) {
        byte[] t = m.clone();
        t[0] ^= 1;
        return t;
    }

    // sign with the token key through SunPKCS11, verify with the JDK provider `verifier`,
    // and a tampered message must not verify
    static void signVerify(String alg, AlgorithmParameterSpecHolder params, PrivateKey priv,
            PublicKey pub, String verifier) throws Exception {
        signVerify(alg, params, priv, pub, verifier, true);
    }

    static void signVerify(String alg, AlgorithmParameterSpecHolder params, PrivateKey priv,
            PublicKey pub, String verifier, boolean tokenVerify) throws Exception {
        Signature s = Signature.getInstance(alg, p11);
        if (params.spec != null) s.setParameter(params.spec);
        s.initSign(priv);
        s.update(MSG);
        byte[] sig = s.sign();
        Signature v = Signature.getInstance(alg, verifier);
        if (params.spec != null) v.setParameter(params.spec);
        v.initVerify(pub);
        v.update(MSG);
        require(v.verify(sig), alg + " signature verifies with " + verifier);
        v.initVerify(pub);
        v.update(tampered(MSG));
        require(!v.verify(sig), alg + " signature of a tampered message is rejected by " + verifier);
        if (!tokenVerify) return;
        // and the token verifies its own signature too
        Signature tv = Signature.getInstance(alg, p11);
        if (params.spec != null) tv.setParameter(params.spec);
        tv.initVerify(pub);
        tv.update(MSG);
        require(tv.verify(sig), alg + " signature verifies with SunPKCS11");
    }

    static class AlgorithmParameterSpecHolder {
        final java.security.spec.AlgorithmParameterSpec spec;
        AlgorithmParameterSpecHolder(java.security.spec.AlgorithmParameterSpec s) { spec = s; }
    }
    static final AlgorithmParameterSpecHolder NONE = new AlgorithmParameterSpecHolder(null);

    static byte[] hex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    // A P-521 key and two SHA-512 ECDSA signatures of P521_MSG made by OpenSSL (DER). In SHORT both r
    // and s are below 2^520: SunPKCS11 turns a DER signature into r||s, each as long as the longer
    // of the two (not the order's 66 bytes), so C_Verify gets 2 x 65 = 130 bytes. PKCS #11 (v2.40
    // section 2.3.1, the same in 3.x) allows that: "both represented as an octet string of equal length
    // of at most nLen". In LONG r has 521 bits: 2 x 66 bytes, the control.
    static final byte[] P521_MSG = "P-521 signature with short r and s\n".getBytes(StandardCharsets.UTF_8);
    static final String P521_PUB = "30819b301006072a8648ce3d020106052b810400230381860004017e3bf91aee68dbb908e85c4f49f013"
        + "def48791cd0663de727c11b28fe63b8dfa50cb11d11ba606fa8c0b28e82157af229a2c27dc1cded9453da0c2351a02761c5a01abe6"
        + "3cae85ac29b7ead39fbc25932f05b395744a17e5838655c25612cf36dcb5dd5c692f50616e4dc50d3269522dc034843c1292706d8b0"
        + "08e481756021fa79121";
    static final String P521_SHORT = "308187024167889ce7b899bc891faa55d6e1c138b361449ccf47c8fd5f7feccc072ac8e4a194c3f6"
        + "9c6cd220a8fce620343828454f7aa8fbfe2926f2241f4bc989198cb93783024200b22502575bb651a1ca8790a063b08488cde21c318"
        + "17b22504dce8c14b5f6ba994d4cb551f9ef8c2275c1e210bb2cabf9dadb2258a391ca5568982db2bd778ec896";
    static final String P521_LONG = "30818802420183106c56bb49441139476beab89138a9ba8c803de192ed4de687897ee2e363c9e55d4"
        + "3e82d059f5039d266239597223fe93557a773a7affd879c4f0aec3bcdda4a024200c00dff2d4487ad4a308c360b734cb27c426537fd3"
        + "54c173d1f7b23683c40af3896b6c7cdb0525b21f72580d72ed4363f805a5bcbc6ae930eeffb55a2048e8d0be7";

    static void p521Short() throws Exception {
        PublicKey pub = KeyFactory.getInstance("EC", "SunEC")
            .generatePublic(new java.security.spec.X509EncodedKeySpec(hex(P521_PUB)));
        String[][] cases = {
            {"2 x 66 bytes (r of 521 bits)", P521_LONG},
            {"2 x 65 bytes (r and s below 2^520)", P521_SHORT},
        };
        for (String[] c : cases) {
            sub("SHA512withECDSA P-521 signature as " + c[0] + " verifies on the token", () -> {
                byte[] sig = hex(c[1]);
                Signature ref = Signature.getInstance("SHA512withECDSA", "SunEC");
                ref.initVerify(pub);
                ref.update(P521_MSG);
                require(ref.verify(sig), "SunEC verifies the fixture");
                Signature v = Signature.getInstance("SHA512withECDSA", p11);
                v.initVerify(pub); // SunPKCS11 imports the key (C_CreateObject, a session object)
                v.update(P521_MSG);
                require(v.verify(sig), "SunPKCS11 (C_Verify) accepts the signature");
                v.initVerify(pub);
                v.update(tampered(P521_MSG));
                require(!v.verify(sig), "SunPKCS11 rejects it for a tampered message");
            });
        }
    }

    // ECDH: a token key agrees with a SunEC key. SunPKCS11 derives with CKM_ECDH1_DERIVE,
    // CKD_NULL and the peer's raw point (04 || x || y), then reads the generic secret's
    // CKA_VALUE; SunEC computes the same secret from the other side. A curve SunEC lacks (JDK 16+
    // dropped secp224r1 and the other legacy curves) cannot be compared: it is reported as
    // "# skip - CURVE: reason", and the shell check decides whether that is acceptable.
    static void ecdh(String curve) throws Exception {
        try {
            KeyPairGenerator.getInstance("EC", "SunEC").initialize(new ECGenParameterSpec(curve));
        } catch (InvalidAlgorithmParameterException e) {
            System.out.println("# skip - " + curve + ": SunEC of this JDK has no such curve (" + e.getMessage() + ")");
            return;
        }
        sub("KeyAgreement ECDH on " + curve + " (token key) equals SunEC's", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p11);
            g.initialize(new ECGenParameterSpec(curve));
            KeyPair token = g.generateKeyPair();
            KeyPairGenerator pg = KeyPairGenerator.getInstance("EC", "SunEC");
            pg.initialize(new ECGenParameterSpec(curve));
            KeyPair peer = pg.generateKeyPair();
            KeyAgreement ka = KeyAgreement.getInstance("ECDH", p11);
            ka.init(token.getPrivate());
            ka.doPhase(peer.getPublic(), true);
            byte[] got = ka.generateSecret();
            PublicKey tokenPub = KeyFactory.getInstance("EC", "SunEC")
                .generatePublic(new java.security.spec.X509EncodedKeySpec(token.getPublic().getEncoded()));
            KeyAgreement ref = KeyAgreement.getInstance("ECDH", "SunEC");
            ref.init(peer.getPrivate());
            ref.doPhase(tokenPub, true);
            byte[] want = ref.generateSecret();
            require(Arrays.equals(got, want), "shared secret equals SunEC's (" + want.length + " bytes)");
        });
    }

    public static void main(String[] args) throws Exception {
        String cfg = args[0];
        char[] pin = args[1].toCharArray();
        p11 = Security.getProvider("SunPKCS11").configure(cfg);
        Security.addProvider(p11);
        KeyStore ks = KeyStore.getInstance("PKCS11", p11);
        ks.load(null, pin);
        System.out.println("# provider " + p11.getName());
        if (args.length > 2 && args[2].equals("p521-short")) {
            p521Short();
            System.out.println(failures == 0 ? "# all passed" : "# " + failures + " failed");
            System.exit(failures == 0 ? 0 : 1);
        }
        if (args.length > 2 && args[2].equals("ecdh")) {
            for (int i = 3; i < args.length; i++) {
                ecdh(args[i]);
            }
            System.out.println(failures == 0 ? "# all passed" : "# " + failures + " failed");
            System.exit(failures == 0 ? 0 : 1);
        }

        Map<String, PrivateKey> priv = new HashMap<>();
        Map<String, PublicKey> pub = new HashMap<>();
        sub("KeyStore lists the keytool key entries rsa, ec256, ec384", () -> {
            List<String> aliases = Collections.list(ks.aliases());
            System.out.println("# aliases " + new TreeSet<>(aliases));
            for (String a : new String[] {"rsa", "ec256", "ec384"}) {
                require(aliases.contains(a), "alias " + a + " listed");
                require(ks.isKeyEntry(a), a + " is a key entry");
                Key k = ks.getKey(a, null);
                require(k instanceof PrivateKey, a + " is a private key, got " + k);
                Certificate c = ks.getCertificate(a);
                require(c != null, a + " has a certificate");
                c.verify(c.getPublicKey()); // self-signed by keytool with the token key
                priv.put(a, (PrivateKey) k);
                pub.put(a, c.getPublicKey());
            }
        });
        if (priv.size() != 3) {
            System.out.println("FAIL - no token keys, the other sub-checks need them");
            System.exit(1);
        }

        for (String alg : new String[] {"SHA256withRSA", "SHA384withRSA", "SHA512withRSA"}) {
            sub("Signature " + alg + " (token key, verified by SunRsaSign)",
                () -> signVerify(alg, NONE, priv.get("rsa"), pub.get("rsa"), "SunRsaSign"));
        }
        sub("Signature RSASSA-PSS SHA-256/MGF1-SHA-256/salt 32 (verified by SunRsaSign)",
            () -> signVerify("RSASSA-PSS", new AlgorithmParameterSpecHolder(
                new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1)),
                priv.get("rsa"), pub.get("rsa"), "SunRsaSign"));
        sub("Signature SHA256withECDSA on P-256 (verified by SunEC)",
            () -> signVerify("SHA256withECDSA", NONE, priv.get("ec256"), pub.get("ec256"), "SunEC"));
        sub("Signature SHA384withECDSA on P-384 (verified by SunEC)",
            () -> signVerify("SHA384withECDSA", NONE, priv.get("ec384"), pub.get("ec384"), "SunEC"));

        // HMAC: a token secret key with known bytes (KeyStore.setEntry -> C_CreateObject), the MAC
        // compared with SunJCE's on the same bytes. 64 bytes: SoftHSM refuses HMAC keys shorter than
        // the hash output.
        byte[] keyBytes = new byte[64];
        for (int i = 0; i < keyBytes.length; i++) keyBytes[i] = (byte) (i * 7 + 3);
        for (String alg : new String[] {"HmacSHA256", "HmacSHA384", "HmacSHA512"}) {
            sub("Mac " + alg + " with a token secret key equals SunJCE", () -> {
                String alias = "mac-" + alg;
                ks.setEntry(alias, new KeyStore.SecretKeyEntry(new SecretKeySpec(keyBytes, alg)), null);
                require(ks.isKeyEntry(alias), alias + " stored");
                Key k = ks.getKey(alias, null);
                require(k instanceof SecretKey, alias + " read back as a secret key, got " + k);
                Mac m = Mac.getInstance(alg, p11);
                m.init(k);
                byte[] got = m.doFinal(MSG);
                Mac ref = Mac.getInstance(alg, "SunJCE");
                ref.init(new SecretKeySpec(keyBytes, alg));
                byte[] want = ref.doFinal(MSG);
                require(Arrays.equals(got, want), alg + ": token MAC equals SunJCE's");
                require(!Arrays.equals(got, ref.doFinal(tampered(MSG))), "tampered message gives another MAC");
            });
        }

        byte[] plain = "a secret to decrypt\n".getBytes(StandardCharsets.UTF_8);
        sub("Cipher RSA/ECB/PKCS1Padding decrypts a SunJCE ciphertext", () -> {
            Cipher enc = Cipher.getInstance("RSA/ECB/PKCS1Padding", "SunJCE");
            enc.init(Cipher.ENCRYPT_MODE, pub.get("rsa"));
            byte[] ct = enc.doFinal(plain);
            Cipher dec = Cipher.getInstance("RSA/ECB/PKCS1Padding", p11);
            dec.init(Cipher.DECRYPT_MODE, priv.get("rsa"));
            require(Arrays.equals(dec.doFinal(ct), plain), "plaintext recovered");
        });
        // SunPKCS11 of JDK 17 has no OAEP cipher (only RSA/ECB/PKCS1Padding and NoPadding): the
        // raw RSA decryption (CKM_RSA_X_509) is checked instead, on a SunJCE NoPadding ciphertext.
        sub("Cipher RSA/ECB/NoPadding decrypts a SunJCE ciphertext", () -> {
            byte[] block = new byte[256];
            System.arraycopy(plain, 0, block, 256 - plain.length, plain.length);
            block[1] = 0x42;
            Cipher enc = Cipher.getInstance("RSA/ECB/NoPadding", "SunJCE");
            enc.init(Cipher.ENCRYPT_MODE, pub.get("rsa"));
            byte[] ct = enc.doFinal(block);
            Cipher dec = Cipher.getInstance("RSA/ECB/NoPadding", p11);
            dec.init(Cipher.DECRYPT_MODE, priv.get("rsa"));
            byte[] got = dec.doFinal(ct);
            // SunPKCS11 strips leading zero bytes of the raw result
            byte[] want = Arrays.copyOfRange(block, 1, block.length);
            require(Arrays.equals(got, want) || Arrays.equals(got, block), "raw block recovered");
        });

        sub("KeyPairGenerator RSA 2048 on the token, key signs", () -> {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA", p11);
            g.initialize(2048);
            KeyPair kp = g.generateKeyPair();
            require(kp.getPrivate().getClass().getName().contains("P11"), "private key is a token key");
            PublicKey jdkPub = KeyFactory.getInstance("RSA", "SunRsaSign")
                .generatePublic(new java.security.spec.X509EncodedKeySpec(kp.getPublic().getEncoded()));
            signVerify("SHA256withRSA", NONE, kp.getPrivate(), jdkPub, "SunRsaSign");
        });
        for (String curve : new String[] {"secp256r1", "secp384r1", "secp521r1"}) {
            sub("KeyPairGenerator EC " + curve + " on the token, key signs", () -> {
                KeyPairGenerator g = KeyPairGenerator.getInstance("EC", p11);
                g.initialize(new ECGenParameterSpec(curve));
                KeyPair kp = g.generateKeyPair();
                require(kp.getPublic() instanceof ECPublicKey, "EC public key");
                PublicKey jdkPub = KeyFactory.getInstance("EC", "SunEC")
                    .generatePublic(new java.security.spec.X509EncodedKeySpec(kp.getPublic().getEncoded()));
                // P-521: no verification on the token here. SunPKCS11 sends r||s with the length of the
                // longer of r and s, not of the order, so a quarter of P-521 signatures reach C_Verify as
                // 2 x 65 bytes; that case is the fixed "p521-short" sub-check.
                signVerify("SHA256withECDSA", NONE, kp.getPrivate(), jdkPub, "SunEC", !curve.equals("secp521r1"));
            });
        }
        for (String curve : new String[] {"secp256r1", "secp384r1", "secp521r1"}) {
            ecdh(curve);
        }
        sub("KeyGenerator HmacSHA256 (256 bits) on the token, Mac works", () -> {
            KeyGenerator g = KeyGenerator.getInstance("HmacSHA256", p11);
            g.init(256);
            SecretKey k = g.generateKey();
            Mac m = Mac.getInstance("HmacSHA256", p11);
            m.init(k);
            byte[] a = m.doFinal(MSG);
            byte[] b = m.doFinal(MSG);
            require(a.length == 32 && Arrays.equals(a, b), "32-byte MAC, deterministic");
            require(!Arrays.equals(a, m.doFinal(tampered(MSG))), "tampered message gives another MAC");
        });

        sub("16 threads sign at once with the token RSA and P-256 keys, every signature verifies", () -> {
            int n = 16, rounds = 4;
            ExecutorService ex = Executors.newFixedThreadPool(n);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Integer>> fs = new ArrayList<>();
            for (int t = 0; t < n; t++) {
                final int id = t;
                fs.add(ex.submit(() -> {
                    start.await();
                    boolean rsa = id % 2 == 0;
                    String alg = rsa ? "SHA256withRSA" : "SHA256withECDSA";
                    String key = rsa ? "rsa" : "ec256";
                    int good = 0;
                    for (int r = 0; r < rounds; r++) {
                        byte[] msg = ("thread " + id + " round " + r).getBytes(StandardCharsets.UTF_8);
                        Signature s = Signature.getInstance(alg, p11);
                        s.initSign(priv.get(key));
                        s.update(msg);
                        byte[] sig = s.sign();
                        Signature v = Signature.getInstance(alg, rsa ? "SunRsaSign" : "SunEC");
                        v.initVerify(pub.get(key));
                        v.update(msg);
                        if (v.verify(sig)) good++;
                    }
                    return good;
                }));
            }
            start.countDown();
            int total = 0;
            for (Future<Integer> f : fs) total += f.get(60, TimeUnit.SECONDS);
            ex.shutdown();
            require(total == n * rounds, "verified " + total + " of " + (n * rounds) + " signatures");
        });

        System.out.println(failures == 0 ? "# all passed" : "# " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }
}
