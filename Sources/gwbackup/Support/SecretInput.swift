import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// Reads secrets from a file, an environment variable, or a terminal prompt without echo, never from
/// arguments (which any user can read in the process list).
enum SecretInput {
    /// The secret from `file` (its first line), else `$environment`, else a prompt on a terminal.
    static func read(file: String?, environment: String, prompt: String, confirm: Bool = false) throws -> Secret {
        if let file {
            // As ssh does for keys: say so when others can read the secret (not fatal: it may be
            // on a filesystem without modes).
            if let status = try? FileStatus.of(Paths.absolute(file)), status.mode & 0o077 != 0 {
                FileHandle.standardError.write(Data(
                    "gwbackup: warning: \(file) can be read by other users (mode \(String(status.mode, radix: 8))); chmod 600 it\n".utf8))
            }
            let data: Data
            do {
                data = try FileTree.readFile(Paths.absolute(file), limit: 64 << 10)
            } catch {
                throw BackupError(.invalidInput, "cannot read the secret file \(file): \(BackupError.wrap(error).message)")
            }
            let text = String(decoding: data, as: UTF8.self)
            let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let secret = line.hasSuffix("\r") ? String(line.dropLast()) : line
            guard !secret.isEmpty else { throw BackupError(.invalidInput, "the secret file \(file) is empty") }
            return Secret(secret)
        }
        if let value = environmentValue(environment) { return Secret(value) }
        guard isatty(STDIN_FILENO) == 1 else {
            throw BackupError(.invalidInput, "no secret given: use a file option, set \(environment), or run on a terminal to be asked")
        }
        let first = try self.prompt(prompt)
        if confirm {
            guard try self.prompt("Again: ") == first else { throw BackupError(.invalidInput, "the two entries differ") }
        }
        guard !first.isEmpty else { throw BackupError(.invalidInput, "the secret must not be empty") }
        return Secret(first)
    }

    /// A non-empty environment variable.
    static func environmentValue(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    private static func prompt(_ text: String) throws -> String {
        guard let pointer = getpass(text) else { throw BackupError(.invalidInput, "could not read from the terminal") }
        return String(cString: pointer)
    }
}
