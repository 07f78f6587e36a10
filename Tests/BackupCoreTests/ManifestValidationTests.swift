import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Testing

@Suite("Manifest validation")
struct ManifestValidationTests {
    let registry = PluginRegistry(builtIns: [FileSetPlugin()], directories: [])

    func issues(_ json: String) throws -> [ManifestIssue] {
        let manifest = try Manifest.decode(Data(json.utf8), source: "test")
        return ManifestValidator(registry: self.registry).validate(manifest)
    }

    @Test func aValidManifestHasNoIssues() throws {
        let found = try self.issues(#"{"version":1,"appliance":"fg","components":[{"name":"ntp","plugin":"fileset","tags":["cert"],"parameters":{"paths":["etc/ntp.conf","etc/ntp/*.keys"]}}]}"#)
        #expect(found.isEmpty)
    }

    @Test func everyProblemIsReportedWithComponentAndField() throws {
        let found = try self.issues("""
            {"version": 1, "appliance": "fg", "components": [
              {"name": "a", "plugin": "nosuch"},
              {"name": "b", "plugin": "fileset"},
              {"name": "b", "plugin": "fileset", "parameters": {"paths": ["/etc/passwd"]}},
              {"name": "c", "plugin": "fileset", "parameters": {"paths": ["etc/../../x", 5], "extra": 1}},
              {"name": "Bad Name", "plugin": "fileset", "parameters": {"paths": "etc"}}
            ]}
            """)
        let described = found.map(\.description)
        #expect(described.contains("component 'a', field 'plugin': unknown plugin 'nosuch' (available: fileset)"))
        #expect(described.contains("component 'b', field 'parameters.paths': missing required parameter"))
        #expect(found.contains { $0.component == "b" && $0.field == "name" && $0.message == "duplicate component name" })
        #expect(found.contains { $0.component == "b" && $0.field == "parameters.paths[0]" && $0.message.contains("absolute") })
        #expect(found.contains { $0.component == "c" && $0.field == "parameters.paths[0]" && $0.message.contains("'..'") })
        #expect(found.contains { $0.component == "c" && $0.field == "parameters.paths[1]" && $0.message.contains("expected a string") })
        #expect(found.contains { $0.component == "c" && $0.field == "parameters.extra" && $0.message.contains("unknown parameter") })
        #expect(found.contains { $0.component == "Bad Name" && $0.field == "name" })
        #expect(found.contains { $0.component == "Bad Name" && $0.field == "parameters.paths" && $0.message.contains("array") })
    }

    @Test func unknownVersionAndEmptyComponentsAreReported() throws {
        let found = try self.issues(#"{"version":7,"appliance":"fg","components":[]}"#)
        #expect(found.contains { $0.field == "version" && $0.message.contains("unknown manifest version 7") })
        #expect(found.contains { $0.field == "components" })
    }

    @Test func malformedJSONNamesTheField() throws {
        #expect {
            try Manifest.decode(Data(#"{"version":1,"appliance":"fg","components":[{"name":"a"}]}"#.utf8), source: "m.json")
        } throws: { error in
            let message = (error as? BackupError)?.message ?? ""
            return message == "m.json: missing field 'components[0].plugin'"
        }
        #expect(throws: BackupError.self) { try Manifest.decode(Data("{not json".utf8), source: "m.json") }
    }

    @Test(arguments: ["", "/abs", "a/../b", "..", ".", "./."])
    func unsafeRelativePathsAreRefused(path: String) {
        #expect(RelativePath.problem(path) != nil)
    }

    @Test func safeRelativePathsAreNormalized() {
        #expect(RelativePath.normalized("./etc//ntp.conf/") == "etc/ntp.conf")
        #expect(RelativePath.problem("etc/ntp.conf") == nil)
    }
}
