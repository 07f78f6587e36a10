import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayAPI
import GatewayWire

/// `gwbackup schedules`: the server's schedules, when each runs next, its last run and last skipped run.
struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules",
        abstract: "Show the schedules of gwbackup serve: next run, last run, last skipped run.",
        discussion: "Reads the server's configuration (--config, as gwbackup serve) and its state directory; checks each schedule and its credentials file.")

    @Option(help: "The server's configuration file (JSON).")
    var config: String

    @Option(name: .customLong("state-dir"), help: "State directory (default: the configuration's).")
    var stateDirectory: String?

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await CommandSupport.run {
            let configuration = try APIConfiguration.load(path: Paths.absolute(self.config))
            let state = try ScheduleState.load(from: self.stateDirectory.map(Paths.absolute) ?? configuration.stateDirectory)
            let views = WireSchedule.views(configuration.schedules, state: state)
            var problems: [String: String] = [:]
            for schedule in configuration.schedules {
                do { _ = try ScheduleCredentials.load(schedule.credentialsFile) } catch {
                    problems[schedule.name] = BackupError.wrap(error).message
                }
            }
            if self.output.json {
                try Format.printJSON(views)
            } else if views.isEmpty {
                print("no schedules in \(self.config)")
            } else {
                for view in views {
                    let zone = TimeZone(identifier: view.timeZone) ?? .gmt
                    let job = configuration.schedules.first { $0.name == view.name }?.runs ?? .backup
                    print("\(view.name)  \(job == .backup ? "" : job.rawValue + "  ")\(view.cron)  (\(view.timeZone))")
                    print("  next run:     \(view.nextRun.map { Self.describe($0, zone) } ?? "never")")
                    if let run = view.lastRun {
                        print("  last run:     \(Self.describe(run.at, zone))  \(run.result)\(run.message.isEmpty ? "" : "  \(SafeText.escaped(run.message))")")
                    } else {
                        print("  last run:     none yet")
                    }
                    if let skipped = view.lastSkipped {
                        print("  last skipped: \(Self.describe(skipped.at, zone))  \(SafeText.escaped(skipped.message))")
                    }
                    if let problem = problems[view.name] { print("  PROBLEM:      \(SafeText.escaped(problem))") }
                }
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }

    /// A time in the schedule's zone and in UTC.
    static func describe(_ seconds: Int64, _ zone: TimeZone) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.timeZone = zone
        local.dateFormat = "yyyy-MM-dd HH:mm zzz"
        let utc = ISO8601DateFormatter()
        return "\(local.string(from: date)) (\(utc.string(from: date)))"
    }
}
