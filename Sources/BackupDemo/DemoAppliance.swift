import BackupCore
import BackupModel
import BackupPOSIX
import BackupProcess
import BackupCertificates
import Foundation
import Glibc

/// Writes a realistic Flow Gateway under a root directory: the files behind the five components of
/// `manifests/flowgateway.json`, with the modes a real appliance has.
public struct DemoAppliance: Sendable {
    /// The appliance root to write into (created if missing).
    public var root: String

    public init(root: String) {
        self.root = root
    }

    /// Writes every file. Existing demo files are replaced; nothing else under the root is touched.
    /// `bulkMiB` adds that many MiB of flow records (for benchmarks) to the configuration.
    public func write(bulkMiB: Int = 0) throws {
        try FileTree.makeDirectories(self.root, mode: 0o755)
        try self.directory("etc/flowgateway", mode: 0o755)
        try self.directory("etc/flowgateway/vault", mode: 0o700)
        try self.directory("etc/flowgateway/certs", mode: 0o755)
        try self.directory("etc/snmp", mode: 0o755)
        try self.directory("etc/ntp", mode: 0o755)
        try self.directory("var/lib/flowgateway", mode: 0o750)

        try self.file("etc/flowgateway/flowgateway.conf", mode: 0o644, """
            # Flow Gateway main configuration
            hostname = fg-demo-01
            management_interface = mgmt0
            collector_port = 2055
            ipfix_port = 4739
            export_targets = 10.20.0.15:2055, 10.20.0.16:2055
            sampling_rate = 1:1000
            retention_days = 30

            """)
        try self.file("etc/flowgateway/interfaces.conf", mode: 0o644, """
            [mgmt0]
            address = 192.0.2.10/24
            gateway = 192.0.2.1
            [mon0]
            mode = promiscuous
            mtu = 9000

            """)
        try self.symlink("etc/flowgateway/current.conf", target: "flowgateway.conf")
        try self.database("var/lib/flowgateway/config.db")
        try self.random("etc/flowgateway/vault/cloak.key", bytes: 64, mode: 0o600)
        try self.file("etc/snmp/snmpd.conf", mode: 0o600, """
            sysLocation    "Rack 12, DC East"
            sysContact     noc@example.net
            agentAddress   udp:161
            createUser monitor SHA-256 "\(Self.token())" AES "\(Self.token())"
            createUser backupops SHA-512 "\(Self.token())" AES "\(Self.token())"
            rouser monitor priv
            rwuser backupops priv

            """)
        try self.file("etc/ntp.conf", mode: 0o644, """
            driftfile /var/lib/ntp/ntp.drift
            keys /etc/ntp/ntp.keys
            trustedkey 1 2
            server 192.0.2.123 iburst key 1
            server 192.0.2.124 iburst key 2

            """)
        try self.file("etc/ntp/ntp.keys", mode: 0o600, """
            1 SHA256 \(Self.token())
            2 SHA256 \(Self.token())

            """)
        let certificate = try SelfSignedCertificate.make(commonName: "fg-demo-01.example.net")
        try self.file("etc/flowgateway/certs/server.crt", mode: 0o644, certificate.certificatePEM)
        try self.file("etc/flowgateway/certs/server.key", mode: 0o600, certificate.privateKeyPEM)
        if bulkMiB > 0 {
            try self.directory("var/lib/flowgateway/flows", mode: 0o750)
            try self.random("var/lib/flowgateway/flows/records.dat", bytes: bulkMiB << 20, mode: 0o640)
        }
    }

    private func path(_ relative: String) -> String { FileSet.join(self.root, relative) }

    private func directory(_ relative: String, mode: mode_t) throws {
        try FileTree.makeDirectories(self.path(relative), mode: 0o755)
        try SystemCall.retrying("chmod", relative) { chmod(self.path(relative), mode) }
    }

    private func file(_ relative: String, mode: mode_t, _ text: String) throws {
        try FileTree.writeAtomically(Data(text.utf8), to: self.path(relative), mode: mode)
        try SystemCall.retrying("chmod", relative) { chmod(self.path(relative), mode) }
    }

    private func symlink(_ relative: String, target: String) throws {
        try FileTree.remove(self.path(relative))
        try SystemCall.retrying("symlink", relative) { Glibc.symlink(target, self.path(relative)) }
    }

    /// Random bytes, written in chunks so a large file never sits in memory.
    private func random(_ relative: String, bytes: Int, mode: mode_t) throws {
        let path = self.path(relative)
        try FileTree.remove(path)
        let output = try FileDescriptorStream.create(path, mode: mode)
        var generator = SystemRandomNumberGenerator()
        var chunk = [UInt8](repeating: 0, count: min(bytes, 1 << 20))
        var remaining = bytes
        while remaining > 0 {
            let count = min(remaining, chunk.count)
            for index in stride(from: 0, to: count, by: 8) {
                withUnsafeBytes(of: generator.next()) { word in
                    for offset in 0..<min(8, count - index) { chunk[index + offset] = word[offset] }
                }
            }
            try chunk.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            remaining -= count
        }
        try output.finish()
        try SystemCall.retrying("chmod", relative) { chmod(path, mode) }
    }

    /// The configuration database, made with the `sqlite3` command-line tool.
    private func database(_ relative: String) throws {
        let path = self.path(relative)
        try FileTree.remove(path)
        let sql = """
            PRAGMA journal_mode=WAL;
            CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE exporters (id INTEGER PRIMARY KEY, address TEXT NOT NULL, port INTEGER NOT NULL, enabled INTEGER NOT NULL);
            CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, created INTEGER NOT NULL);
            INSERT INTO settings VALUES ('hostname','fg-demo-01'),('timezone','UTC'),('flow_timeout','60'),('dns','192.0.2.53');
            INSERT INTO exporters (address, port, enabled) VALUES ('10.20.0.15',2055,1),('10.20.0.16',2055,1),('10.20.0.17',4739,0);
            INSERT INTO users VALUES ('admin','administrator',1700000000),('mazu','operator',1700000100);

            """
        let child = ChildProcess(
            executable: "/usr/bin/sqlite3", arguments: [path],
            environment: ["PATH": "/usr/bin:/bin"], timeout: .seconds(30))
        let outcome = try child.run(input: Data(sql.utf8))
        guard outcome.status == 0, !outcome.timedOut else {
            throw BackupError(.system, "sqlite3 could not create \(path): \(String(decoding: outcome.stderr, as: UTF8.self))")
        }
        try SystemCall.retrying("chmod", relative) { chmod(path, 0o640) }
    }

    private static func token() -> String {
        (0..<24).map { _ in String("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789".randomElement() ?? "x") }.joined()
    }
}
