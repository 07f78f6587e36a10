import BackupConformance
import BackupCore
import BackupModel
import BackupPOSIX
import BackupProcess
import Foundation
import GatewayBackupTestSupport
import Logging
import Testing

/// Hostile plugins against the sandbox (issue 22): each aims at a canary directory beside the root
/// and a canary file in a temporary directory of its own, never at a real system path. Whatever the
/// plugin does, the canaries keep every byte, a restore changes only its declared paths, and nothing
/// the plugin started is alive after its step.
@Suite("Plugin sandbox", .serialized)
struct PluginSandboxTests {
    static let logger = Logger(label: "sandbox-test")
    static let ok = #"echo '{"protocol":1,"status":"ok"}'"#

    /// A test's places: the root (etc/app.conf "old", an empty etc/cron.d), a canary beside the root,
    /// a canary file elsewhere, the plugin directory.
    struct Place {
        let directory: TemporaryDirectory
        let elsewhere: TemporaryDirectory
        var root: String { self.directory.sub("root") }
        var besideRoot: String { self.directory.sub("canary") }
        var elsewhereFile: String { self.elsewhere.sub("canary.txt") }

        init(_ label: String) throws {
            self.directory = try TemporaryDirectory(label)
            self.elsewhere = try TemporaryDirectory(label + "-elsewhere")
            try self.directory.write("root/etc/app.conf", "old\n")
            try FileTree.makeDirectories(self.directory.sub("root/etc/cron.d"))
            try self.directory.write("canary/passwd", "root:x:0:0:canary\n")
            try self.elsewhere.write("canary.txt", "canary\n")
        }

        func canaries() throws -> [TreeSnapshot] {
            [try TreeSnapshot(self.besideRoot), try TreeSnapshot(self.elsewhere.path)]
        }

        /// The plugin `hostile`: `script` (bash) for every action, a path parameter `file`.
        func plugin(_ script: String, launcher: ChildProcessLauncher = ChildProcessLauncher(), interpreter: String = "/bin/bash") throws -> ExternalPlugin {
            try self.directory.write("plugins/hostile/run", "#!\(interpreter)\n" + script, mode: 0o755)
            try self.directory.write("plugins/hostile/plugin.json", #"{"id":"hostile","version":"1","protocol":1,"executable":"run","timeoutSeconds":20,"parameters":{"file":{"type":"string","required":true,"path":true}}}"#)
            let registry = PluginRegistry(builtIns: [], directories: [self.directory.sub("plugins")], launcher: launcher)
            let plugin = try #require(registry.plugin(id: "hostile") as? ExternalPlugin, "\(registry.problems)")
            return plugin
        }

        func context(_ name: String = "staging") throws -> PluginContext {
            let staging = self.directory.sub(name)
            try FileTree.makePrivateDirectory(staging)
            return PluginContext(component: "hostile", applianceRoot: self.root, stagingDirectory: staging, parameters: ["file": .string("etc/app.conf")], logger: PluginSandboxTests.logger)
        }
    }

    func expectFailure(_ body: () async throws -> Void, containing parts: [String]) async {
        do {
            try await body()
            Issue.record("the step succeeded; expected an error containing \(parts)")
        } catch {
            let message = BackupError.wrap(error).message
            for part in parts { #expect(message.contains(part), "\(message)") }
        }
    }

    // MARK: Restore confined to the declared paths

    @Test func aRestoreThatWritesOutsideItsDeclaredPathsChangesNothingAtAll() async throws {
        let place = try Place("sandbox-outside")
        let canaries = try place.canaries()
        let plugin = try place.plugin("""
            cat >/dev/null
            echo new > "$GWBACKUP_ROOT/etc/app.conf"
            echo '* * * * * root sh /tmp/x' > "$GWBACKUP_ROOT/etc/cron.d/pwn"
            \(Self.ok)
            """)
        await self.expectFailure({ _ = try await plugin.restore(try place.context()) },
            containing: ["plugin 'hostile' restore wrote outside the paths its component declares: etc/cron.d/pwn", "(declared: etc/app.conf)", "nothing it wrote was applied"])
        #expect(try place.directory.read("root/etc/app.conf") == "old\n", "the declared file was not applied either")
        #expect(try FileStatus.of(place.root + "/etc/cron.d/pwn") == nil)
        #expect(try place.canaries() == canaries)

        // The same plugin without the stray write: its declared file is applied after the step.
        let good = try place.plugin("cat >/dev/null\necho new > \"$GWBACKUP_ROOT/etc/app.conf\"\n\(Self.ok)")
        _ = try await good.restore(try place.context("staging-2"))
        #expect(try place.directory.read("root/etc/app.conf") == "new\n")
        #expect(try FileTree.names(in: place.directory.path).allSatisfy { !$0.hasPrefix(".sandbox-") }, "the overlay's scratch is removed")
    }

    @Test func removalsAndFifosOutsideOrInsideTheDeclaredPathsAreJudgedToo() async throws {
        let place = try Place("sandbox-removal")
        try place.directory.write("root/etc/hosts", "127.0.0.1 localhost\n")
        let remover = try place.plugin("cat >/dev/null\nrm -f \"$GWBACKUP_ROOT/etc/hosts\"\n\(Self.ok)")
        await self.expectFailure({ _ = try await remover.restore(try place.context()) }, containing: ["etc/hosts (removed)"])
        #expect(try place.directory.read("root/etc/hosts") == "127.0.0.1 localhost\n")
        let fifo = try place.plugin("cat >/dev/null\nrm -f \"$GWBACKUP_ROOT/etc/app.conf\"; mkfifo \"$GWBACKUP_ROOT/etc/app.conf\"\n\(Self.ok)")
        await self.expectFailure({ _ = try await fifo.restore(try place.context("staging-2")) }, containing: ["etc/app.conf (a FIFO)", "nothing it wrote was applied"])
        #expect(try FileStatus.of(place.root + "/etc/app.conf")?.kind == .regular)
        let declaredRemoval = try place.plugin("cat >/dev/null\nrm -f \"$GWBACKUP_ROOT/etc/app.conf\"\n\(Self.ok)")
        _ = try await declaredRemoval.restore(try place.context("staging-3"))
        #expect(try FileStatus.of(place.root + "/etc/app.conf") == nil, "a declared path's removal is applied")
    }

    @Test(arguments: ["collect", "restore"])
    func writesBesideTheRootOrElsewhereFailOnAReadOnlyFileSystem(action: String) async throws {
        let place = try Place("sandbox-ro-\(action)")
        let canaries = try place.canaries()
        let stray = place.elsewhere.sub("planted")
        let inTmp = "/tmp/gwb-sandbox-\(UUID().uuidString)"
        for target in [place.besideRoot + "/passwd", place.elsewhereFile, stray, inTmp] {
            let plugin = try place.plugin("""
                cat >/dev/null
                echo owned > '\(target)' || exit 7
                \(Self.ok)
                """)
            let context = try place.context("staging-\(UUID().uuidString.prefix(6))")
            await self.expectFailure({ _ = action == "collect" ? try await plugin.collect(context) : try await plugin.restore(context) },
                containing: ["exit status 7", "Read-only file system"])
        }
        #expect(try FileStatus.of(inTmp) == nil)
        #expect(try place.canaries() == canaries)
        #expect(try FileStatus.of(stray) == nil)
        #expect(try place.directory.read("root/etc/app.conf") == "old\n")
    }

    /// Through a whole restore job: the last component's plugin writes outside its declared paths,
    /// so its changes are refused, the job fails naming the path, and every component already applied
    /// is rolled back; nothing of the plugin's reached the appliance.
    @Test func aRestoreJobWithAPluginWritingOutsideIsRolledBackWhole() async throws {
        let fixture = try Fixture("sandbox-job")
        let directory = fixture.directory.sub("plugins/stray")
        try FileTree.makeDirectories(directory, mode: 0o755)
        try FileTree.writeAtomically(Data("""
            #!/bin/bash
            cat >/dev/null
            live="$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE"; staged="$GWBACKUP_STAGING/file"
            case "$GWBACKUP_ACTION" in
              collect) cp -p "$live" "$staged" ;;
              restore) cp -p "$staged" "$live"; [ "$GWBACKUP_ROLLBACK" = 1 ] || echo '* * * * * root sh /tmp/x' > "$GWBACKUP_ROOT/etc/cron.d/stray" ;;
            esac
            \(Self.ok)
            """.utf8), to: directory + "/run.sh", mode: 0o755)
        try FileTree.writeAtomically(Data(#"{"id":"stray","version":"1","protocol":1,"executable":"run.sh","parameters":{"file":{"type":"string","required":true,"path":true}}}"#.utf8), to: directory + "/plugin.json")
        try fixture.directory.write("appliance/etc/motd", "welcome\n")
        try FileTree.makeDirectories(fixture.root + "/etc/cron.d")
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "motd", plugin: "stray", parameters: ["file": .string("etc/motd")]))
        let backup = try await fixture.backup(manifest: manifest)
        #expect(backup.status == .completed, "\(backup.message)")
        try fixture.mutateAppliance()
        try fixture.directory.write("appliance/etc/motd", "changed\n")
        let before = try fixture.snapshotWithoutDatabase()
        let record = try await fixture.restore(manifest: manifest)
        #expect(record.status == .error)
        #expect(record.message.contains("wrote outside the paths its component declares: etc/cron.d/stray"), "\(record.message)")
        let after = try fixture.snapshotWithoutDatabase()
        let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        #expect(changed.isEmpty, "every component applied before was rolled back; differing: \(changed.map { "\($0): \(before[$0] ?? "-") -> \(after[$0] ?? "-")" })")
        #expect(try FileStatus.of(fixture.root + "/etc/cron.d/stray") == nil)
    }

    // MARK: Nothing outlives the step

    /// 24 chains that fork and exit at every generation, and a double fork that writes into staging
    /// half a second after the step: the namespace's init takes all of them down when the step ends.
    @Test func forkChainsAndDoubleForksDieWithTheirStep() async throws {
        let place = try Place("sandbox-forks")
        let canaries = try place.canaries()
        let plugin = try place.plugin("""
            import json, os, sys, time
            request = json.load(sys.stdin)
            staging = request["stagingDirectory"]
            for _ in range(24):
                if os.fork() == 0:
                    while True:
                        if os.fork() != 0:
                            os._exit(0)
                        try:
                            open("\(place.besideRoot)/passwd", "a").write("chain\\n")
                        except OSError:
                            pass
            if os.fork() == 0:
                if os.fork() == 0:
                    os.setsid()
                    time.sleep(2)
                    open(os.path.join(staging, "late"), "w").write("late")
                    os._exit(0)
                os._exit(0)
            print(json.dumps({"protocol": 1, "status": "ok"}))
            """, interpreter: "/usr/bin/python3")
        let context = try place.context()
        let report = try await plugin.collect(context)
        let ended = ContinuousClock.now
        #expect(report.warnings.contains { $0.contains("running; killed when the step ended") }, "\(report.warnings)")
        let marker = "GWBACKUP_STAGING=\(context.stagingDirectory)"
        var left = processes(withEnvironment: marker)
        let deadline = ended + .seconds(1)
        while !left.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            left = processes(withEnvironment: marker)
        }
        #expect(left.isEmpty, "plugin processes still alive after the step: \(left)")
        try await Task.sleep(for: .seconds(3))
        #expect(try FileStatus.of(context.stagingDirectory + "/late") == nil, "the double-forked child wrote after the step")
        #expect(try place.canaries() == canaries)
    }

    /// `kill -9` of gwbackup in the middle of a sandboxed step: the guard kills the namespace at once.
    @Test func killingGwbackupTakesItsSandboxedStepDown() async throws {
        let fixture = try Fixture("sandbox-kill-9")
        let directory = fixture.directory.sub("plugins/chains")
        try FileTree.makeDirectories(directory, mode: 0o755)
        try FileTree.writeAtomically(Data("""
            #!/usr/bin/python3
            import os, sys, time
            sys.stdin.read()
            for _ in range(24):
                if os.fork() == 0:
                    while True:
                        if os.fork() != 0:
                            os._exit(0)
                        time.sleep(0.001)
            open(os.path.join(os.environ["GWBACKUP_STAGING"], "started"), "w").write("started")
            time.sleep(300)
            """.utf8), to: directory + "/run.py", mode: 0o755)
        try FileTree.writeAtomically(Data(#"{"id":"chains","version":"1","protocol":1,"executable":"run.py","timeoutSeconds":600}"#.utf8), to: directory + "/plugin.json")
        let manifest = fixture.directory.sub("chains.json")
        try FileTree.writeAtomically(Data(#"{"version":1,"appliance":"x","components":[{"name":"chains","plugin":"chains"}]}"#.utf8), to: manifest)
        let pid = try startInBackground(
            "env GWBACKUP_SECURITY_PWD=pw \(CommandLineTests.binary) backup --root \(fixture.root) --path \(fixture.backups) --state-dir \(fixture.state) --manifest \(manifest) --plugin-dir \(fixture.directory.sub("plugins"))",
            output: fixture.directory.sub("backup.log"))
        defer { signalBackground(pid, SIGKILL) }
        let marker = "GWBACKUP_ROOT=\(fixture.root)"
        let started = try await CrashRecoveryTests().wait { try fixture.stagedFile(named: "started") != nil }
        #expect(started, "the plugin started: \((try? fixture.directory.read("backup.log")) ?? "")")
        #expect(processes(withEnvironment: marker).count > 1, "the chains run")
        signalBackground(pid, SIGKILL)
        let killed = ContinuousClock.now
        var left = processes(withEnvironment: marker)
        while !left.isEmpty && ContinuousClock.now < killed + .seconds(1) {
            try await Task.sleep(for: .milliseconds(20))
            left = processes(withEnvironment: marker)
        }
        let took = killed.duration(to: .now)
        #expect(left.isEmpty, "plugin processes alive \(took) after kill -9 of gwbackup: \(left)")
        print("sandbox: the plugin's 25+ processes were gone \(took) after kill -9 of gwbackup")
    }

    // MARK: What runs is what was checked

    @Test func anExecutableChangedAfterItsCheckIsNotRun() async throws {
        let place = try Place("sandbox-swap")
        let plugin = try place.plugin("cat >/dev/null\n\(Self.ok)")
        _ = try await plugin.collect(try place.context())
        let executable = place.directory.sub("plugins/hostile/run")
        // Made writable by others after the load's check: refused at the step, before it runs.
        chmod(executable, 0o777)
        await self.expectFailure({ _ = try await plugin.collect(try place.context("staging-2")) }, containing: ["can be written by others"])
        chmod(executable, 0o755)
        // Replaced by another user's file (an unprivileged user swapping the program).
        try place.directory.write("plugins/hostile/other", "#!/bin/sh\necho owned > '\(place.besideRoot)/passwd'\n", mode: 0o755)
        #expect(chown(place.directory.sub("plugins/hostile/other"), 65534, 65534) == 0)
        #expect(rename(place.directory.sub("plugins/hostile/other"), executable) == 0)
        await self.expectFailure({ _ = try await plugin.collect(try place.context("staging-3")) }, containing: ["belongs to user 65534"])
        #expect(try place.directory.read("canary/passwd") == "root:x:0:0:canary\n")
    }

    // MARK: The kit and the switches

    @Test func theKitNamesWhatTheSandboxRefusedOrTheCoreRejected() async throws {
        let place = try Place("sandbox-kit")
        try place.directory.write("root/etc/snmp/snmpd.conf", "rocommunity public\n")
        let good = #"cp -p "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE" "$GWBACKUP_STAGING/file""#
        let restore = #"cp "$GWBACKUP_STAGING/file" "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE""#
        let cases: [(collect: String, restore: String, rule: String, detail: String)] = [
            ("echo x > /tmp/gwb-kit-\(UUID().uuidString); " + good, restore, "collect-writes-only-staging", "Read-only file system"),
            (good, restore + #"; mkdir -p "$GWBACKUP_ROOT/etc/cron.d"; echo x > "$GWBACKUP_ROOT/etc/cron.d/pwn""#, "restore-writes-only-declared-paths", "etc/cron.d"),
            (good, restore + "; echo x > '\(place.besideRoot)/passwd'", "restore-writes-only-declared-paths", "Read-only file system"),
        ]
        for (collect, restore, rule, detail) in cases {
            let plugin = try place.plugin("""
                cat >/dev/null
                case "$GWBACKUP_ACTION" in
                  collect) \(collect) ;;
                  restore) \(restore) ;;
                  *) echo '{"protocol":1,"status":"error","message":"unknown"}'; exit 1 ;;
                esac
                \(Self.ok)
                """)
            let component = ManifestComponent(name: "hostile", plugin: "hostile", parameters: ["file": .string("etc/snmp/snmpd.conf")])
            let workspace = place.directory.sub("kit-\(UUID().uuidString.prefix(6))")
            try FileTree.makePrivateDirectory(workspace)
            let checks = await PluginConformance(component: component, plugin: plugin, root: place.root, workspace: workspace, stepTimeout: 10, logger: Self.logger).run()
            let check = try #require(checks.first { $0.rule == rule })
            #expect(check.status == .fail && check.detail.contains(detail), "\(rule): \(check.status) \(check.detail)")
        }
        #expect(try place.directory.read("canary/passwd") == "root:x:0:0:canary\n")
    }

    @Test func withoutTheSandboxAStepRunsUnconfinedOnlyWhenAskedAndTheGuardSaysWhyItCannot() async throws {
        let place = try Place("sandbox-off")
        let writer = "cat >/dev/null\necho unconfined > '\(place.besideRoot)/written' || exit 7\n\(Self.ok)"
        let sandboxed = try place.plugin(writer)
        await self.expectFailure({ _ = try await sandboxed.collect(try place.context()) }, containing: ["Read-only file system"])
        let unconfined = try place.plugin(writer, launcher: ChildProcessLauncher(sandboxes: false))
        _ = try await unconfined.collect(try place.context("staging-2"))
        #expect(try place.directory.read("canary/written") == "unconfined\n")
        // A user who may not make namespaces: the guard's probe says so (gwbackup then asks for --no-sandbox).
        let guardPath = try #require(ChildProcess.guardPath)
        let probe = try shell("setpriv --reuid=65534 --regid=65534 --clear-groups \(guardPath) --probe 2>&1; echo \"status $?\"")
        #expect(probe.output.contains("sandbox: cannot make namespaces") && probe.output.contains("status 125"), "\(probe.output)")
        #expect(ChildProcess.sandboxProblem == nil, "root on this machine can sandbox")
    }

    /// Replacement hardware: the declared path's directories do not exist yet, and the nearest one
    /// that does (var/lib) holds gwbackup's staging area. They are made first, so the overlay covers
    /// only them; a mode the plugin gives them is applied; a failed step removes them again.
    @Test func aRestoreOntoAFreshRootMakesTheDirectoriesItsPathsNeed() async throws {
        let place = try Place("sandbox-fresh")
        try FileTree.makeDirectories(place.root + "/var/lib/gwbackup")
        let staging = place.root + "/var/lib/gwbackup/staging"
        try FileTree.makePrivateDirectory(staging)
        let parameters: [String: JSONValue] = ["file": .string("var/lib/app/vault/key")]
        let good = try place.plugin("""
            cat >/dev/null
            echo secret > "$GWBACKUP_ROOT/var/lib/app/vault/key"
            chmod 0700 "$GWBACKUP_ROOT/var/lib/app/vault"
            \(Self.ok)
            """)
        _ = try await good.restore(PluginContext(component: "hostile", applianceRoot: place.root, stagingDirectory: staging, parameters: parameters, logger: Self.logger))
        #expect(try place.directory.read("root/var/lib/app/vault/key") == "secret\n")
        #expect(try FileStatus.of(place.root + "/var/lib/app/vault")?.mode == 0o700, "the mode the plugin gave the new directory")
        try FileTree.remove(place.root + "/var/lib/app")
        let failing = try place.plugin("cat >/dev/null\nexit 3\n")
        await self.expectFailure({ _ = try await failing.restore(PluginContext(component: "hostile", applianceRoot: place.root, stagingDirectory: staging, parameters: parameters, logger: Self.logger)) }, containing: ["exit status 3"])
        #expect(try FileStatus.of(place.root + "/var/lib/app") == nil, "the directories made for a failed step are removed")
    }

    @Test func aStagingAreaInsideTheOverlaidDirectoryIsRefusedWithTheReason() async throws {
        let place = try Place("sandbox-overlap")
        // The declared path's directory holds the staging directory itself.
        try FileTree.makeDirectories(place.root + "/var/lib/gwbackup")
        let plugin = try place.plugin("cat >/dev/null\n\(Self.ok)")
        let staging = place.root + "/var/lib/gwbackup/staging"
        try FileTree.makePrivateDirectory(staging)
        let context = PluginContext(component: "hostile", applianceRoot: place.root, stagingDirectory: staging, parameters: ["file": .string("var/lib/app.db")], logger: Self.logger)
        await self.expectFailure({ _ = try await plugin.restore(context) }, containing: ["cannot sandbox the restore: the staging area", "lies inside"])
    }
}
