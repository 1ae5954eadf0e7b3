import Foundation

/// Tokens minted by PyJWT with keys made by Python's `cryptography`: an implementation
/// independent of Palisade's JOSE code. `keys()` makes an RSA, a P-256 and an Ed25519 key and
/// their JWKS; `mint` signs claims with one of them (or with an HMAC secret).
public enum PythonJWT {
    static let script = #"""
        import base64, json, sys, jwt
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519
        r = json.load(sys.stdin)
        def pem(k): return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        if r["op"] == "keys":
            ks = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
                  "ec": ec.generate_private_key(ec.SECP256R1()), "ed": ed25519.Ed25519PrivateKey.generate()}
            jwks = []
            for kid, k in ks.items():
                j = json.loads(jwt.algorithms.get_default_algorithms()[{"rsa": "RS256", "ec": "ES256", "ed": "EdDSA"}[kid]].to_jwk(k.public_key()))
                j["kid"] = kid
                jwks.append(j)
            pub = ks["rsa"].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            print(json.dumps({"jwks": {"keys": jwks}, "pems": {k: pem(v) for k, v in ks.items()}, "rsa_public_pem": pub}))
        else:
            key = r.get("pem") or r["secret"]
            headers = dict(r.get("headers", {}))
            if r.get("kid"): headers["kid"] = r["kid"]
            print(jwt.encode(r["claims"], key, algorithm=r["alg"], headers=headers))
        """#

    public struct Keys: Sendable {
        public var jwksJSON: String
        public var pems: [String: String]
        public var rsaPublicPEM: String
    }

    static func run(_ input: [String: Any]) throws -> String {
        try Python.run(script, input: try JSONSerialization.data(withJSONObject: input))
    }

    public static func keys() throws -> Keys {
        let text = try run(["op": "keys"])
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        let jwks = try JSONSerialization.data(withJSONObject: object["jwks"]!)
        return Keys(
            jwksJSON: String(decoding: jwks, as: UTF8.self), pems: object["pems"] as! [String: String],
            rsaPublicPEM: object["rsa_public_pem"] as! String
        )
    }

    public static func mint(
        alg: String, pem: String? = nil, secret: String? = nil, kid: String? = nil, claims: [String: Any],
        headers: [String: Any] = [:]
    ) throws -> String {
        var input: [String: Any] = ["op": "mint", "alg": alg, "claims": claims, "headers": headers]
        if let pem { input["pem"] = pem }
        if let secret { input["secret"] = secret }
        if let kid { input["kid"] = kid }
        return try run(input)
    }
}
