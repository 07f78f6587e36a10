import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// The status GETs a client polls are answered on the event loop (`StatusFastPath`) when their
/// credentials and answer are at hand, exactly as the router answers them; everything else still
/// goes to the router.
@Suite("Status GETs answered on the event loop", .serialized)
struct StatusFastPathTests {
    @Test func polledAnswersOnOneConnectionAreTheRoutersAndAreLoggedEach() async throws {
        let fixture = try APIServerTests().fixture()
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        let url = "https://127.0.0.1:\(server.port)\(APIServerTests.base)/backup"
        let token = Data("operator:operator-password".utf8).base64EncodedString()
        try fixture.directory.write("auth-header", "Authorization: Basic \(token)\n", mode: 0o600)
        let heads = fixture.directory.sub("heads")
        // One curl, three requests: one connection (curl reuses it), answered in order.
        let command = "curl -sk -H @\(fixture.directory.sub("auth-header")) -D \(heads) -w '\\n%{http_code} %{num_connects}\\n' \(url) \(url) \(url)"
        let result = try await Blocking.run { try shell(command) }
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("200 ") } == ["200 1", "200 0", "200 0"], "\(result.output)")
        #expect(server.fastAnswers.current == 2, "the first request went to the router (its bcrypt check, its answer made), the next two did not")
        // The same body three times, and the same headers but for the date.
        let bodies = result.output.components(separatedBy: "\n200 ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(bodies.count == 4 && bodies[0].hasPrefix("[") && bodies[1].hasSuffix(bodies[0].split(separator: "\n").last.map(String.init) ?? "-"), "\(bodies)")
        let answers = try String(decoding: FileTree.readFile(heads), as: UTF8.self).components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        let withoutDates = answers.map { $0.split(separator: "\r\n").filter { !$0.lowercased().hasPrefix("date:") }.map { $0.lowercased() } }
        #expect(withoutDates.count == 3 && Set(withoutDates.map { $0.joined(separator: "|") }).count == 1, "\(withoutDates)")
        #expect(withoutDates.first?.contains("content-type: application/json") == true && withoutDates.first?.contains("server: gwbackup") == true)
        // Each request logged once, with its own request id.
        let logged = fixture.logLines.all.filter { $0.hasPrefix("info request ") && $0.contains("/1.0/backup") && $0.contains(#""status": 200"#) }
        let ids = Set(logged.compactMap { line in line.components(separatedBy: #""hb.request.id": "#).dropFirst().first?.prefix(32) })
        #expect(logged.count == 3 && ids.count == 3, "\(logged)")
    }

    @Test func whatCannotBeAnsweredThereGoesToTheRouterOnTheSameConnection() async throws {
        let fixture = try APIServerTests().fixture()
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        // One keep-alive connection: polls, a wrong password, a query, the other status, a password
        // changed by the CLI meanwhile (the old one must stop working at once), the new one.
        let script = """
            import base64, http.client, ssl, subprocess, sys
            context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection("127.0.0.1", \(server.port), context=context)
            def get(path, password):
                token = base64.b64encode(("operator:" + password).encode()).decode()
                connection.request("GET", "\(APIServerTests.base)" + path, headers={"Authorization": "Basic " + token})
                answer = connection.getresponse(); answer.read()
                return str(answer.status)
            codes = [get("/backup", "operator-password"), get("/backup", "operator-password"), get("/backup", "wrong-password"),
                     get("/backup?x=1", "operator-password"), get("/restore", "operator-password")]
            subprocess.run(["\(CommandLineTests.binary)", "user", "passwd", "operator", "--password-stdin", "--state-dir", "\(fixture.state)"],
                           input=b"a-new-password\\n", check=True, capture_output=True)
            codes += [get("/backup", "operator-password"), get("/backup", "a-new-password"), get("/backup", "a-new-password")]
            # The last one asks the server to close the connection: the router answers it.
            token = base64.b64encode(b"operator:a-new-password").decode()
            connection.request("GET", "\(APIServerTests.base)/backup", headers={"Authorization": "Basic " + token, "Connection": "close"})
            answer = connection.getresponse(); answer.read(); codes.append(str(answer.status))
            print(" ".join(codes))
            """
        try fixture.directory.write("client.py", script)
        let command = "python3 \(fixture.directory.sub("client.py"))"
        let result = try await Blocking.run { try shell(command) }
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "200 200 401 200 200 401 200 200 200", "\(result.output)")
        // Answered on the event loop: the second poll and the new password's second; the rest (and
        // the request with `Connection: close`) needed the router.
        #expect(server.fastAnswers.current == 2)
    }

    @Test func afterAJobNoThreadOfTheServerKeepsTheJobsLowerPriority() async throws {
        // Dispatch threads made from a job's thread at nice 10 kept it, and later ran requests.
        let fixture = try Fixture("fast-path-niceness")
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret("operator-password"))
        let server = try await ServeProcess(fixture)
        let url = "https://127.0.0.1:\(server.port)\(APIServerTests.base)/backup"
        let token = Data("operator:operator-password".utf8).base64EncodedString()
        try fixture.directory.write("auth-header", "Authorization: Basic \(token)\n", mode: 0o600)
        let header = fixture.directory.sub("auth-header")
        let started = try await Blocking.run {
            try shell(#"curl -sk -o /dev/null -w '%{http_code}' -H @\#(header) -H 'Content-Type: application/json' -X POST -d '{"hostname":"localhost","security_pwd":"s3cret-pass"}' \#(url)"#)
        }
        #expect(started.output == "204", "\(started.output)")
        var status = ""
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let answer = try await Blocking.run { try shell("curl -sk -H @\(header) \(url)") }
            let record = (try? JSONSerialization.jsonObject(with: Data(answer.output.utf8))) as? [[String: Any]]
            status = (record?.first?["running"] as? [String: Any])?["status"] as? String ?? ""
            if status == "COMPLETED" || status == "ERROR" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status == "COMPLETED")
        // The job's own threads end with it (give them a moment); none of the server's may stay at nice 10.
        var niced: [String] = []
        for _ in 0..<20 {
            niced = try FileTree.names(in: "/proc/\(server.pid)/task").filter { task in
                let stat = (try? FileTree.readFile("/proc/\(server.pid)/task/\(task)/stat")).map { String(decoding: $0, as: UTF8.self) } ?? ""
                // The fields after the command's closing parenthesis; the nice value is the 19th field of the line.
                let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
                return fields.count > 17 && (Int(fields[16]) ?? 0) >= 10
            }
            if niced.isEmpty { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(niced.isEmpty, "threads at the job's nice value after it ended: \(niced)")
        try await server.stop()
    }
}
