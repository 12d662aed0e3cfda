import Crypto
import _CryptoExtras
import Foundation
import PorticoCore

/// Generation and digests of secrets (comparison is `constantTimeEquals` in PorticoCore). Randomness comes from the system CSPRNG.
public enum Secrets {
    /// `byteCount` random bytes as lower-case hex.
    public static func randomHex(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// An access token value as porta issues them: 96 hex characters.
    public static func newAccessTokenValue() -> String { randomHex(byteCount: 48) }

    /// How token values are kept: only their SHA-384, like porta's `SHA384$<hex>`.
    public static func tokenDigest(_ value: String) -> String {
        hex(Array(SHA384.hash(data: Array(value.utf8))))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Slow, salted password hashing: PBKDF2-HMAC-SHA512 with 210,000 rounds (OWASP's 2023 figure).
public enum PasswordHasher {
    public static let rounds = 210_000

    public static func hash(_ password: String) throws -> String {
        let salt = Secrets.randomHex(byteCount: 16)
        let derived = try derive(password, salt: salt, rounds: rounds)
        return "pbkdf2-sha512$\(rounds)$\(salt)$\(derived)"
    }

    public static func verify(_ password: String, digest: String) -> Bool {
        let parts = digest.split(separator: "$").map(String.init)
        guard parts.count == 4, parts[0] == "pbkdf2-sha512", let rounds = Int(parts[1]), rounds > 0,
            let derived = try? derive(password, salt: parts[2], rounds: rounds)
        else { return false }
        return constantTimeEquals(derived, parts[3])
    }

    private static func derive(_ password: String, salt: String, rounds: Int) throws -> String {
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: Array(salt.utf8), using: .sha512,
                                                     outputByteCount: 32, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Secrets.hex(Array($0)) }
    }
}
