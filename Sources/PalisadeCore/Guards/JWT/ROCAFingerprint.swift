/// Recognises RSA moduli made by Infineon's RSALib (ROCA, CVE-2017-15361; Nemec et al., CCS 2017),
/// whose private keys can be recovered from the public key alone. RSALib builds each prime as
/// k·M + (65537^a mod M), M a product of small primes, so for every small prime p the modulus
/// mod p lies in the subgroup that 65537 generates mod p. A random modulus does so for all the
/// primes below with probability about 2^-28; RSALib moduli always do. The prime list is the one
/// the paper's detector (roca-detect) uses.
enum ROCAFingerprint {
    static let primes = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103,
        107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ]

    /// For each prime, indexed by residue: whether 65537 generates it. Derived rather than copied
    /// from the detector's bitmasks, so there is no table to mistype.
    private static let subgroups: [[Bool]] = primes.map { p in
        var members = [Bool](repeating: false, count: p)
        let generator = 65537 % p
        var power = 1
        repeat {
            members[power] = true
            power = power * generator % p
        } while power != 1
        return members
    }

    /// Whether the big-endian `modulus` has the fingerprint.
    static func matches(modulus: some Collection<UInt8>) -> Bool {
        for (p, members) in zip(primes, subgroups) {
            var residue = 0
            for byte in modulus { residue = (residue << 8 | Int(byte)) % p }
            if !members[residue] { return false }
        }
        return true
    }
}
