import ArgumentParser
import BackupCore
import BackupRuntime

/// `gwbackup list`: the backups under the backup path.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the backups under the backup path.")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions

    /// One backup, as `--json` prints it.
    struct Listed: Encodable {
        var name: String
        var location: String
        var created: String
        var appliance: String
        var toolVersion: String
        var components: [String]
        var failedComponents: [String]
        var bytes: UInt64
    }

    /// The whole listing, as `--json` prints it.
    struct Listing: Encodable {
        var backups: [Listed]
        var ignored: [String]
    }

    func run() async throws {
        try await CommandSupport.run {
            let runtime = CommandSupport.runtime(state: self.state, output: self.output)
            let store = try self.storage.store(runtime: runtime)
            defer { store.close() }
            let catalog = try await Blocking.run { try BackupCatalog.read(store) }
            let listed = catalog.backups.map { entry in
                Listed(
                    name: entry.name, location: store.location(of: entry.name), created: entry.index.created,
                    appliance: entry.index.manifest.appliance, toolVersion: entry.index.toolVersion,
                    components: entry.index.components.filter { $0.outcome == "ok" }.map(\.name),
                    failedComponents: entry.index.components.filter { $0.outcome != "ok" }.map(\.name),
                    bytes: entry.index.components.compactMap(\.size).reduce(0, +))
            }
            if self.output.json {
                try Format.printJSON(Listing(backups: listed, ignored: catalog.ignored.map(\.description)))
                return
            }
            if listed.isEmpty { print("no complete backup in \(store.displayName)") }
            for backup in listed.reversed() {
                let failed = backup.failedComponents.isEmpty ? "" : "  (not backed up: \(backup.failedComponents.joined(separator: ", ")))"
                print("\(SafeText.escaped(backup.name))  \(SafeText.escaped(backup.created, limit: 40))  \(Format.bytes(backup.bytes))  \(backup.components.joined(separator: ","))\(SafeText.escaped(failed))")
            }
            for ignored in catalog.ignored { print("ignored: \(ignored)") }
        }
    }
}
