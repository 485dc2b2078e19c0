// A TLS server whose key is a token key entry, through SunPKCS11 and SunJSSE, for
// conformance/checks/java-sunpkcs11.sh ("java: TLS server with the token key").
//
// Usage: java TlsServer CONFIG PIN ALIAS N
//   CONFIG: a SunPKCS11 configuration (name, library, slot); PIN: the user PIN;
//   ALIAS: the key entry the server presents (only that one); N: connections to serve.
// Loads the PKCS11 KeyStore, builds a SunX509 KeyManagerFactory on it, listens on 127.0.0.1 port 0
// and prints "PORT <port>". For each of N connections (accept timeout 20 s): reads one line and
// answers "echo: <line>", then closes. Prints "served <i>" per connection, exits 0 after N,
// 1 on any error.
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.security.*;
import java.security.cert.X509Certificate;
import javax.net.ssl.*;

public class TlsServer {
    // The key manager of the KeyManagerFactory, limited to one alias.
    static final class OneAlias extends X509ExtendedKeyManager {
        final X509ExtendedKeyManager km;
        final String alias;
        OneAlias(X509ExtendedKeyManager km, String alias) { this.km = km; this.alias = alias; }
        private String pick(String keyType) {
            PrivateKey k = km.getPrivateKey(alias);
            if (k == null) return null;
            String a = k.getAlgorithm();
            return keyType.equals(a) ? alias : null;  // "RSA" (also for rsa_pss_rsae) or "EC"
        }
        public String[] getClientAliases(String t, Principal[] i) { return null; }
        public String chooseClientAlias(String[] t, Principal[] i, Socket s) { return null; }
        public String[] getServerAliases(String t, Principal[] i) {
            String a = pick(t);
            return a == null ? null : new String[] {a};
        }
        public String chooseServerAlias(String t, Principal[] i, Socket s) { return pick(t); }
        public String chooseEngineServerAlias(String t, Principal[] i, SSLEngine e) { return pick(t); }
        public X509Certificate[] getCertificateChain(String a) { return km.getCertificateChain(a); }
        public PrivateKey getPrivateKey(String a) { return km.getPrivateKey(a); }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: TlsServer CONFIG PIN ALIAS N");
            System.exit(2);
        }
        String cfg = args[0], alias = args[2];
        char[] pin = args[1].toCharArray();
        int n = Integer.parseInt(args[3]);
        Provider p11 = Security.getProvider("SunPKCS11").configure(cfg);
        Security.addProvider(p11);
        KeyStore ks = KeyStore.getInstance("PKCS11", p11);
        ks.load(null, pin);
        if (!ks.isKeyEntry(alias)) throw new IllegalStateException("no key entry " + alias);
        System.out.println("# key entry " + alias + ": " + ks.getKey(alias, pin).getAlgorithm());
        KeyManagerFactory kmf = KeyManagerFactory.getInstance("SunX509");
        kmf.init(ks, pin);
        X509ExtendedKeyManager km = null;
        for (KeyManager m : kmf.getKeyManagers())
            if (m instanceof X509ExtendedKeyManager) km = (X509ExtendedKeyManager) m;
        if (km == null) throw new IllegalStateException("no X509ExtendedKeyManager");
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(new KeyManager[] {new OneAlias(km, alias)}, null, null);
        try (SSLServerSocket ss = (SSLServerSocket) ctx.getServerSocketFactory()
                .createServerSocket(0, 4, InetAddress.getByName("127.0.0.1"))) {
            ss.setEnabledProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
            ss.setSoTimeout(20000);
            System.out.println("PORT " + ss.getLocalPort());
            System.out.flush();
            for (int i = 1; i <= n; i++) {
                try (SSLSocket s = (SSLSocket) ss.accept()) {
                    s.setSoTimeout(20000);
                    BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                    String line = r.readLine();
                    SSLSession sess = s.getSession();
                    System.out.println("# connection " + i + ": " + sess.getProtocol() + " " + sess.getCipherSuite()
                        + ", read: " + line);
                    Writer w = new OutputStreamWriter(s.getOutputStream(), StandardCharsets.UTF_8);
                    w.write("echo: " + line + "\n");
                    w.flush();
                }
                System.out.println("served " + i);
                System.out.flush();
            }
        }
        System.out.println("done");
    }
}
