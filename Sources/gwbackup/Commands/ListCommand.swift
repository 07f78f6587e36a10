import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `gwbackup list`: the backups under the backup path. With the security password, what it authenticates
/// (and what does not, with the reason); without it, what the plain manifests say, marked unauthenticated.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the backups under the backup path.",
        discussion: """
            With the security password (--security-pwd-file or GWBACKUP_SECURITY_PWD), every backup's authenticated \
            index is opened: times, components and owners are what the password vouches for, and directories that do \
            not authenticate are listed as unverified with the reason. Without it, the plain manifests are shown, \
            marked unauthenticated: whoever controls the store could have written them.
            """)

    @OptionGroup var storage: StorageOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions
    @OptionGroup var recovery: RecoveryKeyOptions

    @Option(name: .customLong("security-pwd-file"), help: "File holding the security password: list what it authenticates. GWBACKUP_SECURITY_PWD works too.")
    var securityPasswordFile: String?

    /// One backup, as `--json` prints it.
    struct Listed: Encodable {
        var name: String
        var location: String
        var created: String
        var appliance: String
        var toolVersion: String?
        var components: [String]
        var failedComponents: [String]
        var bytes: UInt64
        /// True when the security password authenticated what this entry says.
        var authenticated: Bool
        /// The appliance that took it (authenticated listings only; nil for backups written before indexes named it).
        var applianceID: String?
        var hostname: String?
        /// True when it is this appliance's own backup (authenticated listings only).
        var own: Bool?
        /// The key identifier of the password it needs (`KeyIdentifier`): authenticated in an
        /// authenticated listing, the plain manifest's word otherwise; nil for backups before 0.3.0.
        var keyID: String?

        // snake_case, as every `--json` output (docs/json/list.schema.json).
        enum CodingKeys: String, CodingKey {
            case name, location, created, appliance, components, bytes, authenticated, hostname, own
            case toolVersion = "tool_version"
            case failedComponents = "failed_components"
            case applianceID = "appliance_id"
            case keyID = "key_id"
        }
    }

    /// A directory that did not authenticate.
    struct Unverified: Encodable {
        var name: String
        var reason: String
    }

    /// The whole listing, as `--json` prints it.
    struct Listing: Encodable {
        var authenticated: Bool
        var appliance: String?
        var backups: [Listed]
        var unverified: [Unverified]
        var ignored: [String]
    }

    func run() async throws {
        try await CommandSupport.run {
            // With a recovery key: what its secret part opens, the security password not needed.
            let (runtime, passphrase) = try self.recovery.openOptionally(
                CommandSupport.runtime(state: self.state, output: self.output, deadlines: self.deadlines), securityPasswordFile: self.securityPasswordFile)
            let store = try self.storage.store(runtime: runtime)
            defer { store.close() }
            let listing: Listing
            if let passphrase {
                let own = try ApplianceIdentity.read(stateDirectory: self.state.resolvedStateDirectory)?.id
                let catalog: AuthenticatedCatalog
                do {
                    catalog = try await Blocking.run { try runtime.catalog(store: store, passphrase: passphrase) }
                } catch let error as BackupError where error.code == .wrongPassword && self.recovery.isSet {
                    throw error
                } catch let error as BackupError where error.code == .wrongPassword {
                    // Say which password the backups need, by key (a rotation, or another appliance's).
                    let key = try await Blocking.run { KeyIdentifier.of(passphrase) }
                    let needed = (try? await Blocking.run { try BackupCatalog.read(store) })?.backups.compactMap(\.keyID) ?? []
                    let counts = Dictionary(needed.map { ($0, 1) }, uniquingKeysWith: +).sorted { $0.key < $1.key }
                    let hint = counts.isEmpty ? "" : "; their plain manifests name \(counts.map { "key \(SafeText.escaped($0.key, limit: 40)) (\($0.value) backup\($0.value == 1 ? "" : "s"))" }.joined(separator: ", "))"
                    throw BackupError(.wrongPassword, "\(error.message); this password is key \(key)\(hint)")
                }
                let mine = Set(catalog.backups(of: own).map(\.name))
                listing = Listing(
                    authenticated: true, appliance: own,
                    backups: catalog.backups.map { backup in
                        let ok = backup.index.components.filter { $0.outcome == "ok" }
                        return Listed(
                            name: backup.name, location: store.location(of: backup.name), created: backup.index.created, appliance: backup.index.appliance,
                            toolVersion: nil, components: ok.map(\.name), failedComponents: backup.index.components.filter { $0.outcome != "ok" }.map(\.name),
                            bytes: ok.compactMap(\.size).reduce(0, +), authenticated: true, applianceID: backup.applianceID, hostname: backup.index.hostname,
                            own: mine.contains(backup.name), keyID: backup.index.keyID)
                    },
                    unverified: catalog.unverified.map { Unverified(name: SafeText.escaped($0.name, limit: 200), reason: SafeText.escaped($0.reason)) },
                    ignored: catalog.notBackups.map(\.description))
            } else {
                // Within the job deadline (the catalog has its own): a store that stalls a manifest is cut off.
                let deadline = self.deadlines.jobDeadline
                let catalog = try await Blocking.run { try store.withinDeadline(deadline) { try BackupCatalog.read(store) } }
                listing = Listing(
                    authenticated: false, appliance: nil,
                    backups: catalog.backups.map { backup in
                        Listed(
                            name: backup.name, location: store.location(of: backup.name), created: backup.created, appliance: backup.appliance,
                            toolVersion: backup.toolVersion, components: backup.components, failedComponents: backup.failedComponents, bytes: backup.bytes,
                            authenticated: false, keyID: backup.keyID)
                    },
                    unverified: [], ignored: catalog.ignored.map(\.description))
            }
            if self.output.json {
                try Format.printJSON(listing)
                return
            }
            if let passphrase, listing.authenticated, !self.recovery.isSet {
                let key = try await Blocking.run { KeyIdentifier.of(passphrase) }
                print("this password: key \(key)")
            }
            if !listing.authenticated {
                print("(no security password: what the plain manifests say, unauthenticated; give --security-pwd-file to list what it vouches for)")
            } else if let own = listing.appliance {
                print("this appliance: \(own)")
            }
            if listing.backups.isEmpty { print("no complete\(listing.authenticated ? ", authenticated" : "") backup in \(store.displayName)") }
            for backup in listing.backups.reversed() {
                let failed = backup.failedComponents.isEmpty ? "" : "  (not backed up: \(backup.failedComponents.joined(separator: ", ")))"
                let owner = backup.own == false ? "  [appliance \(backup.applianceID ?? "not recorded")\(backup.hostname.map { ", \($0)" } ?? "")]" : ""
                let key = backup.keyID.map { "  key \(SafeText.escaped($0, limit: 40))" } ?? ""
                print("\(SafeText.escaped(backup.name))  \(SafeText.escaped(backup.created, limit: 40))  \(Format.bytes(backup.bytes))  \(SafeText.escaped(backup.components.joined(separator: ",")))\(SafeText.escaped(failed))\(SafeText.escaped(owner))\(key)")
            }
            for unverified in listing.unverified { print("unverified: \(unverified.name) (\(unverified.reason))") }
            for ignored in listing.ignored { print("ignored: \(ignored)") }
        }
    }
}
