import BackupCore
import BackupModel
import BackupPOSIX
import BackupProcess
import Foundation
import GatewayBackupTestSupport
import Logging
import Testing

@Suite("External plugins")
struct ExternalPluginTests {
    /// Writes a plugin directory with a shell script and returns the registry that finds it.
    func registry(_ directory: TemporaryDirectory, script: String, descriptor: String? = nil) throws -> PluginRegistry {
        try directory.write("plugins/probe/run.sh", "#!/bin/sh\n" + script, mode: 0o755)
        try directory.write("plugins/probe/plugin.json", descriptor ?? #"{"id":"probe","version":"0.1","protocol":1,"executable":"run.sh","timeoutSeconds":2}"#)
        return PluginRegistry(builtIns: [FileSetPlugin()], directories: [directory.sub("plugins")], launcher: ChildProcessLauncher())
    }

    func context(_ directory: TemporaryDirectory) throws -> PluginContext {
        let staging = directory.sub("staging-\(UUID().uuidString.prefix(6))")
        try FileTree.makePrivateDirectory(staging)
        return PluginContext(component: "probe", applianceRoot: directory.path, stagingDirectory: staging, parameters: ["path": .string("etc/x")], logger: Logger(label: "test"))
    }

    @Test func aWellBehavedScriptReceivesTheRequestAndItsWarningsComeBack() async throws {
        let directory = try TemporaryDirectory("ext")
        let registry = try self.registry(directory, script: """
            cat > "$GWBACKUP_STAGING/request.json"
            echo "$GWBACKUP_ACTION $GWBACKUP_PARAM_PATH" > "$GWBACKUP_STAGING/env.txt"
            echo '{"protocol":1,"status":"ok","warnings":["careful"]}'
            """)
        let plugin = try #require(registry.plugin(id: "probe"))
        let context = try self.context(directory)
        let report = try await plugin.collect(context)
        #expect(report.warnings == ["careful"])
        let request = try JSONDecoder().decode(ExternalPlugin.Request.self, from: FileTree.readFile(context.stagingDirectory + "/request.json"))
        #expect(request.action == "collect" && request.parameters["path"] == .string("etc/x") && request.protocol == 1)
        #expect(try directory.read(String(context.stagingDirectory.dropFirst(directory.path.count + 1)) + "/env.txt") == "collect etc/x\n")
    }

    @Test(arguments: [
        ("echo 'disk on fire' >&2; exit 3", "failed with exit status 3; stderr: disk on fire"),
        ("echo not json", "did not answer with a protocol response"),
        (#"echo '{"protocol":9,"status":"ok"}'"#, "answered with protocol 9"),
        (#"echo '{"protocol":1,"status":"error","message":"no database"}'"#, "reported error: no database"),
        ("sleep 30", "timed out after 2s and was killed"),
        ("kill -9 $$", "was killed by signal 9"),
    ])
    func misbehavingScriptsFailWithAClearMessage(script: String, expected: String) async throws {
        let directory = try TemporaryDirectory("ext")
        let plugin = try #require(try self.registry(directory, script: script).plugin(id: "probe"))
        let context = try self.context(directory)
        await #expect {
            _ = try await plugin.collect(context)
        } throws: { error in
            let message = (error as? BackupError)?.message ?? ""
            return message.contains(expected)
        }
    }

    @Test func aPluginFloodingStderrNeitherHangsNorGrowsTheMessage() async throws {
        let directory = try TemporaryDirectory("ext-flood")
        // 64 MiB on stderr, then a good answer: drained as it comes, only the tail kept.
        let script = #"head -c 67108864 /dev/zero | tr '\0' x >&2; echo '{"protocol":1,"status":"ok"}'"#
        // A generous timeout: the point is that the flood neither blocks nor grows, not its speed.
        let patient = #"{"id":"probe","version":"0.1","protocol":1,"executable":"run.sh","timeoutSeconds":120}"#
        let plugin = try #require(try self.registry(directory, script: script, descriptor: patient).plugin(id: "probe"))
        let report = try await plugin.collect(try self.context(directory))
        #expect(report.warnings.isEmpty)
        let failing = try #require(try self.registry(directory, script: #"head -c 67108864 /dev/zero | tr '\0' y >&2; exit 4"#, descriptor: patient).plugin(id: "probe"))
        await #expect {
            _ = try await failing.collect(try self.context(directory))
        } throws: { error in
            let message = (error as? BackupError)?.message ?? ""
            return message.contains("exit status 4") && message.utf8.count < 16_384
        }
    }

    @Test func aBackgroundChildDoesNotOutliveItsStep() async throws {
        let directory = try TemporaryDirectory("ext-background")
        let script = """
            (sleep 30; touch "$GWBACKUP_STAGING/late") &
            echo $! > "$GWBACKUP_STAGING/child.pid"
            echo '{"protocol":1,"status":"ok"}'
            """
        let plugin = try #require(try self.registry(directory, script: script).plugin(id: "probe"))
        let context = try self.context(directory)
        _ = try await plugin.collect(context)
        let pid = try #require(Int32(String(decoding: FileTree.readFile(context.stagingDirectory + "/child.pid"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<100 where !gone {
            let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat").map { String(decoding: $0, as: UTF8.self) }
            gone = stat == nil || stat?.contains(") Z ") == true || stat?.contains("sleep") == false
            if !gone { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(gone, "the background child was killed with its step")
    }

    @Test func aReplyOverTheLimitIsReportedAsSuch() async throws {
        let directory = try TemporaryDirectory("ext-big")
        let plugin = try #require(try self.registry(directory, script: "head -c 2097152 /dev/zero | tr '\\0' x").plugin(id: "probe"))
        await #expect {
            _ = try await plugin.collect(try self.context(directory))
        } throws: { error in
            (error as? BackupError)?.message.contains("more than 1048576 bytes on stdout") == true
        }
    }

    @Test func pluginsOthersCouldChangeOrThatPointElsewhereAreNotLoaded() throws {
        let directory = try TemporaryDirectory("ext-perm")
        try directory.write("plugins/writable/run.sh", "#!/bin/sh\n", mode: 0o755)
        try directory.write("plugins/writable/plugin.json", #"{"id":"writable","version":"1","protocol":1,"executable":"run.sh"}"#)
        chmod(directory.sub("plugins/writable"), 0o777)
        try directory.write("plugins/groupexec/run.sh", "#!/bin/sh\n", mode: 0o775)
        try directory.write("plugins/groupexec/plugin.json", #"{"id":"groupexec","version":"1","protocol":1,"executable":"run.sh"}"#)
        chmod(directory.sub("plugins/groupexec/run.sh"), 0o775)
        try directory.write("plugins/escape/plugin.json", #"{"id":"escape","version":"1","protocol":1,"executable":"bin/sh"}"#)
        #expect(symlink("/bin", directory.sub("plugins/escape/bin")) == 0)
        try directory.write("plugins/folder/sub/keep", "")
        chmod(directory.sub("plugins/folder/sub"), 0o755)
        try directory.write("plugins/folder/plugin.json", #"{"id":"folder","version":"1","protocol":1,"executable":"sub"}"#)
        let registry = PluginRegistry(builtIns: [FileSetPlugin()], directories: [directory.sub("plugins")], launcher: ChildProcessLauncher())
        #expect(registry.plugins.map(\.id) == ["fileset"])
        let problems = registry.problems.map(\.description).joined(separator: "\n")
        #expect(problems.contains("plugins/writable can be written by others (mode 777)"), "\(problems)")
        #expect(problems.contains("groupexec/run.sh can be written by others (mode 775)"), "\(problems)")
        #expect(problems.contains("escape/bin/sh resolves outside the plugin's directory"), "\(problems)")
        #expect(problems.contains("folder/sub is not a regular file"), "\(problems)")
    }

    @Test func withoutAProcessLauncherExternalPluginsAreReportedNotLoaded() throws {
        let directory = try TemporaryDirectory("ext-nolauncher")
        _ = try self.registry(directory, script: "echo '{}'")
        let registry = PluginRegistry(builtIns: [FileSetPlugin()], directories: [directory.sub("plugins")])
        #expect(registry.plugin(id: "probe") == nil)
        #expect(registry.problems.map(\.description).joined().contains("no process launcher"))
    }

    @Test func brokenDescriptorsAreReportedNotLoaded() throws {
        let directory = try TemporaryDirectory("ext")
        try directory.write("plugins/noexec/plugin.json", #"{"id":"noexec","version":"1","protocol":1,"executable":"missing.sh"}"#)
        try directory.write("plugins/badjson/plugin.json", #"{"id": "#)
        try directory.write("plugins/future/plugin.json", #"{"id":"future","version":"1","protocol":2,"executable":"x"}"#)
        try directory.write("plugins/escape/plugin.json", #"{"id":"escape","version":"1","protocol":1,"executable":"../../bin/sh"}"#)
        try directory.write("plugins/forever/run.sh", "#!/bin/sh\n", mode: 0o755)
        try directory.write("plugins/forever/plugin.json", #"{"id":"forever","version":"1","protocol":1,"executable":"run.sh","timeoutSeconds":1e16}"#)
        try directory.write("plugins/dup/run.sh", "#!/bin/sh\n", mode: 0o755)
        try directory.write("plugins/dup/plugin.json", #"{"id":"fileset","version":"1","protocol":1,"executable":"run.sh"}"#)
        let registry = PluginRegistry(builtIns: [FileSetPlugin()], directories: [directory.sub("plugins")], launcher: ChildProcessLauncher())
        #expect(registry.plugins.map(\.id) == ["fileset"])
        let problems = registry.problems.map(\.description).joined(separator: "\n")
        #expect(problems.contains("noexec: executable") && problems.contains("missing or not executable"))
        #expect(problems.contains("badjson: plugin.json: not valid JSON"))
        #expect(problems.contains("protocol 2 is not supported"))
        #expect(problems.contains("escape: plugin.json: field 'executable'"))
        #expect(problems.contains("plugin id 'fileset' is already provided by built-in"))
        #expect(problems.contains("forever: plugin.json: field 'timeoutSeconds' must be more than 0 and at most 86400"), "\(problems)")
    }
}

@Suite("Child processes")
struct ChildProcessTests {
    @Test func aChildInheritsOnlyItsThreeStandardDescriptors() throws {
        // A descriptor without close-on-exec, as a listening socket or a lock file may be.
        let directory = try TemporaryDirectory("fds")
        try directory.write("held", "x")
        let held = open(directory.sub("held"), O_RDONLY)
        #expect(held >= 3)
        let high = dup2(held, 200)
        defer {
            close(held)
            close(high)
        }
        #expect(fcntl(200, F_GETFD) & FD_CLOEXEC == 0, "the test descriptor would be inherited by a plain fork and exec")
        let outcome = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "[ -e /proc/$$/fd/200 ] && echo inherited; [ -e /proc/$$/fd/\(held) ] && echo inherited-low; echo checked"],
            environment: ["PATH": "/usr/bin:/bin"], timeout: .seconds(10)
        ).run(input: Data())
        #expect(outcome.status == 0)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "checked\n")
    }
}

extension ChildProcessTests {
    @Test func aMissingProgramCannotStartAndSaysWhich() throws {
        let child = ChildProcess(executable: "/nonexistent/plugin", environment: [:], timeout: .seconds(5))
        #expect(throws: BackupError.self) { try child.run(input: Data()) }
        do {
            _ = try child.run(input: Data())
        } catch let error as BackupError {
            #expect(error.code == .pluginFailed && error.message.hasPrefix("cannot start /nonexistent/plugin: "), "\(error.message)")
        }
    }

    @Test func aChildStillGetsItsInputAndExitStatusThroughTheDeathSignalSetter() throws {
        let outcome = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "read line; echo \"got $line\"; exit 3"], environment: ["PATH": "/usr/bin:/bin"],
            timeout: .seconds(10)
        ).run(input: Data("hello\n".utf8))
        #expect(outcome.status == 3 && !outcome.signalled)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "got hello\n")
    }
}

/// A verify reply's `counts`: kept when well formed, dropped with a warning (never a failure) otherwise.
extension ExternalPluginTests {
    func verifyReply(_ reply: String) async throws -> PluginReport {
        let directory = try TemporaryDirectory("counts")
        try directory.write("reply.json", reply)
        let registry = try self.registry(directory, script: "cat '\(directory.sub("reply.json"))'\n", descriptor: #"{"id":"probe","version":"0.1","protocol":1,"executable":"run.sh","timeoutSeconds":5,"actions":["verify"]}"#)
        let plugin = try #require(registry.plugin(id: "probe"))
        return try await plugin.verify(try self.context(directory))
    }

    @Test func wellFormedCountsAreKept() async throws {
        let report = try await self.verifyReply(#"{"protocol": 1, "status": "ok", "counts": {"rows in table users": 2, "rows in table exporters": 0}}"#)
        #expect(report.counts == ["rows in table users": 2, "rows in table exporters": 0])
        #expect(report.warnings.isEmpty, "\(report.warnings)")
        #expect(try await self.verifyReply(#"{"protocol": 1, "status": "ok"}"#).counts.isEmpty)
    }

    @Test func malformedCountsAreDroppedWithAWarningNotAFailure() async throws {
        let wrongShape = try await self.verifyReply(#"{"protocol": 1, "status": "ok", "counts": [1, 2]}"#)
        #expect(wrongShape.counts.isEmpty && wrongShape.warnings.contains { $0.contains("not a JSON object") }, "\(wrongShape)")
        let mixed = try await self.verifyReply(#"{"protocol": 1, "status": "ok", "counts": {"ok": 3, "negative": -1, "fraction": 1.5, "text": "7", "huge": 1e300, "": 4, "esc\u001b[31m": 5}}"#)
        #expect(mixed.counts.count == 2 && mixed.counts["ok"] == 3, "\(mixed.counts)")
        #expect(!mixed.counts.keys.contains { $0.unicodeScalars.contains { $0.value == 0x1B } }, "a control character reached a count's name: \(mixed.counts)")
        #expect(mixed.warnings.contains { $0.contains("5 count(s)") }, "\(mixed.warnings)")
        let many = "{" + (0..<300).map { "\"n\($0)\": \($0)" }.joined(separator: ", ") + "}"
        let bounded = try await self.verifyReply(#"{"protocol": 1, "status": "ok", "counts": "# + many + "}")
        #expect(bounded.counts.count == PluginReport.countLimit && bounded.warnings.contains { $0.contains("44 count(s)") }, "\(bounded.warnings)")
    }

    @Test func onlyTheCountsThatDifferAreChanges() {
        let changes = CountChange.changes(from: ["rows in table a": 1, "rows in table b": 2, "gone": 5], to: ["rows in table a": 1, "rows in table b": 3, "new": 0])
        #expect(changes == [
            CountChange(name: "gone", before: 5, after: nil), CountChange(name: "new", before: nil, after: 0),
            CountChange(name: "rows in table b", before: 2, after: 3),
        ])
        var files = ComponentChanges(updated: 1)
        files.compareCounts(from: [:], to: [:])
        #expect(files.counts == nil && files.summary == "1 updated, 0 added, 0 removed, 0 unchanged")
        files.compareCounts(from: ["rows in table b": 2], to: ["rows in table b": 3])
        #expect(files.summary == "1 updated, 0 added, 0 removed, 0 unchanged; rows in table b 2 -> 3")
    }
}
