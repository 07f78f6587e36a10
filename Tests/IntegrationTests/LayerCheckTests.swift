import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// scripts/check-layers.py (run by `make test`) passes on the repository and fails on each kind of
/// breach it exists for, planted in a copy: an undeclared import, an impure model, a new folder cycle.
@Suite("Layer check")
struct LayerCheckTests {
    @Test func theRepositoryPassesAndEachPlantedBreachFails() throws {
        // The toolchain that runs the tests answers `swift package dump-package` for the script.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let script = "PATH='\(path)' /usr/bin/python3 " + Fixture.repository + "/scripts/check-layers.py"
        let clean = try shell("\(script) \(Fixture.repository) 2>&1; echo rc=$?")
        #expect(clean.output.contains("layers ok") && clean.output.hasSuffix("rc=0\n"), "\(clean.output)")

        let directory = try TemporaryDirectory("layers")
        let copy = directory.sub("repository")
        #expect(try shell("mkdir -p \(copy) && cd \(Fixture.repository) && cp -r Package.swift Package.resolved Sources Tests Fuzz Benchmarks plugins \(copy)/").status == 0)
        try FileTree.writeAtomically(Data(("import Glibc\n" + (try String(contentsOfFile: copy + "/Sources/BackupModel/Secret.swift", encoding: .utf8))).utf8), to: copy + "/Sources/BackupModel/Secret.swift")
        try FileTree.writeAtomically(Data(("import BackupSFTP\n" + (try String(contentsOfFile: copy + "/Sources/BackupMetrics/MetricsExposition.swift", encoding: .utf8))).utf8), to: copy + "/Sources/BackupMetrics/MetricsExposition.swift")
        // Pipeline names the orchestrator (Jobs), which names Pipeline's types: a new cycle.
        try FileTree.writeAtomically(Data("struct PlantedLoop { let orchestrator: Orchestrator? = nil }\n".utf8), to: copy + "/Sources/BackupCore/Pipeline/PlantedLoop.swift")
        let broken = try shell("\(script) \(copy) 2>&1; echo rc=$?")
        #expect(broken.output.hasSuffix("rc=1\n"), "\(broken.output)")
        #expect(broken.output.contains("FAIL BackupModel imports ['Glibc']"), "\(broken.output)")
        #expect(broken.output.contains("imports BackupSFTP, which target BackupMetrics does not declare"), "\(broken.output)")
        #expect(broken.output.contains("a new cycle between folders") && broken.output.contains("'Pipeline'"), "\(broken.output)")
    }
}
