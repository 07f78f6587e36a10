import BackupModel
import BackupPOSIX

/// What a plugin reports after a step that did not fail.
public struct PluginReport: Sendable, Equatable {
    /// Things the operator should know that did not stop the step.
    public var warnings: [String]
    /// What the step did, in the plugin's words (an external plugin's reply `message`), for the
    /// component's line in the status.
    public var message: String
    /// What the staged data holds, by name (sqlite-config's verify: `rows in table accounts`): a
    /// preview compares them between the appliance and the backup. Empty when the plugin counts nothing.
    public var counts: [String: Int64]

    public init(warnings: [String] = [], message: String = "", counts: [String: Int64] = [:]) {
        self.warnings = warnings
        self.message = message
        self.counts = counts
    }

    /// At most this many counts are kept from one reply.
    public static let countLimit = 256

    /// A reply's `counts` checked: an object of at most `countLimit` names (escaped, at most 120
    /// characters) to whole numbers from 0 to 2^53. A plugin's words are outside input: anything
    /// else is dropped, with a warning that says why, and never fails the step.
    public static func counts(from value: JSONValue?, plugin: String) -> (counts: [String: Int64], warning: String?) {
        guard let value, value != .null else { return ([:], nil) }
        guard case .object(let object) = value else {
            return ([:], "plugin '\(plugin)' sent counts that are not a JSON object; ignored")
        }
        var counts: [String: Int64] = [:]
        var dropped = 0
        for (name, item) in object.sorted(by: { $0.key < $1.key }) {
            guard counts.count < Self.countLimit, !name.isEmpty, case .number(let number) = item,
                  number >= 0, number <= 9_007_199_254_740_992, number == number.rounded()
            else {
                dropped += 1
                continue
            }
            counts[SafeText.escaped(name, limit: 120)] = Int64(number)
        }
        return (counts, dropped == 0 ? nil : "plugin '\(plugin)' sent \(dropped) count(s) that are not whole numbers from 0 to 2^53 under a name, or over \(Self.countLimit); ignored")
    }
}
