import Foundation

/// An HTTPS server run by Python's `ssl` and `http.server`, with a private CA and a server
/// certificate for `localhost` made by `cryptography`: a TLS peer independent of NIOSSL. It
/// serves one document at every path until `stop()`.
public final class PythonTLSServer: @unchecked Sendable {
    static let script = #"""
        import datetime, http.server, os, ssl, sys, threading
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        directory, document = sys.argv[1], sys.argv[2].encode()
        now = datetime.datetime.now(datetime.timezone.utc)
        def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (x509.CertificateBuilder().subject_name(name("palisade test CA")).issuer_name(name("palisade test CA"))
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                  key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress
        cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
        open(os.path.join(directory, "ca.pem"), "wb").write(pem(ca))
        open(os.path.join(directory, "server.pem"), "wb").write(pem(cert))
        open(os.path.join(directory, "server.key"), "wb").write(key.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)
            def log_message(self, *args): pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(directory, "server.pem"), os.path.join(directory, "server.key"))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(server.server_address[1], flush=True)
        sys.stdin.read()  # serve until the test closes stdin
        """#

    private let server: PythonServerProcess
    public let port: Int
    /// The private CA that signed the server's certificate.
    public let caFile: String

    public init(document: String) throws {
        let directory = try TemporaryFiles.directory("palisade-tls")
        let server = try PythonServerProcess(script: Self.script, arguments: [directory.path, document])
        guard let ports = server.ports(1) else { throw Python.Failure(message: "the TLS server did not start") }
        self.server = server
        self.port = ports[0]
        self.caFile = directory.appendingPathComponent("ca.pem").path
    }

    public func stop() { server.stop() }
}
