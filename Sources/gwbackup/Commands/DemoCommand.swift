import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupDemo

/// `gwbackup demo --root DIR`: write a demo appliance to back up.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Write a demo Flow Gateway under a directory.")

    @Option(help: "Where to write the demo appliance.")
    var root: String

    @Option(name: .customLong("bulk-mib"), help: "Add this many MiB of flow records (for benchmarks).")
    var bulkMiB: Int = 0

    func validate() throws {
        if self.root == "/" { throw ValidationError("refusing to write a demo appliance over /") }
        if self.bulkMiB < 0 { throw ValidationError("--bulk-mib must not be negative") }
    }

    func run() async throws {
        try await CommandSupport.run {
            let root = Paths.absolute(self.root)
            try DemoAppliance(root: root).write(bulkMiB: self.bulkMiB)
            print("demo appliance written to \(root)")
        }
    }
}
