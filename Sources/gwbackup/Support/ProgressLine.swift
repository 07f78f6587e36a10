import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Glibc
import Synchronization

/// A one-line progress display on a terminal's stderr: the component, its phase, its bytes, the
/// share of the job done and the time left (`JobProgressEstimate`); silent when stderr is not a
/// terminal.
final class ProgressLine: Sendable {
    private struct Shown {
        var estimate: JobProgressEstimate
        var visible = false
    }

    private let enabled: Bool
    private let state: Mutex<Shown>

    /// `expectedBytes`: each component's size in the last backup, so that a long component's share
    /// grows while it is written.
    init(expectedBytes: [String: UInt64] = [:], enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.enabled = enabled
        self.state = Mutex(Shown(estimate: JobProgressEstimate(expectedBytes: expectedBytes, now: Self.now())))
    }

    /// Shows `event`, replacing the previous line.
    func show(_ event: JobProgress) {
        guard self.enabled else { return }
        self.state.withLock { shown in
            _ = shown.estimate.update(event)
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + Self.text(event, estimate: shown.estimate, now: Self.now())).utf8))
            shown.visible = true
        }
    }

    /// The line for `event`: `[2/5] snmp encrypting 1.2 MiB  43%  ETA 0:07`.
    static func text(_ event: JobProgress, estimate: JobProgressEstimate, now: Double) -> String {
        var text = "[\(min(event.completedComponents + 1, event.totalComponents))/\(event.totalComponents)] \(event.component ?? "") \(event.phase)"
        if event.bytes > 0 { text += " \(Format.bytes(event.bytes))" }
        return text + "  " + estimate.describe(now: now)
    }

    /// Clears the line before normal output.
    func end() {
        self.state.withLock { shown in
            if shown.visible { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            shown.visible = false
        }
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
