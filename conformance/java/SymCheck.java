// Symmetric JCA through the SunPKCS11 provider (issue 12), for conformance/checks/java-sunpkcs11.sh.
//
// Usage: java SymCheck CONFIG PIN
//   CONFIG: a SunPKCS11 configuration (name, library, slot). The token must hold the secret keys
//   the shell check wrote with pkcs11-tool (--write-object --type secrkey): "aes-known" (AES-256,
//   the bytes of KNOWN32 below) and "aes-known128" (AES-128, KNOWN32's first 16 bytes).
// Prints one line per sub-check, "ok - ..." or "FAIL - ...", "# ..." notes, and exits 1 when any
// failed. Every token result is compared with SunJCE's on the same key bytes.
import java.nio.charset.StandardCharsets;
import java.security.*;
import java.util.*;
import javax.crypto.*;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public class SymCheck {
    static int failures = 0;
    static Provider p11;

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

    static byte[] seq(int n, int mul, int add) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (i * mul + add);
        return b;
    }

    static final byte[] KNOWN32 = seq(32, 1, 0); // 00 01 .. 1f, as the shell check writes it
    static final byte[] DATA = seq(1000, 13, 5);  // not a whole number of blocks
    static final byte[] DATA1024 = seq(1024, 13, 5);

    // The token cipher in pieces of uneven sizes (C_*Update, then C_*Final), one byte array out.
    static byte[] pieces(Cipher c, byte[] in) throws Exception {
        int[] sizes = {1, 15, 16, 17, 100, 3};
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int off = 0, k = 0;
        while (off < in.length) {
            int n = Math.min(sizes[k++ % sizes.length], in.length - off);
            byte[] o = c.update(in, off, n);
            if (o != null) out.write(o);
            off += n;
        }
        out.write(c.doFinal());
        return out.toByteArray();
    }

    // ENCRYPT on the token (single-part and in pieces) equals SunJCE; SunJCE's ciphertext decrypts
    // on the token (single-part and in pieces).
    static void against(String transform, Key tokenKey, byte[] keyBytes, String keyAlg,
            java.security.spec.AlgorithmParameterSpec spec, byte[] data, byte[] aad) throws Exception {
        SecretKeySpec ref = new SecretKeySpec(keyBytes, keyAlg);
        Cipher j = Cipher.getInstance(transform, "SunJCE");
        j.init(Cipher.ENCRYPT_MODE, ref, spec);
        if (aad != null) j.updateAAD(aad);
        byte[] want = j.doFinal(data);
        // A new Cipher object for each use: SunPKCS11 refuses to encrypt twice with the same GCM
        // key and IV through one object.
        Cipher t = Cipher.getInstance(transform, p11);
        t.init(Cipher.ENCRYPT_MODE, tokenKey, spec);
        if (aad != null) t.updateAAD(aad);
        byte[] got = t.doFinal(data);
        require(Arrays.equals(got, want), transform + ": token ciphertext equals SunJCE's ("
            + got.length + " vs " + want.length + " bytes)");
        t = Cipher.getInstance(transform, p11);
        t.init(Cipher.ENCRYPT_MODE, tokenKey, spec);
        if (aad != null) t.updateAAD(aad);
        require(Arrays.equals(pieces(t, data), want), transform + ": in pieces, the same ciphertext");
        t = Cipher.getInstance(transform, p11);
        t.init(Cipher.DECRYPT_MODE, tokenKey, spec);
        if (aad != null) t.updateAAD(aad);
        require(Arrays.equals(t.doFinal(want), data), transform + ": token decrypts SunJCE's ciphertext");
        t = Cipher.getInstance(transform, p11);
        t.init(Cipher.DECRYPT_MODE, tokenKey, spec);
        if (aad != null) t.updateAAD(aad);
        require(Arrays.equals(pieces(t, want), data), transform + ": token decrypts it in pieces");
    }

    public static void main(String[] args) throws Exception {
        String cfg = args[0];
        char[] pin = args[1].toCharArray();
        p11 = Security.getProvider("SunPKCS11").configure(cfg);
        Security.addProvider(p11);
        KeyStore ks = KeyStore.getInstance("PKCS11", p11);
        ks.load(null, pin);
        System.out.println("# provider " + p11.getName() + ", Java " + System.getProperty("java.version"));

        Map<String, SecretKey> keys = new HashMap<>();
        sub("KeyStore finds the pkcs11-tool secret keys aes-known, aes-known128 as SecretKeyEntry", () -> {
            for (String a : new String[] {"aes-known", "aes-known128"}) {
                require(ks.containsAlias(a), "alias " + a + " listed: " + Collections.list(ks.aliases()));
                require(ks.entryInstanceOf(a, KeyStore.SecretKeyEntry.class), a + " is a SecretKeyEntry");
                Key k = ks.getKey(a, null);
                require(k instanceof SecretKey && k.getAlgorithm().equals("AES"), a + ": an AES key, got " + k);
                keys.put(a, (SecretKey) k);
            }
        });
        if (keys.size() != 2) {
            System.out.println("FAIL - no token keys, the other sub-checks need them");
            System.exit(1);
        }
        SecretKey k256 = keys.get("aes-known"), k128 = keys.get("aes-known128");
        byte[] b128 = Arrays.copyOf(KNOWN32, 16);
        byte[] iv16 = seq(16, 7, 1), iv12 = seq(12, 5, 2), aad = "header".getBytes(StandardCharsets.UTF_8);

        sub("Cipher AES/CBC/PKCS5Padding (AES-256, AES-128) equals SunJCE", () -> {
            against("AES/CBC/PKCS5Padding", k256, KNOWN32, "AES", new IvParameterSpec(iv16), DATA, null);
            against("AES/CBC/PKCS5Padding", k128, b128, "AES", new IvParameterSpec(iv16), DATA, null);
            against("AES/CBC/PKCS5Padding", k256, KNOWN32, "AES", new IvParameterSpec(iv16), new byte[0], null);
        });
        sub("Cipher AES/CBC/PKCS5Padding: a tampered last block is refused", () -> {
            Cipher j = Cipher.getInstance("AES/CBC/NoPadding", "SunJCE");
            j.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(KNOWN32, "AES"), new IvParameterSpec(iv16));
            byte[] bad = j.doFinal(seq(32, 0, 0)); // last block decrypts to zeros: no valid padding
            Cipher t = Cipher.getInstance("AES/CBC/PKCS5Padding", p11);
            t.init(Cipher.DECRYPT_MODE, k256, new IvParameterSpec(iv16));
            try {
                t.doFinal(bad);
                throw new AssertionError("bad padding accepted");
            } catch (BadPaddingException | IllegalBlockSizeException | ProviderException e) {
                System.out.println("# bad padding: " + e + (e.getCause() != null ? " (" + e.getCause() + ")" : ""));
            }
        });
        sub("Cipher AES/GCM/NoPadding (tag 128, 12-byte IV, AAD) equals SunJCE", () -> {
            against("AES/GCM/NoPadding", k256, KNOWN32, "AES", new GCMParameterSpec(128, iv12), DATA, aad);
            against("AES/GCM/NoPadding", k128, b128, "AES", new GCMParameterSpec(96, seq(16, 3, 3)), DATA, null);
        });
        sub("Cipher AES/GCM/NoPadding: a tampered ciphertext or AAD fails the tag check", () -> {
            Cipher j = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
            j.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(KNOWN32, "AES"), new GCMParameterSpec(128, iv12));
            j.updateAAD(aad);
            byte[] ct = j.doFinal(DATA);
            byte[] bad = ct.clone();
            bad[5] ^= 1;
            Cipher t = Cipher.getInstance("AES/GCM/NoPadding", p11);
            for (int i = 0; i < 2; i++) {
                t.init(Cipher.DECRYPT_MODE, k256, new GCMParameterSpec(128, iv12));
                t.updateAAD(i == 0 ? aad : "other".getBytes(StandardCharsets.UTF_8));
                try {
                    t.doFinal(i == 0 ? bad : ct);
                    throw new AssertionError(i == 0 ? "tampered ciphertext accepted" : "wrong AAD accepted");
                } catch (AEADBadTagException e) {
                    // the JCA's exception for CKR_ENCRYPTED_DATA_INVALID
                }
            }
        });
        sub("Cipher AES/CTR/NoPadding equals SunJCE", () -> {
            against("AES/CTR/NoPadding", k256, KNOWN32, "AES", new IvParameterSpec(iv16), DATA, null);
            // a counter block whose low 64 bits wrap within the message: the carry goes into the
            // high half (Java sends 128 counter bits; 63 blocks never wrap the whole counter)
            byte[] ctr = new byte[16];
            Arrays.fill(ctr, 8, 16, (byte) 0xff);
            ctr[15] = (byte) 0xf0;
            ctr[0] = 0x42;
            against("AES/CTR/NoPadding", k128, b128, "AES", new IvParameterSpec(ctr), DATA, null);
        });
        sub("Cipher AES/ECB/NoPadding equals SunJCE", () -> {
            against("AES/ECB/NoPadding", k256, KNOWN32, "AES", null, DATA1024, null);
            against("AES/ECB/NoPadding", k128, b128, "AES", null, DATA1024, null);
        });
        sub("Cipher AES/CBC/NoPadding of a partial block is refused", () -> {
            Cipher t = Cipher.getInstance("AES/CBC/NoPadding", p11);
            t.init(Cipher.ENCRYPT_MODE, k256, new IvParameterSpec(iv16));
            try {
                t.doFinal(DATA);
                throw new AssertionError("1000 bytes encrypted without padding");
            } catch (IllegalBlockSizeException | ProviderException e) {
                System.out.println("# partial block: " + e);
            }
        });

        byte[] des3 = seq(24, 11, 0x21);
        sub("Cipher DESede/CBC/PKCS5Padding with a KeyStore-stored DES3 key equals SunJCE", () -> {
            ks.setEntry("des3-known", new KeyStore.SecretKeyEntry(new SecretKeySpec(des3, "DESede")), null);
            require(ks.entryInstanceOf("des3-known", KeyStore.SecretKeyEntry.class), "des3-known stored");
            Key k = ks.getKey("des3-known", null);
            require(k instanceof SecretKey && k.getAlgorithm().equals("DESede"), "a DESede key, got " + k);
            against("DESede/CBC/PKCS5Padding", k, des3, "DESede", new IvParameterSpec(seq(8, 9, 4)), DATA, null);
            against("DESede/ECB/NoPadding", k, des3, "DESede", null, DATA1024, null);
        });
        sub("KeyGenerator DESede on the token, round trip", () -> {
            KeyGenerator g = KeyGenerator.getInstance("DESede", p11);
            SecretKey k = g.generateKey();
            Cipher t = Cipher.getInstance("DESede/CBC/PKCS5Padding", p11);
            t.init(Cipher.ENCRYPT_MODE, k, new IvParameterSpec(seq(8, 1, 1)));
            byte[] ct = t.doFinal(DATA);
            t.init(Cipher.DECRYPT_MODE, k, new IvParameterSpec(seq(8, 1, 1)));
            require(Arrays.equals(t.doFinal(ct), DATA), "round trip");
        });

        sub("KeyGenerator AES-256 on the token, stored in the KeyStore as aes-gen, round trip", () -> {
            KeyGenerator g = KeyGenerator.getInstance("AES", p11);
            g.init(256);
            SecretKey k = g.generateKey();
            require(k.getClass().getName().contains("P11"), "a token key, got " + k.getClass().getName());
            ks.setEntry("aes-gen", new KeyStore.SecretKeyEntry(k), null);
            Key s = ks.getKey("aes-gen", null);
            require(s instanceof SecretKey, "aes-gen read back, got " + s);
            Cipher t = Cipher.getInstance("AES/GCM/NoPadding", p11);
            t.init(Cipher.ENCRYPT_MODE, s, new GCMParameterSpec(128, iv12));
            byte[] ct = t.doFinal(DATA);
            require(ct.length == DATA.length + 16, "GCM ciphertext and tag");
            t.init(Cipher.DECRYPT_MODE, s, new GCMParameterSpec(128, iv12));
            require(Arrays.equals(t.doFinal(ct), DATA), "round trip");
        });

        // SunPKCS11 maps CKM_AES_CMAC to Mac "AESCMAC" only in newer JDKs (not in 17).
        if (p11.getService("Mac", "AESCMAC") == null) {
            System.out.println("# Mac AESCMAC: not offered by this JDK's SunPKCS11 (not checked)");
        } else {
            sub("Mac AESCMAC equals SunJCE-free RFC 4493 example 2", () -> {
                // RFC 4493 section 4, example 2: key 2b7e1516..., 16-byte message
                byte[] key = hex("2b7e151628aed2a6abf7158809cf4f3c");
                ks.setEntry("cmac", new KeyStore.SecretKeyEntry(new SecretKeySpec(key, "AES")), null);
                Mac m = Mac.getInstance("AESCMAC", p11);
                m.init(ks.getKey("cmac", null));
                byte[] got = m.doFinal(hex("6bc1bee22e409f96e93d7e117393172a"));
                require(Arrays.equals(got, hex("070a16b46b4d4144f79bdd9dd04a287c")), "RFC 4493 example 2");
            });
        }

        System.out.println(failures == 0 ? "# all passed" : "# " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }

    static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }
}
