import BackupCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress display on a terminal's stderr; silent when stderr is not a terminal.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private let enabled: Bool
    private var shown = false

    init(enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.enabled = enabled
    }

    /// Shows `event`, replacing the previous line.
    func show(_ event: JobProgress) {
        guard self.enabled else { return }
        var text = "[\(min(event.completedComponents + 1, event.totalComponents))/\(event.totalComponents)] \(event.component ?? "") \(event.phase)"
        if event.bytes > 0 { text += " \(Format.bytes(event.bytes))" }
        self.lock.withLock {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
            self.shown = true
        }
    }

    /// Clears the line before normal output.
    func end() {
        self.lock.withLock {
            if self.shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            self.shown = false
        }
    }
}
