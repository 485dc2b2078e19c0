// Signs with the keys a Java application gets from SunPKCS11's KeyStore under aliases (key family
// names: the newest version's CKA_LABEL), for tests/key_java.rs.
// Usage: java KeyRotationCheck CONFIG PIN MESSAGE ALIAS...
// Prints "ALIASES a,b,..." (sorted), then per alias "SIG <alias> <hex>": HmacSHA256 for a secret
// key, SHA256withRSA or SHA256withECDSAinP1363Format (r || s, as PKCS#11 has it) for a private key.
import java.nio.charset.StandardCharsets;
import java.security.Key;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.SecretKey;

public class KeyRotationCheck {
    public static void main(String[] a) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(a[0]);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, a[1].toCharArray());
        List<String> aliases = new ArrayList<>(Collections.list(ks.aliases()));
        Collections.sort(aliases);
        System.out.println("ALIASES " + String.join(",", aliases));
        byte[] msg = a[2].getBytes(StandardCharsets.UTF_8);
        for (int i = 3; i < a.length; i++) {
            String alias = a[i];
            Key k = ks.getKey(alias, null);
            if (k == null) {
                System.out.println("NOKEY " + alias);
                System.exit(3);
            }
            byte[] sig;
            if (k instanceof SecretKey) {
                Mac m = Mac.getInstance("HmacSHA256", p);
                m.init(k);
                sig = m.doFinal(msg);
            } else if (k instanceof PrivateKey) {
                String alg = k.getAlgorithm().equals("EC") ? "SHA256withECDSAinP1363Format" : "SHA256withRSA";
                Signature s = Signature.getInstance(alg, p);
                s.initSign((PrivateKey) k);
                s.update(msg);
                sig = s.sign();
            } else {
                throw new IllegalStateException("unexpected key " + k);
            }
            StringBuilder h = new StringBuilder();
            for (byte b : sig) h.append(String.format("%02x", b));
            System.out.println("SIG " + alias + " " + h);
        }
    }
}
