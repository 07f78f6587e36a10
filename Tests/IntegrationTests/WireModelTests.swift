import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayWire
import Testing

/// The API's bodies, as the server writes them and the client reads them: one set of types.
@Suite("Wire model")
struct WireModelTests {
    @Test func aBackupStatusWithSchedulesSurvivesEncodingAndDecoding() throws {
        let running = JobRecord(host: "h", username: "u", path: "/p", subdir: "/p/b", timeStamp: 1_795_000_000, status: .completed, id: "job-1", backup: "b", finished: 1_795_000_010, components: [ComponentResult(name: "config", status: .ok, bytes: 9)], runID: "fleet-1")
        let schedule = WireSchedule(name: "nightly", cron: "15 2 * * *", timeZone: "Europe/Paris", nextRun: 1_795_100_000,
                                    lastRun: .init(planned: 1, at: 2, result: "COMPLETED"), lastSkipped: .init(planned: 3, at: 4, result: "SKIPPED", message: "busy"))
        for last in [nil, running] {
            let data = try JSONEncoder().encode([WireBackupStatus(BackupStatus(lastSuccessful: last, running: running), schedules: [schedule])])
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.contains(#""last_successful":{"#) && text.contains(#""run_id":"fleet-1""#) && text.contains(#""time_zone":"Europe\/Paris""#))
            let decoded = try WireBackupStatus.decodeAnswer(data)
            #expect(decoded.status.running == running)
            #expect(decoded.status.lastSuccessful == last)
            #expect(decoded.schedules == [schedule])
        }
    }

    @Test func aRequestEncodesItsSecretsOnlyIntoTheBodyAndParsesBackTheSame() throws {
        let request = WireJobRequest(hostname: "backup.example.net", username: "mazu", password: Secret("ssh-pw"), path: "/srv", port: 2222, securityPassword: Secret("sec-pw"), noCert: true, runID: "r1")
        #expect(!"\(request)".contains("ssh-pw") && !"\(request)".contains("sec-pw"), "no secret in its description")
        let data = try JSONEncoder().encode(request)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""no_cert":"true""#) && text.contains(#""security_pwd":"sec-pw""#))
        let parsed = try WireJobRequest.parse(data)
        #expect(parsed.hostname == "backup.example.net" && parsed.username == "mazu" && parsed.password?.revealed == "ssh-pw" && parsed.path == "/srv")
        #expect(parsed.port == 2222 && parsed.securityPassword.revealed == "sec-pw" && parsed.noCert == true && parsed.runID == "r1")
        #expect(throws: WireRequestError.self) { try WireJobRequest.parse(Data(#"{"hostname":"localhost","security_pwd":"x","run_id":"a b"}"#.utf8)) }
        #expect(throws: WireRequestError.self) { try WireJobRequest.parse(Data()) }
    }

    @Test func errorsServicesAndAuthInfoHaveTheDocumentsShape() throws {
        let error = try JSONEncoder().encode(WireError(errorID: "BAD_REQUEST", errorText: "no"))
        #expect(try JSONSerialization.jsonObject(with: error) as? [String: String] == ["error_id": "BAD_REQUEST", "error_text": "no"])
        let services = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(WireService.offered)) as? [[String: Any]]
        #expect(services?.map { $0["id"] as? String } == ["common", "mgmt.gateway_backup"])
        let auth = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(WireAuthInfo.basic)) as? [String: [String]]
        #expect(auth == ["supported_methods": ["BASIC"]])
    }
}
