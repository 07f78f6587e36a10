import AsyncHTTPClient
public import BackupModel
import Foundation
public import GatewayWire
import NIOCore
import NIOHTTP1
import NIOSSL

/// A client of the Backup/Restore API v1.0 over HTTPS: the status of both jobs, and starting one.
///
/// Every failure is a `BackupError` whose message names the server and says what to do; the
/// password never appears in one. Call `shutdown()` when done.
public final class APIClient: Sendable {
    /// The path of the service, as the API document gives it.
    public static let servicePath = "/api/mgmt.gateway_backup/1.0"
    /// Answers larger than this are not read (a status is a few kilobytes).
    static let maxAnswerBytes = 4 << 20

    public let configuration: APIClientConfiguration
    private let http: HTTPClient
    private let authorization: String

    public init(_ configuration: APIClientConfiguration) throws {
        self.configuration = configuration
        var tls = TLSConfiguration.makeClientConfiguration()
        if configuration.insecure {
            tls.certificateVerification = .none
        } else if let file = configuration.trustedCertificates {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw BackupError(.invalidInput, "cannot read the certificates to trust from \(file): \(error)")
            }
        }
        var http = HTTPClient.Configuration(
            tlsConfiguration: tls,
            // Credentials go with every request: never follow a redirect to somewhere else.
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(30)))
        http.httpVersion = .http1Only
        // A refused connection fails the request at once; the follower decides about retrying, so a
        // server that is down is reported in seconds rather than after the request timeout.
        http.connectionPool.retryConnectionEstablishment = false
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
        self.authorization = "Basic " + Data("\(configuration.user):\(configuration.password.revealed)".utf8).base64EncodedString()
    }

    /// Closes the connections.
    public func shutdown() async {
        try? await self.http.shutdown()
    }

    /// `GET …/backup`: the last successful backup and the latest one started.
    public func backupStatus() async throws -> BackupStatus {
        let data = try await self.send(.GET, "backup")
        do {
            return try WireBackupStatus.decodeAnswer(data).status
        } catch {
            throw self.unreadable("GET backup", error)
        }
    }

    /// `GET …/restore`: the latest restore.
    public func restoreStatus() async throws -> JobRecord {
        let data = try await self.send(.GET, "restore")
        do {
            return try JSONDecoder().decode(WireJobRecord.self, from: data).record
        } catch {
            throw self.unreadable("GET restore", error)
        }
    }

    /// `GET …/restore/preview` (an extension): the latest restore preview.
    public func previewStatus() async throws -> JobRecord {
        let data = try await self.send(.GET, JobKind.preview.resource)
        do {
            return try JSONDecoder().decode(WireJobRecord.self, from: data).record
        } catch {
            throw self.unreadable("GET restore/preview", error)
        }
    }

    /// The latest record of `kind`.
    public func status(of kind: JobKind) async throws -> JobRecord {
        switch kind {
        case .backup: try await self.backupStatus().running
        case .restore: try await self.restoreStatus()
        case .preview: try await self.previewStatus()
        }
    }

    /// `POST …/backup`, `…/restore` or `…/restore/preview`: the server starts the job in the background.
    public func start(_ kind: JobKind, _ request: WireJobRequest) async throws {
        _ = try await self.send(.POST, kind.resource, body: try JSONEncoder().encode(request))
    }

    /// `GET …/rekey` (an extension): the latest password rotation.
    public func rekeyStatus() async throws -> RekeyRecord {
        let data = try await self.send(.GET, "rekey")
        do {
            return try JSONDecoder().decode(RekeyRecord.self, from: data)
        } catch {
            throw self.unreadable("GET rekey", error)
        }
    }

    /// `POST …/rekey` (an extension): the server starts a rotation in the background.
    public func startRekey(_ request: WireRekeyRequest) async throws {
        _ = try await self.send(.POST, "rekey", body: try JSONEncoder().encode(request))
    }

    /// Sends one request; a non-2xx answer becomes an error carrying the server's `error_text`.
    private func send(_ method: HTTPMethod, _ resource: String, body: Data? = nil) async throws -> Data {
        let url = "\(self.configuration.baseURL)\(Self.servicePath)/\(resource)"
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: self.authorization)
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let answer: ByteBuffer
        let status: HTTPResponseStatus
        do {
            let timeout = self.configuration.requestTimeout.components
            let response = try await self.http.execute(request, timeout: .seconds(timeout.seconds))
            status = response.status
            answer = try await response.body.collect(upTo: Self.maxAnswerBytes)
        } catch {
            throw self.connectionError(error)
        }
        let data = Data(answer.readableBytesView)
        guard (200..<300).contains(status.code) else {
            throw APIErrorAnswer.decode(data, status: status, server: self.configuration.baseURL)
        }
        return data
    }

    private func unreadable(_ request: String, _ error: any Error) -> BackupError {
        BackupError(.system, "\(self.configuration.baseURL) answered \(request) with something that is not this API's status: \(JSONCoding.describe(error))")
    }

    /// A message for a failure to reach the server, with the likely fix.
    private func connectionError(_ error: any Error) -> BackupError {
        let text = String(describing: error)
        let server = self.configuration.baseURL
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return BackupError(.connection, "cannot connect to \(server): its certificate is not trusted (\(text)); pass --ca-cert with the server's certificate (STATE/tls/server.crt for a self-signed one), or --insecure")
        }
        if text.localizedCaseInsensitiveContains("hostname") && text.localizedCaseInsensitiveContains("mismatch") || text.contains("unableToValidateCertificate") {
            return BackupError(.connection, "cannot connect to \(server): its certificate does not name this host (\(text)); use the host name the certificate was made for, or --insecure")
        }
        return BackupError(.connection, "cannot reach \(server): \(text)")
    }
}
