import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import GatewayClient

/// A running `gwbackup serve` to drive over the API instead of this machine.
struct ServerOptions: ParsableArguments {
    @Option(help: "Drive the gwbackup server at https://HOST[:PORT] over the API (status, backup and restore).")
    var server: String?

    @Option(name: .customLong("api-user"), help: "API user (or set GWBACKUP_API_USER).")
    var apiUser: String?

    @Option(name: .customLong("api-password-file"), help: "File holding the API password (or set GWBACKUP_API_PASSWORD, or type it at the prompt).")
    var apiPasswordFile: String?

    @Option(name: .customLong("ca-cert"), help: "PEM certificate to trust for the server, e.g. its STATE/tls/server.crt.")
    var caCertificate: String?

    @Flag(help: "Do not verify the server's certificate.")
    var insecure = false

    /// True when a command should go to a server.
    var isRemote: Bool { self.server != nil }

    func validate() throws {
        if self.server == nil && (self.apiUser != nil || self.apiPasswordFile != nil || self.caCertificate != nil || self.insecure) {
            throw ValidationError("--api-user, --api-password-file, --ca-cert and --insecure go with --server")
        }
        if self.insecure && self.caCertificate != nil {
            throw ValidationError("--insecure and --ca-cert contradict each other; choose one")
        }
    }

    /// Runs `body` with a client of the server, closing it afterwards whatever happens. The URL and
    /// user are checked before the API password is read (file, environment or prompt).
    func withClient<T>(_ body: (APIClient) async throws -> T) async throws -> T {
        guard let server else { throw BackupError(.invalidInput, "no --server given") }
        guard let user = self.apiUser ?? SecretInput.environmentValue("GWBACKUP_API_USER") else {
            throw BackupError(.invalidInput, "--server needs --api-user (or GWBACKUP_API_USER)")
        }
        _ = try APIClientConfiguration.baseURL(server)
        let password = try SecretInput.read(
            file: self.apiPasswordFile, environment: "GWBACKUP_API_PASSWORD", prompt: "API password for \(user): ")
        let client = try APIClient(
            try APIClientConfiguration(
                server: server, user: user, password: password, insecure: self.insecure,
                trustedCertificates: self.caCertificate.map(Paths.absolute)))
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }
}
