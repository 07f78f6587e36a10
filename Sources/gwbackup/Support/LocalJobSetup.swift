import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// What a command that runs a job on this machine sets up first (restore, diff, drill): the runtime,
/// the store, the security password, the progress line and the orchestrator that feeds it. Close
/// `store` when done.
struct LocalJobSetup {
    let runtime: BackupRuntime
    let store: any BackupStore
    let secret: Secret
    let progress: ProgressLine
    var orchestrator: Orchestrator

    init(storage: StorageOptions, password: SecurityPasswordOptions, state: StateOptions, appliance: ApplianceOptions, output: OutputOptions, deadlines: DeadlineOptions, recovery: RecoveryKeyOptions? = nil) throws {
        let runtime = CommandSupport.runtime(state: state, appliance: appliance, output: output, deadlines: deadlines)
        // With a recovery key, its secret part opens the backup and the security password is not asked.
        let recovered = try recovery?.apply(to: runtime)
        self.runtime = recovered?.0 ?? runtime
        self.store = try storage.store(runtime: self.runtime)
        do {
            self.secret = try recovered?.1 ?? password.read(confirm: false)
        } catch {
            self.store.close()
            throw error
        }
        let progress = ProgressLine()
        self.progress = progress
        self.orchestrator = self.runtime.orchestrator { progress.show($0) }
    }
}
