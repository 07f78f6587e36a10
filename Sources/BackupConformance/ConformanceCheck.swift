/// The outcome of one rule of `gwbackup plugins test`.
public struct ConformanceCheck: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pass, fail, skip
    }

    /// The rule's id (`collect-leaves-root-unchanged`), which a failure names.
    public var rule: String
    /// What the rule demands, in a sentence.
    public var title: String
    public var status: Status
    /// Why it failed or was skipped; what was seen when it passed.
    public var detail: String

    public init(rule: String, title: String, status: Status, detail: String = "") {
        self.rule = rule
        self.title = title
        self.status = status
        self.detail = detail
    }
}

/// The rules, in the order they run.
public enum ConformanceRule: String, CaseIterable, Sendable {
    case descriptor
    case replyIsOneProtocolObject = "reply-is-one-protocol-object"
    case newerProtocolRefused = "newer-protocol-refused"
    case unknownActionRefused = "unknown-action-refused"
    case collectLeavesRootUnchanged = "collect-leaves-root-unchanged"
    case collectWritesOnlyStaging = "collect-writes-only-staging"
    case collectIsRepeatable = "collect-is-repeatable"
    case stagingIsArchivable = "staging-is-archivable"
    case roundTrip = "round-trip"
    case absentStaysAbsent = "absent-stays-absent"
    case verifyRefusesCorruption = "verify-refuses-corruption"
    case rollbackRestoresPriorState = "rollback-restores-prior-state"
    case restoreWritesOnlyDeclaredPaths = "restore-writes-only-declared-paths"
    case stopsOnSIGTERM = "stops-on-sigterm"
    case stepsFinishInTime = "steps-finish-in-time"
    case noProcessLeftBehind = "no-process-left-behind"

    public var title: String {
        switch self {
        case .descriptor: "plugin.json is well formed and its executable may be run"
        case .replyIsOneProtocolObject: "a step answers with exactly one JSON object of protocol 1"
        case .newerProtocolRefused: "a request of a newer protocol is refused cleanly"
        case .unknownActionRefused: "a request with an unknown action is refused cleanly"
        case .collectLeavesRootUnchanged: "collect changes nothing under the appliance root"
        case .collectWritesOnlyStaging: "collect writes only into its staging directory"
        case .collectIsRepeatable: "collect twice gives the same staged content (apart from what the descriptor declares volatile)"
        case .stagingIsArchivable: "collect stages only regular files, directories and symlinks, each once (the archive keeps nothing else)"
        case .roundTrip: "collect, restore into a fresh root, collect again: the same content"
        case .absentStaysAbsent: "a file absent at collect time is absent after restore"
        case .verifyRefusesCorruption: "verify accepts an intact staging tree and refuses a corrupted one"
        case .rollbackRestoresPriorState: "after a failing restore, the rollback puts the root back as it was"
        case .restoreWritesOnlyDeclaredPaths: "restore changes only the paths its component declares (checked in the sandbox)"
        case .stopsOnSIGTERM: "a step stops on SIGTERM (before gwbackup's SIGKILL)"
        case .stepsFinishInTime: "every step finishes within its timeout"
        case .noProcessLeftBehind: "no process the plugin started outlives its step"
        }
    }
}
