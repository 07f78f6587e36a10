/// A count a plugin reports about a component's data (`PluginReport.counts`, e.g. sqlite-config's
/// `rows in table accounts`) that differs between two states of the component.
///
/// Files say that a database changed; counts say how, in the terms an operator thinks in.
public struct CountChange: Codable, Sendable, Equatable {
    /// The plugin's name for what it counted (escaped: a plugin's words).
    public var name: String
    /// The count in the first state; nil when the first state does not report it.
    public var before: Int64?
    /// The count in the second state; nil when the second state does not report it.
    public var after: Int64?

    public init(name: String, before: Int64?, after: Int64?) {
        self.name = name
        self.before = before
        self.after = after
    }

    /// `rows in table accounts 3 -> 5`; a count missing on one side reads `none`.
    public var summary: String {
        "\(self.name) \(self.before.map(String.init) ?? "none") -> \(self.after.map(String.init) ?? "none")"
    }

    /// The counts that differ from `before` to `after`, sorted by name.
    public static func changes(from before: [String: Int64], to after: [String: Int64]) -> [CountChange] {
        Set(before.keys).union(after.keys).sorted().compactMap { name in
            before[name] == after[name] ? nil : CountChange(name: name, before: before[name], after: after[name])
        }
    }
}
