import Foundation

/// Reads every declared secret when a plan is compiled (start and reload), so a missing variable
/// or unreadable file is a load error with the secret's position, never a request-time surprise.
enum SecretResolver {
    static func resolve(_ secrets: [String: SecretSpec], file: String) throws -> [String: [Secret]] {
        var resolved: [String: [Secret]] = [:]
        var errors: [PolicyDiagnostic] = []
        func fail(_ spec: SecretSpec, _ message: String) {
            errors.append(.init(severity: .error, file: file, position: spec.position, message: message))
        }
        for spec in secrets.values.sorted(by: { $0.name < $1.name }) {
            switch spec.source {
            case .env(let names):
                var values: [Secret] = []
                for name in names {
                    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                        fail(spec, "environment variable \(name) (secret '\(spec.name)') is not set or empty")
                        continue
                    }
                    values.append(Secret(Array(value.utf8)))
                }
                resolved[spec.name] = values
            case .file(let path):
                var bytes: [UInt8]
                do throws(BoundedFile.Failure) {
                    bytes = try BoundedFile.contents(of: path)
                } catch {
                    fail(spec, error.message("secret file \(path) (secret '\(spec.name)')"))
                    continue
                }
                // Secret files written by editors and `echo` end in a newline that is not part of the key.
                while let last = bytes.last, last == 0x0a || last == 0x0d { bytes.removeLast() }
                guard !bytes.isEmpty else {
                    fail(spec, "secret file \(path) is empty")
                    continue
                }
                resolved[spec.name] = [Secret(bytes)]
            case .inline(let value):
                resolved[spec.name] = [Secret(Array(value.utf8))]
            }
        }
        if !errors.isEmpty { throw PolicyLoadError(diagnostics: errors) }
        return resolved
    }
}
