import Foundation

/// The one copy of the published test vectors (Wycheproof, Standard Webhooks, Http11Probe), with
/// their licences beside them, shared by every test target.
public enum TestVectors {
    /// The vector file `name.ext`, nil if it is not there.
    public static func url(_ name: String, withExtension ext: String) -> URL? {
        Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Vectors")
    }
}
