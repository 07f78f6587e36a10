import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// The API server under hostile clients (issue 9): idle and trickling connections, floods of
/// connections, old TLS, requests an HTML form can send, control characters, paths outside the
/// allowed directories, and state that others can write.
@Suite("API server hardening")
struct APIHardeningTests {
    static let base = APIServerTests.base

    /// Runs a Python snippet (the standard library's socket and ssl) against the server's port.
    func python(_ script: String, port: Int) throws -> String {
        try shell("python3 - <<'PY'\nimport socket, ssl, time, sys\nPORT = \(port)\n\(script)\nPY").output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func idleAndTricklingConnectionsAreClosed() async throws {
        let server = try await APIServer.start(try APIServerTests().fixture()) {
            $0.idleTimeoutSeconds = 2
            $0.requestHeadTimeoutSeconds = 2
        }
        // A TCP connection that never sends a byte (never starts TLS).
        let idle = try self.python("""
            s = socket.create_connection(("127.0.0.1", PORT)); s.settimeout(15); start = time.time()
            data = s.recv(1); print("closed" if data == b"" else "data", round(time.time() - start))
            """, port: server.port)
        #expect(idle.hasPrefix("closed"), "\(idle)")
        // A TLS connection that sends its request head one byte a second.
        let trickle = try self.python("""
            context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
            s = context.wrap_socket(socket.create_connection(("127.0.0.1", PORT)))
            start = time.time(); result = "open"
            try:
                for byte in b"GET /api/common/1.0/services HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n":
                    s.send(bytes([byte])); time.sleep(1)
                    if time.time() - start > 15: break
                s.settimeout(5); data = s.recv(100)
                result = "answered" if data else "closed"
            except (OSError, ssl.SSLError):
                result = "closed"
            print(result, round(time.time() - start))
            """, port: server.port)
        #expect(trickle.hasPrefix("closed"), "\(trickle)")
        // The server still serves a normal client.
        #expect(try await server.call("GET", "/api/common/1.0/services", user: nil).status == 200)
        await server.stop()
    }

    @Test(arguments: [
        "GARBAGE\\r\\n\\r\\n",
        "GET / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n",
        "GET / HTTP/1.1\\r\\nHost: x\\r\\nX-Big: " + String(repeating: "a", count: 100_000) + "\\r\\n\\r\\n",
    ])
    func requestsHTTPCannotParseGetTheDocumentedEnvelope(request: String) async throws {
        let server = try await APIServer.start(try APIServerTests().fixture())
        let answer = try self.python("""
            context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
            s = context.wrap_socket(socket.create_connection(("127.0.0.1", PORT))); s.settimeout(10)
            s.sendall(b"\(request)")
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    data += chunk
            except (OSError, ssl.SSLError):
                pass
            print(data.decode(errors="replace").replace("\\r", ""))
            """, port: server.port)
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(300))")
        #expect(answer.contains("application/json") && answer.contains(#""error_id":"BAD_REQUEST""#), "\(answer.prefix(400))")
        await server.stop()
    }

    @Test func connectionsBeyondTheLimitAreClosedAndTheServerStaysUsable() async throws {
        let server = try await APIServer.start(try APIServerTests().fixture()) { $0.maxConnections = 5 }
        let outcome = try self.python("""
            held = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(12)]
            time.sleep(1); closed = 0
            for s in held:
                s.settimeout(0.5)
                try:
                    if s.recv(1) == b"": closed += 1
                except socket.timeout:
                    pass
                except OSError:
                    closed += 1
            print(closed)
            for s in held: s.close()
            """, port: server.port)
        #expect(Int(outcome) ?? 0 >= 7, "connections over the limit of 5 are closed at once: \(outcome)")
        #expect(try await server.call("GET", "/api/common/1.0/services", user: nil).status == 200)
        await server.stop()
    }

    @Test func tlsOlderThan12IsRefused() async throws {
        let server = try await APIServer.start(try APIServerTests().fixture())
        // The client is allowed to speak TLS 1.1 (security level 0); the server must refuse it.
        let old = try shell("openssl s_client -connect 127.0.0.1:\(server.port) -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1")
        #expect(old.status != 0, "\(old.output)")
        let modern = try shell("openssl s_client -connect 127.0.0.1:\(server.port) -tls1_2 </dev/null 2>&1")
        #expect(modern.status == 0 && modern.output.contains("TLSv1.2"), "\(modern.output)")
        // TLS 1.2 with a CBC suite and a SHA-1 MAC: refused; the AEAD suites only.
        let cbc = try shell("openssl s_client -connect 127.0.0.1:\(server.port) -tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA' </dev/null 2>&1")
        #expect(cbc.status != 0, "\(cbc.output)")
        let gcm = try shell("openssl s_client -connect 127.0.0.1:\(server.port) -tls1_2 -cipher 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256' </dev/null 2>&1")
        #expect(gcm.status == 0 && gcm.output.contains("GCM"), "\(gcm.output)")
        await server.stop()
    }

    @Test(arguments: [
        (#"{"hostname":"localhost\u0000.evil.example","security_pwd":"x"}"#, "field 'hostname' contains a control character"),
        (#"{"hostname":"localhost","security_pwd":"x","path":"/etc"}"#, "field 'path' must lie in"),
        (#"{"hostname":"localhost","security_pwd":"x","path":"/tmp/../etc"}"#, "must not contain '.' or '..'"),
        (#"{"hostname":"localhost","security_pwd":"x","path":"/mnt/x\nforged line"}"#, "field 'path' contains a control character"),
    ])
    func hostileFieldsAreRefused(body: String, expected: String) async throws {
        let fixture = try APIServerTests().fixture()
        let server = try await APIServer.start(fixture)
        let answer = try await server.call("POST", "\(Self.base)/backup", body: body)
        #expect(answer.status == 400 && answer.object["error_id"] as? String == "BAD_REQUEST", "\(answer.body)")
        #expect((answer.object["error_text"] as? String ?? "").contains(expected), "\(answer.body)")
        #expect(try FileTree.names(in: "/etc").allSatisfy { !$0.hasPrefix("flowgateway-") })
        await server.stop()
    }

    @Test func aPathInsideTheAllowedDirectoriesIsAccepted() async throws {
        let fixture = try APIServerTests().fixture()
        let server = try await APIServer.start(fixture) { $0.localBackupDirectories = [fixture.directory.path] }
        let answer = try await server.call("POST", "\(Self.base)/backup", body: #"{"hostname":"localhost","security_pwd":"pw","path":"\#(fixture.directory.sub("nightly"))"}"#)
        #expect(answer.status == 204, "\(answer.body)")
        let record = try await server.waitForJob("\(Self.base)/backup")
        #expect(record["status"] as? String == "COMPLETED", "\(record)")
        await server.stop()
    }

    @Test func aFormPostThatIsNotJSONStartsNothing() async throws {
        let fixture = try APIServerTests().fixture()
        let server = try await APIServer.start(fixture)
        try fixture.directory.write("form-body", #"{"hostname":"localhost","security_pwd":"pw"}"#)
        let token = Data("operator:operator-password".utf8).base64EncodedString()
        try fixture.directory.write("form-headers", "Authorization: Basic \(token)\n", mode: 0o600)
        let result = try shell("curl -sk -o /dev/null -w '%{http_code}' -H @\(fixture.directory.sub("form-headers")) -H 'Content-Type: text/plain' --data-binary @\(fixture.directory.sub("form-body")) https://127.0.0.1:\(server.port)\(Self.base)/backup")
        #expect(result.output == "400", "\(result.output)")
        #expect(try await server.call("GET", "\(Self.base)/backup").body.contains("\"NONE\""), "no job started")
        // Refusals are logged, with the client's path escaped.
        _ = try await server.call("GET", "/api/x%0Aforged")
        let lines = fixture.logLines.all
        #expect(lines.contains { $0.contains("request") && $0.contains("400") }, "\(lines.suffix(8))")
        #expect(!lines.contains { $0.contains("\nforged") })
        await server.stop()
    }

    @Test func aStateDirectoryOrUsersFileOthersCanWriteIsRefused() async throws {
        let fixture = try APIServerTests().fixture()
        chmod(fixture.state + "/users.json", 0o666)
        await #expect { _ = try await APIServer.start(fixture) } throws: { error in
            (error as? BackupError)?.message.contains("users file") == true
        }
        chmod(fixture.state + "/users.json", 0o600)
        chmod(fixture.state, 0o777)
        await #expect { _ = try await APIServer.start(fixture) } throws: { error in
            (error as? BackupError)?.message.contains("can be written by other users") == true
        }
        chmod(fixture.state, 0o700)
        let server = try await APIServer.start(fixture)
        await server.stop()
    }

    @Test func twoServersStartingTogetherMakeOneKeyPair() async throws {
        let fixture = try APIServerTests().fixture()
        var settings = APIConfiguration()
        settings.stateDirectory = fixture.state
        let configuration = settings
        async let first = Blocking.run { try GatewayServer.tlsConfiguration(configuration) }
        async let second = Blocking.run { try GatewayServer.tlsConfiguration(configuration) }
        _ = try await (first, second)
        // One pair: the key on disk matches the certificate on disk.
        let check = try shell("""
            a=$(openssl x509 -noout -pubkey -in \(fixture.state)/tls/server.crt | sha256sum)
            b=$(openssl pkey -pubout -in \(fixture.state)/tls/server.key | sha256sum)
            [ "$a" = "$b" ] && echo same
            """)
        #expect(check.output.contains("same"), "\(check.output)")
    }
}
