import BackupConformance
import BackupCore
import BackupModel
import BackupPOSIX
import BackupProcess
import BackupRuntime
import Foundation
import GatewayBackupTestSupport
import GatewayPluginSDK
import Logging
import Testing

/// The plugin authors' kit: the conformance run on the shipped plugins and on broken ones, the C SDK,
/// the C ntp plugin, and the guard that keeps plugin processes from outliving their steps.
@Suite("Plugin kit", .serialized)
struct PluginKitTests {
    static let logger = Logger(label: "plugin-kit-test")

    func conformance(_ fixture: Fixture, component: ManifestComponent, stepTimeout: Double = 10) async throws -> [ConformanceCheck] {
        let runtime = fixture.runtime
        let plugin = try #require(runtime.registry.plugin(id: component.plugin), "\(runtime.registry.problems)")
        let workspace = fixture.directory.sub("conformance-\(component.name)-\(UUID().uuidString.prefix(6))")
        try FileTree.makePrivateDirectory(workspace)
        return await PluginConformance(component: component, plugin: plugin, root: fixture.root, workspace: workspace, stepTimeout: stepTimeout, logger: Self.logger).run()
    }

    @Test func everyComponentOfTheShippedManifestPassesTheConformanceRunAndTheRootIsUntouched() async throws {
        let fixture = try Fixture("conformance")
        let before = try fixture.snapshot()
        for component in try fixture.manifest().components {
            let checks = try await self.conformance(fixture, component: component)
            let failed = checks.filter { $0.status == .fail }
            #expect(failed.isEmpty, "\(component.name): \(failed.map { "\($0.rule): \($0.detail)" })")
            #expect(checks.filter { $0.status == .pass }.count >= 8, "\(component.name): \(checks.map { "\($0.rule)=\($0.status)" })")
        }
        #expect(try fixture.snapshot() == before, "the root given is never changed")
    }

    /// A shell plugin `broken` in the fixture's plugin directory, for a component `broken` with a file parameter.
    func brokenPlugin(_ fixture: Fixture, collect: String, restore: String = "cp \"$GWBACKUP_STAGING/file\" \"$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE\"; echo '{\"protocol\":1,\"status\":\"ok\"}'") throws -> ManifestComponent {
        let directory = fixture.directory.sub("plugins/broken")
        try FileTree.makeDirectories(directory, mode: 0o755)
        let script = """
            #!/bin/bash
            request="$(cat)"
            case "$request" in *'"protocol":1'*) ;; *) echo '{"protocol":1,"status":"error","message":"protocol"}'; exit 1 ;; esac
            case "$GWBACKUP_ACTION" in
              collect) \(collect) ;;
              restore) \(restore) ;;
              *) echo '{"protocol":1,"status":"error","message":"unknown action"}'; exit 1 ;;
            esac
            """
        try FileTree.writeAtomically(Data(script.utf8), to: directory + "/run.sh", mode: 0o755)
        try FileTree.writeAtomically(Data(#"{"id":"broken","version":"1","protocol":1,"executable":"run.sh","timeoutSeconds":20,"parameters":{"file":{"type":"string","required":true,"path":true}}}"#.utf8), to: directory + "/plugin.json")
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        return ManifestComponent(name: "broken", plugin: "broken", parameters: ["file": .string("etc/snmp/snmpd.conf")])
    }

    static let goodCollect = #"cp -p "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE" "$GWBACKUP_STAGING/file"; echo '{"protocol":1,"status":"ok"}'"#

    @Test(arguments: [
        ("echo hello there", "reply-is-one-protocol-object"),
        (#"echo '{"protocol":2,"status":"ok"}'"#, "reply-is-one-protocol-object"),
        (#"echo '{"protocol":1,"status":"ok"}{"protocol":1,"status":"ok"}'"#, "reply-is-one-protocol-object"),
        ("trap '' TERM; sleep 60", "steps-finish-in-time"),
        (#"echo changed >> "$GWBACKUP_ROOT/etc/snmp/snmpd.conf"; "# + goodCollect, "collect-leaves-root-unchanged"),
        (#"date +%s%N > "$GWBACKUP_STAGING/stamp"; "# + goodCollect, "collect-is-repeatable"),
        (#"echo x > "$GWBACKUP_STAGING/../beside"; "# + goodCollect, "collect-writes-only-staging"),
        ("(sleep 30 &) ; " + goodCollect, "no-process-left-behind"),
        ("setsid sleep 30 & " + goodCollect, "no-process-left-behind"),
        ("trap '' TERM; sleep 5; " + goodCollect, "stops-on-sigterm"),
        (#"mkfifo "$GWBACKUP_STAGING/pipe"; "# + goodCollect, "staging-is-archivable"),
        (goodCollect.replacingOccurrences(of: "; echo", with: #"; ln "$GWBACKUP_STAGING/file" "$GWBACKUP_STAGING/again"; echo"#), "staging-is-archivable"),
    ])
    func aBrokenPluginFailsTheRuleItBreaks(collect: String, rule: String) async throws {
        let fixture = try Fixture("broken-plugin")
        let component = try self.brokenPlugin(fixture, collect: collect)
        let checks = try await self.conformance(fixture, component: component, stepTimeout: 3)
        let check = try #require(checks.first { $0.rule == rule })
        #expect(check.status == .fail, "\(rule): \(check.detail); all: \(checks.map { "\($0.rule)=\($0.status)" })")
    }

    /// A plugin that swaps its staging directory (or the root it was given) for a symlink to another
    /// tree: the kit once followed such a link and wrote its "conformance garbage" through it (every
    /// file under a test machine's /etc). Here the link points at a canary directory the test made.
    /// In the sandbox the swap itself fails (the staging directory is a mount point, the root is
    /// read-only) and the kit names the refusal; without it (`--no-sandbox`) the kit sees the link
    /// and names it. Either way the canary is not changed by a byte.
    @Test(arguments: [("staging", true), ("root", true), ("staging", false), ("root", false)])
    func aPluginThatSwapsItsTreeForASymlinkCannotTurnTheKitAgainstItsHost(swapped: String, sandboxed: Bool) async throws {
        let fixture = try Fixture("kit-symlink")
        fixture.sandbox = sandboxed
        let canary = fixture.directory.sub("canary")
        try fixture.directory.write("canary/passwd", "root:x:0:0:canary\n", mode: 0o644)
        try fixture.directory.write("canary/ssh/ssh_host_ed25519_key", "canary key\n", mode: 0o600)
        let before = try TreeSnapshot(canary)
        let variable = swapped == "staging" ? "$GWBACKUP_STAGING" : "$GWBACKUP_ROOT"
        let component = try self.brokenPlugin(
            fixture, collect: Self.goodCollect.replacingOccurrences(of: "; echo", with: #"; rm -rf "\#(variable)"; ln -s \#(canary) "\#(variable)"; echo"#))
        let checks = try await self.conformance(fixture, component: component, stepTimeout: 5)
        let failed = checks.filter { $0.status == .fail }
        let expected = sandboxed ? "the sandbox refused it" : "replaced by something that is not a directory (a symlink to \(canary))"
        #expect(failed.contains { $0.detail.contains(expected) }, "\(checks.map { "\($0.rule)=\($0.status): \($0.detail)" })")
        #expect(try TreeSnapshot(canary) == before, "the canary behind the link is unchanged")
    }

    /// A verify that reads only its own record passes a tree whose every file is garbage (the record
    /// too fails to parse), and must fail the one whose content is garbage beside an intact record.
    @Test func aVerifyThatChecksOnlyItsRecordFailsItsRule() async throws {
        let fixture = try Fixture("record-only-verify")
        let directory = fixture.directory.sub("plugins/recordonly")
        try FileTree.makeDirectories(directory, mode: 0o755)
        try FileTree.writeAtomically(Data(#"""
            #!/bin/bash
            cat >/dev/null
            case "$GWBACKUP_ACTION" in
              collect) cp -p "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE" "$GWBACKUP_STAGING/file"; echo '{"files": ["file"]}' > "$GWBACKUP_STAGING/record.json" ;;
              verify) grep -q '"files"' "$GWBACKUP_STAGING/record.json" || { echo '{"protocol":1,"status":"error","message":"bad record"}'; exit 1; } ;;
              restore) cp "$GWBACKUP_STAGING/file" "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE" ;;
              *) echo '{"protocol":1,"status":"error","message":"unknown"}'; exit 1 ;;
            esac
            echo '{"protocol":1,"status":"ok"}'
            """#.utf8), to: directory + "/run.sh", mode: 0o755)
        try FileTree.writeAtomically(Data(#"{"id":"recordonly","version":"1","protocol":1,"executable":"run.sh","actions":["verify"],"parameters":{"file":{"type":"string","required":true,"path":true}}}"#.utf8), to: directory + "/plugin.json")
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        let component = ManifestComponent(name: "recordonly", plugin: "recordonly", parameters: ["file": .string("etc/snmp/snmpd.conf")])
        let checks = try await self.conformance(fixture, component: component, stepTimeout: 5)
        let check = try #require(checks.first { $0.rule == "verify-refuses-corruption" })
        #expect(check.status == .fail && check.detail.contains("checks the record, not what a restore would apply"), "\(check.detail)")
    }

    @Test func aPluginThatRestoresSomethingElseOrAcceptsAnyProtocolFailsItsRules() async throws {
        let fixture = try Fixture("broken-restore")
        let other = try self.brokenPlugin(fixture, collect: Self.goodCollect, restore: #"echo other > "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE"; echo '{"protocol":1,"status":"ok"}'"#)
        let checks = try await self.conformance(fixture, component: other, stepTimeout: 3)
        #expect(checks.first { $0.rule == "round-trip" }?.status == .fail, "\(checks)")
        // A plugin that says ok to anything: a newer protocol and an unknown action are "accepted".
        let directory = fixture.directory.sub("plugins/broken")
        try FileTree.writeAtomically(Data("#!/bin/sh\ncat >/dev/null\necho '{\"protocol\":1,\"status\":\"ok\"}'\n".utf8), to: directory + "/run.sh", mode: 0o755)
        let lax = try await self.conformance(fixture, component: other, stepTimeout: 3)
        #expect(lax.first { $0.rule == "newer-protocol-refused" }?.status == .fail)
        #expect(lax.first { $0.rule == "unknown-action-refused" }?.status == .fail)
    }

    @Test func plugingsTestOnTheCommandLineExitsByTheRulesAndWritesJUnit() async throws {
        let fixture = try Fixture("plugins-test-cli")
        let junit = fixture.directory.sub("ntp.xml")
        let good = try await CommandLineTests().gwbackup(["plugins", "test", "ntp", "--root", fixture.root, "--junit", junit])
        #expect(good.status == 0 && good.stdout.contains("PASS  round-trip") && good.stdout.contains("OK: "), "\(good.stdout) \(good.stderr)")
        let xml = String(decoding: try FileTree.readFile(junit), as: UTF8.self)
        #expect(xml.contains(#"<testsuite name="gwbackup plugins test ntp" tests="16" failures="0""#), "\(xml)")
        _ = try self.brokenPlugin(fixture, collect: "echo hello")
        let manifest = fixture.directory.sub("broken.json")
        try FileTree.writeAtomically(Data(#"{"version":1,"appliance":"x","components":[{"name":"broken","plugin":"broken","parameters":{"file":"etc/snmp/snmpd.conf"}}]}"#.utf8), to: manifest)
        let bad = try await CommandLineTests().gwbackup(["plugins", "test", "broken", "--manifest", manifest, "--root", fixture.root, "--plugin-dir", fixture.directory.sub("plugins"), "--step-timeout", "3"])
        #expect(bad.status == 1 && bad.stdout.contains("FAIL  reply-is-one-protocol-object") && bad.stdout.contains("FAILED: reply-is-one-protocol-object"), "\(bad.stdout)")
        let missing = try await CommandLineTests().gwbackup(["plugins", "test", "nothing", "--root", fixture.root])
        #expect(missing.status != 0 && missing.stderr.contains("no component 'nothing'"), "\(missing.stderr)")
    }

    // MARK: - The C SDK and the C plugin

    func parse(_ text: String) -> (request: OpaquePointer?, error: String) {
        var error = [CChar](repeating: 0, count: 512)
        let request = text.withCString { gwb_parse_request($0, strlen($0), &error, error.count) }
        return (request, String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    @Test(arguments: [
        ("", "not valid JSON"),
        ("[]", "not a JSON object"),
        (#"{"protocol":2,"action":"collect"}"#, "protocol 2 is not supported: this plugin speaks protocol 1"),
        (#"{"protocol":"1"}"#, "no integer 'protocol'"),
        (#"{"protocol":1,"action":"collect","action":"restore"}"#, "duplicate object key"),
        (#"{"protocol":1,"action":"explode"}"#, "unknown action 'explode'"),
        (#"{"protocol":1,"action":"collect","component":"c","applianceRoot":"rel","stagingDirectory":"/s"}"#, "'applianceRoot' is not an absolute path"),
        (#"{"protocol":1,"action":"collect","component":"c","applianceRoot":"/","stagingDirectory":"/s","parameters":[]}"#, "'parameters' is not an object"),
        (#"{"protocol":1,"action":"collect","component":"c\u0000d","applianceRoot":"/","stagingDirectory":"/s"}"#, "not valid JSON"),
        (#"{"protocol":1,"action":"collect","component":"c","applianceRoot":"/","stagingDirectory":"/s","rollback":"yes"}"#, "'rollback' is not a boolean"),
    ])
    func theSDKRefusesMalformedRequestsSayingWhy(text: String, expected: String) {
        let (request, error) = self.parse(text)
        #expect(request == nil)
        #expect(error.contains(expected), "\(error)")
    }

    /// The SDK's helpers for path-list parameters and globs: every element checked, and no match
    /// reached through a symbolic link below the root.
    @Test func theSDKGivesPathListsAndExpandsGlobsWithoutFollowingLinks() throws {
        let directory = try TemporaryDirectory("sdk-glob")
        try directory.write("root/etc/a.conf", "a")
        try directory.write("root/etc/b.conf", "b")
        try directory.write("root/etc/notes.txt", "n")
        try directory.write("elsewhere/x.conf", "outside")
        #expect(symlink(directory.sub("elsewhere"), directory.sub("root/etc/out")) == 0)
        #expect(symlink("a.conf", directory.sub("root/etc/link.conf")) == 0)
        let root = directory.sub("root")
        let text = #"{"protocol":1,"action":"activate","component":"c","applianceRoot":"\#(root)","stagingDirectory":"/s","parameters":{"files":["etc/*.conf","etc/notes.txt"],"one":"etc/a.conf","bad":["etc/a","../x"],"number":3}}"#
        let (request, error) = self.parse(text)
        let parsed = try #require(request, "\(error)")
        defer { gwb_free_request(parsed) }
        #expect(gwb_action(parsed) == GWB_ACTIVATE)
        func paths(_ name: String) -> (Int32, [String], String) {
            var list: UnsafeMutablePointer<UnsafePointer<CChar>?>?
            var count = 0
            let result = gwb_param_paths(parsed, name, 1, &list, &count)
            defer { free(list) }
            let values = (0..<count).compactMap { list?[$0].map { String(cString: $0) } }
            return (result, values, result < 0 ? String(cString: gwb_error(parsed)) : "")
        }
        #expect(paths("files").1 == ["etc/*.conf", "etc/notes.txt"])
        #expect(paths("one").1 == ["etc/a.conf"])
        let bad = paths("bad")
        #expect(bad.0 == -1 && bad.2.contains("parameter 'bad'[1]: path") && bad.2.contains(".."), "\(bad.2)")
        #expect(paths("number").0 == -1)
        #expect(paths("absent").0 == -1)

        final class Matches { var names: [String] = [] }
        let matches = Matches()
        let context = Unmanaged.passUnretained(matches).toOpaque()
        let collect: @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Int32 = { relative, context in
            Unmanaged<Matches>.fromOpaque(context!).takeUnretainedValue().names.append(String(cString: relative!))
            return 0
        }
        #expect(gwb_glob(parsed, root, "etc/*.conf", collect, context) == 3)
        #expect(matches.names == ["etc/a.conf", "etc/b.conf", "etc/link.conf"], "a link matched is passed as itself")
        matches.names = []
        #expect(gwb_glob(parsed, root, "etc/*/x.conf", collect, context) == 0, "nothing through the link etc/out")
        #expect(matches.names.isEmpty)
        #expect(gwb_glob(parsed, root, "/etc/*", collect, context) == -1)
    }

    /// A staged FIFO (or a link to one) is refused at once: opening it for reading would wait for a
    /// writer that never comes.
    @Test func theSDKReadsOnlyRegularFilesAndNeverWaitsOnAFifo() async throws {
        let directory = try TemporaryDirectory("sdk-fifo")
        let fifo = directory.sub("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(symlink(fifo, directory.sub("link")) == 0)
        try directory.write("plain", "data")
        let done = DispatchSemaphore(value: 0)
        let results = ReadResults()
        let paths = ["pipe", "link", "plain"].map(directory.sub)
        Thread.detachNewThread {
            for path in paths {
                var length = 0
                let data = gwb_read_file(path, 1 << 20, &length)
                results.append(data == nil ? "refused" : String(cString: data!))
                free(data)
            }
            done.signal()
        }
        if done.wait(timeout: .now() + 20) == .timedOut {
            // Let the blocked open go, so the thread ends.
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
            Issue.record("gwb_read_file blocked on a FIFO")
            return
        }
        #expect(results.values == ["refused", "refused", "data"])
    }

    final class ReadResults: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        func append(_ value: String) { self.lock.withLock { self.stored.append(value) } }
        var values: [String] { self.lock.withLock { self.stored } }
    }

    @Test func theSDKGivesTheFieldsOfAGoodRequest() throws {
        let (parsed, error) = self.parse(#"{"protocol":1,"action":"restore","component":"ntp","applianceRoot":"/r","stagingDirectory":"/s","parameters":{"conf":"etc/ntp.conf"},"rollback":true,"timeoutSeconds":60,"future":1}"#)
        let request = try #require(parsed, "\(error)")
        defer { gwb_free_request(request) }
        #expect(gwb_action(request) == GWB_RESTORE && String(cString: gwb_action_name(request)) == "restore")
        #expect(String(cString: gwb_root(request)) == "/r" && String(cString: gwb_staging(request)) == "/s" && gwb_is_rollback(request) == 1)
        #expect(String(cString: gwb_component(request)) == "ntp")
        #expect(gwb_path_problem("etc/ntp.conf") == nil)
        for bad in ["", "/etc", "etc/../x", "./x", "a//b"] { #expect(gwb_path_problem(bad) != nil, "\(bad)") }
    }

    /// A plugin on the SDK that reads its request and then hangs: the deadline (the request's
    /// timeoutSeconds) and SIGTERM each end it with one failure reply that says why.
    @Test func theSDKTurnsTheDeadlineAndSIGTERMIntoOneFailureReply() throws {
        let directory = try TemporaryDirectory("sdk-signals")
        try FileTree.writeAtomically(Data("""
            #include <fcntl.h>
            #include <unistd.h>
            #include "gwbackup_plugin.h"
            int main(void) {
                gwb_request *request = gwb_read_request();
                if (!request) return 1;
                /* The SDK's handlers are in place: the test may send SIGTERM now. */
                close(open("\(directory.sub("ready"))", O_CREAT | O_WRONLY, 0600));
                for (;;) pause();
            }
            """.utf8), to: directory.sub("hang.c"))
        let sdk = Fixture.repository + "/plugins/sdk/c"
        let made = try shell("cd \(directory.path) && make -f \(sdk)/Makefile PLUGIN=\(directory.sub("hang.c")) OUT=\(directory.sub("hang")) 2>&1")
        try #require(made.status == 0, "\(made.output)")
        func request(_ timeout: Int) -> String {
            #"{"protocol":1,"action":"collect","component":"c","applianceRoot":"/","stagingDirectory":"/tmp","parameters":{},"timeoutSeconds":\#(timeout)}"#
        }
        // The deadline: timeoutSeconds 3, the SDK replies at 2 s; the child process's own timeout is 20 s.
        var child = ChildProcess(executable: directory.sub("hang"), environment: [:], timeout: .seconds(20))
        let deadline = try child.run(input: Data(request(3).utf8))
        #expect(!deadline.timedOut && deadline.status == 1, "\(deadline)")
        #expect(String(decoding: deadline.stdout, as: UTF8.self) == #"{"protocol": 1, "status": "error", "message": "collect did not finish before its deadline"}"# + "\n")
        // SIGTERM (a job being stopped): the same, with its reason.
        let cancellation = JobCancellation()
        child.cancellation = cancellation
        try? FileTree.remove(directory.sub("ready"))
        let ready = directory.sub("ready")
        // Once the plugin has its handlers (a SIGTERM before them would just kill it), not on a timer.
        Thread.detachNewThread {
            for _ in 0..<3000 where (try? FileStatus.of(ready)) == nil { usleep(10_000) }
            cancellation.cancel(reason: "test")
        }
        let stopped = try child.run(input: Data(request(600).utf8))
        #expect(stopped.cancelled && !stopped.signalled && stopped.status == 1, "\(stopped)")
        #expect(String(decoding: stopped.stdout, as: UTF8.self).contains(#""message": "stopped by SIGTERM during collect""#))
    }

    @Test func theNtpPluginRefusesABrokenKeysFileThatTheFilesetPluginRestoresBlindly() async throws {
        let fixture = try Fixture("ntp-verify")
        // The keys file had a typo when the backup was taken; restoring it must be refused before
        // anything changes, where the fileset plugin restores it blindly.
        let keys = fixture.root + "/etc/ntp/ntp.keys"
        try FileTree.writeAtomically(Data("1 SHA256 m83QKeWKHdKMeKiBnWBfbzYf\n2 SHA256\n".utf8), to: keys, mode: 0o600)
        #expect(try await fixture.backup().status == .completed, "collect keeps what is there")
        try FileTree.writeAtomically(Data("1 SHA256 m83QKeWKHdKMeKiBnWBfbzYf\n2 SHA256 SCHhWEDwdiwmDpLULL69dTZP\n".utf8), to: keys, mode: 0o600)
        let before = try fixture.snapshotWithoutDatabase()
        let refused = try await fixture.restore(components: ["ntp"])
        #expect(refused.status == .error && refused.message.contains("ntp.keys line 2: expected 'ID TYPE KEY'"), "\(refused.message)")
        #expect(try fixture.snapshotWithoutDatabase() == before, "nothing changed")

        // A manifest that keeps ntp with the fileset plugin: the same broken file is backed up and restored blindly.
        var manifest = try fixture.manifest()
        let index = try #require(manifest.components.firstIndex { $0.name == "ntp" })
        manifest.components[index] = ManifestComponent(name: "ntp", plugin: "fileset", tags: ["cert"], parameters: ["paths": .array([.string("etc/ntp.conf"), .string("etc/ntp/ntp.keys")])])
        try FileTree.writeAtomically(Data("1 SHA256 m83QKeWKHdKMeKiBnWBfbzYf\n2 SHA256\n".utf8), to: keys, mode: 0o600)
        #expect(try await fixture.backup(manifest: manifest).status == .completed)
        try FileTree.writeAtomically(Data("1 SHA256 m83QKeWKHdKMeKiBnWBfbzYf\n2 SHA256 SCHhWEDwdiwmDpLULL69dTZP\n".utf8), to: keys, mode: 0o600)
        let blind = try await fixture.restore(components: ["ntp"], manifest: manifest)
        #expect(blind.status == .completed, "\(blind.message)")
        #expect(String(decoding: try FileTree.readFile(keys), as: UTF8.self).hasSuffix("2 SHA256\n"), "the fileset put the broken file back")
    }

    // MARK: - No process outlives its step

    /// The guard without the sandbox (`--no-sandbox`): its /proc sweep, tested with PIDs the plugin
    /// writes beside the root. The sandbox's PID namespace is tested in PluginSandboxTests.
    func registry(_ directory: TemporaryDirectory, script: String) throws -> PluginRegistry {
        _ = try directory.write("plugins/probe/run.sh", "#!/bin/bash\n" + script, mode: 0o755)
        _ = try directory.write("plugins/probe/plugin.json", #"{"id":"probe","version":"0.1","protocol":1,"executable":"run.sh","timeoutSeconds":20}"#)
        return PluginRegistry(builtIns: [], directories: [directory.sub("plugins")], launcher: ChildProcessLauncher(sandboxes: false))
    }

    func waitUntilGone(_ pid: Int32, seconds: Double = 10) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if !processIsAlive(pid) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return !processIsAlive(pid)
    }

    /// The probe the waits above rely on: a zombie (exited, not yet reaped) is not alive.
    @Test func anExitedChildNotYetReapedIsNotAlive() async throws {
        var pid: pid_t = 0
        let arguments = ["/bin/sh", "-c", "exit 0"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        #expect(posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0)
        // Not reaped: it stays a zombie until waitpid below.
        let exited = try await CrashRecoveryTests().wait(seconds: 30) { (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") == true }
        #expect(exited, "the child exited and waits to be reaped")
        #expect(kill(pid, 0) == 0, "a zombie still answers kill(pid, 0)")
        #expect(!processIsAlive(pid))
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(!processIsAlive(pid))
        #expect(processIsAlive(getpid()))
    }

    @Test func aChildThatCallsSetsidOrHoldsStdoutDoesNotOutliveItsStepAndIsReported() async throws {
        let directory = try TemporaryDirectory("escape")
        let marker = directory.sub("rewritten")
        let registry = try self.registry(directory, script: """
            cat >/dev/null
            setsid bash -c 'echo $$ > "\(directory.sub("setsid.pid"))"; sleep 2; echo late > "\(marker)"' &
            sleep 30 &
            echo $! > "\(directory.sub("holder.pid"))"
            for _ in $(seq 100); do [ -s "\(directory.sub("setsid.pid"))" ] && break; sleep 0.02; done
            echo '{"protocol":1,"status":"ok"}'
            """)
        let plugin = try #require(registry.plugin(id: "probe"))
        let staging = directory.sub("staging")
        try FileTree.makePrivateDirectory(staging)
        let report = try await plugin.restore(PluginContext(component: "probe", applianceRoot: directory.path, stagingDirectory: staging, parameters: [:], logger: Self.logger))
        #expect(report.warnings.contains { $0.contains("processes running; killed when the step ended") }, "\(report.warnings)")
        for name in ["setsid.pid", "holder.pid"] {
            let pid = try #require(Int32(try directory.read(name).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(await self.waitUntilGone(pid, seconds: 1), "\(name) \(pid) still runs after the step")
        }
        try await Task.sleep(for: .seconds(3))
        #expect(try FileStatus.of(marker) == nil, "the setsid child rewrote a file after the step had reported")
    }

    /// Without the sandbox (`--no-sandbox`): the guard's parent-death signal and sweep.
    @Test func killingGwbackupKillsWhatItsPluginStartedEvenOutsideItsProcessGroup() async throws {
        let fixture = try Fixture("kill-9")
        let pidFile = fixture.directory.sub("escaped.pid")
        let directory = fixture.directory.sub("plugins/escape")
        try FileTree.makeDirectories(directory, mode: 0o755)
        try FileTree.writeAtomically(Data("""
            #!/bin/bash
            cat >/dev/null
            setsid sleep 300 &
            echo $! > "\(pidFile)"
            sleep 300
            """.utf8), to: directory + "/run.sh", mode: 0o755)
        try FileTree.writeAtomically(Data(#"{"id":"escape","version":"1","protocol":1,"executable":"run.sh","timeoutSeconds":600}"#.utf8), to: directory + "/plugin.json")
        let manifest = fixture.directory.sub("escape.json")
        try FileTree.writeAtomically(Data(#"{"version":1,"appliance":"x","components":[{"name":"escape","plugin":"escape"}]}"#.utf8), to: manifest)
        let pid = try startInBackground(
            "env GWBACKUP_SECURITY_PWD=pw \(CommandLineTests.binary) backup --no-sandbox --root \(fixture.root) --path \(fixture.backups) --state-dir \(fixture.state) --manifest \(manifest) --plugin-dir \(fixture.directory.sub("plugins"))",
            output: fixture.directory.sub("backup.log"))
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? FileTree.readFile(pidFile))?.isEmpty != false, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let escaped = try #require(Int32(String(decoding: try FileTree.readFile(pidFile), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(escaped, 0) == 0, "the escaped child runs while the step runs")
        signalBackground(pid, SIGKILL)
        #expect(await self.waitUntilGone(escaped), "the setsid child of a plugin outlived gwbackup killed with SIGKILL")
    }

    // MARK: - The tutorial

    /// The shell plugin of docs/plugins.md, as printed there, passes the conformance run.
    @Test func theTutorialsShellPluginPassesTheConformanceRun() async throws {
        let fixture = try Fixture("tutorial-shell")
        let doc = String(decoding: try FileTree.readFile(Fixture.repository + "/docs/plugins.md"), as: UTF8.self)
        let section = try #require(doc.range(of: "## 1. In shell").map { doc[$0.upperBound...] })
        let start = try #require(section.range(of: "```sh\n"))
        let end = try #require(section[start.upperBound...].range(of: "```"))
        let directory = fixture.directory.sub("plugins/motd")
        let script = String(section[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "/etc/gwbackup/plugins/motd", with: directory)
        try FileTree.writeAtomically(Data(script.utf8), to: fixture.directory.sub("setup.sh"))
        #expect(try shell("bash \(fixture.directory.sub("setup.sh"))").status == 0)
        try FileTree.writeAtomically(Data("welcome\n".utf8), to: fixture.root + "/etc/motd", mode: 0o644)
        let manifest = fixture.directory.sub("m.json")
        try FileTree.writeAtomically(Data(#"{"version":1,"appliance":"x","components":[{"name": "motd", "plugin": "motd", "parameters": {"file": "etc/motd"}}]}"#.utf8), to: manifest)
        let result = try await CommandLineTests().gwbackup(["plugins", "test", "motd", "--manifest", manifest, "--root", fixture.root, "--plugin-dir", fixture.directory.sub("plugins")])
        #expect(result.status == 0, "\(result.stdout)")
    }

    // MARK: - The tutorial: a C plugin built out of tree

    @Test func aCPluginBuiltOutOfTreeWithTheSDKMakefileIsBackedUpAndRestored() async throws {
        let fixture = try Fixture("out-of-tree")
        let build = fixture.directory.sub("hello-build")
        try FileTree.makeDirectories(build, mode: 0o755)
        let sdk = Fixture.repository + "/plugins/sdk/c"
        let made = try shell("cd \(build) && make -f \(sdk)/Makefile OUT=\(build)/hello-plugin 2>&1")
        #expect(made.status == 0, "\(made.output)")
        let pluginDirectory = fixture.directory.sub("plugins/hello")
        try FileTree.makeDirectories(pluginDirectory, mode: 0o755)
        _ = try shell("install -m 0755 \(build)/hello-plugin \(pluginDirectory)/hello-plugin")
        try FileTree.writeAtomically(Data(#"{"id":"hello","version":"1.0","protocol":1,"executable":"hello-plugin","timeoutSeconds":30,"parameters":{"file":{"type":"string","required":true,"path":true}}}"#.utf8), to: pluginDirectory + "/plugin.json", mode: 0o644)
        try FileTree.writeAtomically(Data("motd before\n".utf8), to: fixture.root + "/etc/motd", mode: 0o644)
        let manifest = fixture.directory.sub("hello.json")
        try FileTree.writeAtomically(Data(#"{"version":1,"appliance":"hello","components":[{"name":"motd","plugin":"hello","parameters":{"file":"etc/motd"}}]}"#.utf8), to: manifest)
        let common = ["--root", fixture.root, "--path", fixture.backups, "--state-dir", fixture.state, "--manifest", manifest, "--plugin-dir", fixture.directory.sub("plugins")]
        let environment = ["GWBACKUP_SECURITY_PWD": "tutorial password"]
        let cli = CommandLineTests()
        let backup = try await cli.gwbackup(["backup"] + common, environment: environment)
        #expect(backup.status == 0, "\(backup.stdout) \(backup.stderr)")
        try FileTree.writeAtomically(Data("motd changed\n".utf8), to: fixture.root + "/etc/motd", mode: 0o644)
        let restore = try await cli.gwbackup(["restore"] + common, environment: environment)
        #expect(restore.status == 0, "\(restore.stdout) \(restore.stderr)")
        #expect(String(decoding: try FileTree.readFile(fixture.root + "/etc/motd"), as: UTF8.self) == "motd before\n")
        // In the sandbox (the default), every rule passes.
        let conformance = try await cli.gwbackup(["plugins", "test", "motd", "--manifest", manifest, "--root", fixture.root, "--plugin-dir", fixture.directory.sub("plugins")])
        #expect(conformance.status == 0 && conformance.stdout.contains("PASS  restore-writes-only-declared-paths"), "\(conformance.stdout)")
        // docs/plugins.md prints this very file.
        let doc = String(decoding: try FileTree.readFile(Fixture.repository + "/docs/plugins.md"), as: UTF8.self)
        let example = String(decoding: try FileTree.readFile(sdk + "/example/hello_plugin.c"), as: UTF8.self)
        #expect(doc.contains("```c\n" + example + "```\n"), "the tutorial's C example is not example/hello_plugin.c")
    }
}
