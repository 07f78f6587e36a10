import BackupCore
import BackupCertificates
import BackupRuntime
import Foundation
public import Hummingbird
import HummingbirdTLS
public import Logging
import NIOSSL

/// The HTTPS server of the Backup/Restore API: `buildApplication` is shared by `gwbackup serve` and
/// the tests.
public enum GatewayServer {
    /// Builds the application: TLS (a configured certificate or a self-signed one kept in the state
    /// directory), the routes, authentication against the users file.
    public static func buildApplication(
        configuration: APIConfiguration, runtime: BackupRuntime, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        try runtime.status.prepare()
        // A job left EXECUTING by a previous run of the server was interrupted.
        try runtime.status.recoverInterrupted()
        let tls = try self.tlsConfiguration(configuration)
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: RequestLogMiddleware())
        let supervisor = JobSupervisor(logger: logger)
        BackupAPIController(
            runtime: runtime, configuration: configuration,
            authenticator: BasicAuthenticator(users: UserStore(path: configuration.resolvedUsersFile)),
            supervisor: supervisor
        ).addRoutes(to: router)
        let (host, port) = try configuration.address()
        return Application(
            responder: APIResponder(router: router.buildResponder()),
            server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname(host, port: port), serverName: "gwbackup"),
            // Shut down after the HTTP server: no new job can start while the running one stops.
            services: [supervisor],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// The server's TLS configuration; makes and keeps a self-signed certificate when none is set.
    static func tlsConfiguration(_ configuration: APIConfiguration) throws -> TLSConfiguration {
        var certificatePath = configuration.certificate
        var keyPath = configuration.privateKey
        if certificatePath == nil || keyPath == nil {
            let directory = configuration.stateDirectory + "/tls"
            certificatePath = directory + "/server.crt"
            keyPath = directory + "/server.key"
            if try FileStatus.of(certificatePath ?? "") == nil {
                try FileTree.makeDirectories(directory, mode: 0o700)
                let made = try SelfSignedCertificate.make(commonName: ProcessInfo.processInfo.hostName, dnsNames: ["localhost"])
                try FileTree.writeAtomically(Data(made.privateKeyPEM.utf8), to: keyPath ?? "", mode: 0o600)
                try FileTree.writeAtomically(Data(made.certificatePEM.utf8), to: certificatePath ?? "", mode: 0o644)
            }
        }
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(certificatePath ?? "")
            let key = try NIOSSLPrivateKey(file: keyPath ?? "", format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
        } catch {
            throw BackupError(.invalidInput, "cannot load the TLS certificate \(certificatePath ?? "") or key \(keyPath ?? ""): \(error)")
        }
    }
}
