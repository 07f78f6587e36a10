// sftp-upload-bench HOST PORT USER PASSWORD_FILE REMOTE_PATH FILE [download | download-only BACKUP]
// Uploads FILE through the SFTP backup store (as a one-component backup) and prints the backup's
// name; with `download` also reads it back; with `download-only BACKUP` only reads back that
// backup's copy (FILE gives the expected size), so `make bench` can compare each direction with
// OpenSSH's sftp put and get on the same file.
import BackupCore
import BackupModel
import BackupPOSIX
import BackupSFTP
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 7, let port = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: sftp-upload-bench HOST PORT USER PASSWORD_FILE REMOTE_PATH FILE [download]\n".utf8))
    exit(64)
}
// This run's own known hosts, removed when it exits (each run of `make bench` left one behind).
let knownHostsPath = NSTemporaryDirectory() + "/sftp-bench-known-hosts-\(getpid()).json"
func exitRemovingKnownHosts(_ status: Int32) -> Never {
    unlink(knownHostsPath)
    exit(status)
}
do {
    let password = String(decoding: try FileTree.readFile(arguments[4]), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    let endpoint = SSHEndpoint(
        host: arguments[1], port: port, username: arguments[3], authentication: .password(Secret(password)),
        knownHosts: KnownHosts(path: knownHostsPath))
    let store = SFTPBackupStore(endpoint: endpoint, path: arguments[5])
    if arguments.count > 8 && arguments[7] == "download-only" {
        let expected = try FileStatus.of(arguments[6])?.size ?? 0
        let read = try store.openComponent(backup: arguments[8], file: "data.bin").copy(to: NullSink())
        guard read == expected else { throw BackupError(.corrupted, "read back \(read) of \(expected) bytes") }
        print(read)
        exitRemovingKnownHosts(0)
    }
    let name = "bench-\(getpid())"
    let writer = try store.beginBackup(name: name)
    let sink = try writer.createComponent(file: "data.bin")
    let source = try FileDescriptorStream.openForReading(arguments[6])
    let bytes = try source.copy(to: sink)
    try sink.finish()
    try writer.commit(index: Array("{}".utf8))
    if arguments.count > 7 && arguments[7] == "download" {
        let read = try store.openComponent(backup: name, file: "data.bin").copy(to: NullSink())
        guard read == bytes else { throw BackupError(.corrupted, "read back \(read) of \(bytes) bytes") }
    }
    print(name)
    exitRemovingKnownHosts(0)
} catch {
    FileHandle.standardError.write(Data("sftp-upload-bench: \(error)\n".utf8))
    exitRemovingKnownHosts(1)
}
