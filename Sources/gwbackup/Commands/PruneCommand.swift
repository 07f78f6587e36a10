import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `gwbackup prune`: delete old backups by a retention policy (the newest complete one always stays).
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete backups a retention policy no longer keeps.",
        discussion: """
            Needs the security password, as restic's forget does: only this appliance's backups whose authenticated \
            index opens count and can be deleted, by their authenticated times; the newest is always kept; directories \
            that do not authenticate and other appliances' backups are never touched (they are reported); leftovers of \
            interrupted backups older than a day are removed; nothing is deleted while a job runs. Periods are UTC days, \
            ISO weeks and months.
            """)

    @OptionGroup var storage: StorageOptions
    @OptionGroup var password: SecurityPasswordOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions

    @Option(name: .customLong("keep-last"), help: "Keep the newest N backups.")
    var keepLast: Int?
    @Option(name: .customLong("keep-daily"), help: "Keep the newest backup of each of the last N days that have one.")
    var keepDaily: Int?
    @Option(name: .customLong("keep-weekly"), help: "Keep the newest backup of each of the last N ISO weeks that have one.")
    var keepWeekly: Int?
    @Option(name: .customLong("keep-monthly"), help: "Keep the newest backup of each of the last N months that have one.")
    var keepMonthly: Int?
    @Flag(name: .customLong("dry-run"), help: "Say what would be deleted and why; delete nothing.")
    var dryRun = false

    var policy: RetentionPolicy {
        RetentionPolicy(keepLast: self.keepLast, keepDaily: self.keepDaily, keepWeekly: self.keepWeekly, keepMonthly: self.keepMonthly)
    }

    func validate() throws {
        do { try self.policy.validate() } catch let error as BackupError { throw ValidationError(error.message) }
    }

    func run() async throws {
        try await CommandSupport.run {
            let runtime = CommandSupport.runtime(state: self.state, output: self.output, deadlines: self.deadlines)
            let store = try self.storage.store(runtime: runtime)
            defer { store.close() }
            let pruner = runtime.pruner(store: store, policy: self.policy, passphrase: try self.password.read(confirm: false))
            let dryRun = self.dryRun
            let report = try await Blocking.run { try pruner.run(dryRun: dryRun) }
            if self.output.json {
                try Format.printJSON(report)
                return
            }
            let verb = self.dryRun ? "would delete" : "deleted"
            let width = verb.count
            print("appliance \(report.appliance): \(report.decisions.count) authenticated backup(s) in \(SafeText.escaped(report.location))")
            for decision in report.decisions {
                print("\((decision.keep ? "keep" : verb).padding(toLength: width, withPad: " ", startingAt: 0))  \(SafeText.escaped(decision.name))  (\(decision.reasons.joined(separator: ", ")))")
            }
            for leftover in report.leftovers { print("\(self.dryRun ? "would remove" : "removed") leftover \(SafeText.escaped(leftover))") }
            for unverified in report.unverified { print("left alone, unverified: \(unverified)") }
            for other in report.otherAppliances { print("left alone: \(SafeText.escaped(other)) (another appliance's backup)") }
            for other in report.untouched { print("left alone: \(SafeText.escaped(other)) (not a backup)") }
            let deleted = report.decisions.filter { !$0.keep }.count
            print("\(report.decisions.count - deleted) kept, \(deleted) \(verb)\(self.dryRun ? " (dry run)" : "")")
        }
    }
}
