public import BackupCore
public import BackupModel
import BackupPOSIX
import Foundation
import X509

/// The built-in `certificates` plugin: backs up a certificate, its private key and an optional chain
/// like `fileset`, and before a restore changes anything checks that the key matches the certificate
/// and warns when the certificate has expired or expires soon.
///
/// Example parameters: `{"certificate": "etc/flowgateway/certs/server.crt", "key": "etc/flowgateway/certs/server.key"}`.
public struct CertificatesPlugin: ComponentPlugin {
    public let id = "certificates"
    public let version = "1.0.0"
    public let summary = "An X.509 certificate, its private key and chain; checks they match before restoring"
    public let origin = PluginOrigin.builtIn
    public let parameterSchema = ParameterSchema([
        "certificate": .init(type: .string, required: true, path: true, description: "PEM certificate"),
        "key": .init(type: .string, required: true, path: true, description: "PEM private key of the certificate"),
        "chain": .init(type: .array, path: true, description: "further files: CA chain, CSR, …"),
    ])

    /// Parameters that a test runs, as documentation that cannot go stale.
    public static let exampleParameters: [String: JSONValue] = [
        "certificate": .string("etc/flowgateway/certs/server.crt"),
        "key": .string("etc/flowgateway/certs/server.key"),
    ]

    /// How close to expiry a certificate draws a warning.
    static let expiryWarning: TimeInterval = 30 * 86400

    public init() {}

    public func collect(_ context: PluginContext) async throws -> PluginReport {
        let fileSet = Self.fileSet(context.parameters)
        return try await Blocking.run { try fileSet.collect(root: context.applianceRoot, staging: context.stagingDirectory) }
    }

    public var offersVerify: Bool { true }

    public func verify(_ context: PluginContext) async throws -> PluginReport {
        guard let certificate = context.parameters["certificate"]?.stringValue,
              let key = context.parameters["key"]?.stringValue
        else { throw BackupError(.invalidManifest, "parameters 'certificate' and 'key' are required") }
        _ = try Self.fileSet(context.parameters).checkStaged(staging: context.stagingDirectory)
        return try Self.check(
            certificate: FileSet.join(context.stagingDirectory, certificate),
            key: FileSet.join(context.stagingDirectory, key),
            now: Date())
    }

    public func restore(_ context: PluginContext) async throws -> PluginReport {
        let fileSet = Self.fileSet(context.parameters)
        return try await Blocking.run { try fileSet.restore(root: context.applianceRoot, staging: context.stagingDirectory, isRollback: context.isRollback) }
    }

    static func fileSet(_ parameters: [String: JSONValue]) -> FileSet {
        let paths = [parameters["certificate"]?.stringValue, parameters["key"]?.stringValue].compactMap { $0 }
        return FileSet(patterns: paths + (parameters["chain"]?.stringArrayValue ?? []))
    }

    /// Checks that the PEM key at `key` belongs to the PEM certificate at `certificate`; returns
    /// expiry warnings. A certificate that was absent at backup time is not checked.
    package static func check(certificate certificatePath: String, key keyPath: String, now: Date) throws -> PluginReport {
        guard try FileStatus.of(certificatePath) != nil else {
            return PluginReport(warnings: ["no certificate in this backup; nothing to check"])
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: String(decoding: try FileTree.readStagedFile(certificatePath, limit: 1 << 20), as: UTF8.self))
        } catch {
            throw BackupError(.corrupted, "the certificate is not a valid PEM X.509 certificate: \(error)")
        }
        guard try FileStatus.of(keyPath) != nil else {
            throw BackupError(.corrupted, "the backup has the certificate but not its private key")
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: String(decoding: try FileTree.readStagedFile(keyPath, limit: 1 << 20), as: UTF8.self))
        } catch {
            throw BackupError(.corrupted, "the private key is not a valid PEM key: \(error)")
        }
        guard key.publicKey == certificate.publicKey else {
            throw BackupError(.corrupted, "the private key does not match the certificate (subject \(certificate.subject))")
        }
        var warnings: [String] = []
        if certificate.notValidAfter < now {
            warnings.append("the certificate (subject \(certificate.subject)) expired on \(ISO8601DateFormatter().string(from: certificate.notValidAfter))")
        } else if certificate.notValidAfter < now.addingTimeInterval(expiryWarning) {
            warnings.append("the certificate (subject \(certificate.subject)) expires on \(ISO8601DateFormatter().string(from: certificate.notValidAfter))")
        }
        return PluginReport(warnings: warnings)
    }
}
