import BackupCore
import BackupModel
import BackupPOSIX
import CSSH2
import Crypto
import Foundation
import Glibc

/// A TCP connection and an authenticated libssh2 session over it. Owns both and frees them.
/// Blocking: use it from a thread of its own, never from two threads at once.
final class SSHSession {
    let handle: OpaquePointer
    private let socket: Int32
    let endpoint: SSHEndpoint

    /// A second descriptor of the connection's socket, for `shutdown` from another thread (the
    /// caller owns and closes it; the session's own descriptor may be closed and reused meanwhile).
    func duplicateSocket() -> Int32 {
        dup(self.socket)
    }

    /// Connects, checks the host key against the policy *before* sending any credential, and logs in.
    init(_ endpoint: SSHEndpoint) throws {
        _ = SSH2.initialized
        self.endpoint = endpoint
        self.socket = try Self.connect(host: endpoint.host, port: endpoint.port, timeoutSeconds: endpoint.timeoutSeconds)
        guard let session = cssh2_session_init() else {
            close(self.socket)
            throw BackupError(.connection, "libssh2_session_init_ex failed")
        }
        self.handle = session
        libssh2_session_set_blocking(session, 1)
        libssh2_session_set_timeout(session, endpoint.timeoutSeconds * 1000)
        let target = "\(endpoint.host):\(endpoint.port)"
        guard libssh2_session_handshake(session, libssh2_socket_t(self.socket)) == 0 else {
            throw SSH2.error("SSH handshake with \(target)", session: session)
        }
        let (type, fingerprint) = try self.hostKey()
        try endpoint.knownHosts.check(host: endpoint.host, port: endpoint.port, type: type, fingerprint: fingerprint, policy: endpoint.hostKeyPolicy)
        let status: Int32
        switch endpoint.authentication {
        case .password(let password):
            status = cssh2_userauth_password(session, endpoint.username, password.revealed)
        case .publicKey(let file, let passphrase):
            status = cssh2_userauth_publickey_fromfile(session, endpoint.username, file, passphrase?.revealed ?? "")
        }
        guard status == 0 else {
            let (_, message) = SSH2.lastError(session)
            throw BackupError(.authentication, "authentication of \(endpoint.username) on \(target) failed: \(message); check the user name and password or key")
        }
    }

    deinit {
        _ = cssh2_disconnect(self.handle, "done")
        libssh2_session_free(self.handle)
        close(self.socket)
    }

    /// Sends an SSH keepalive (`keepalive@openssh.com`, asking for a reply, which libssh2 reads with
    /// the next packets). Only call it while nothing else uses the session.
    func sendKeepalive() throws {
        libssh2_keepalive_config(self.handle, 1, 1)
        var secondsToNext: Int32 = 0
        guard libssh2_keepalive_send(self.handle, &secondsToNext) == 0 else {
            throw SSH2.error("libssh2_keepalive_send to \(self.endpoint.host):\(self.endpoint.port)", session: self.handle)
        }
    }

    /// The server's host key type and its SHA-256 fingerprint, as OpenSSH prints them.
    func hostKey() throws -> (String, String) {
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(self.handle, &length, &type) else {
            throw SSH2.error("libssh2_session_hostkey", session: self.handle)
        }
        let blob = Data(bytes: key, count: length)
        let digest = Data(SHA256.hash(data: blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
        let names = [1: "ssh-rsa", 2: "ssh-dss", 3: "ecdsa-sha2-nistp256", 4: "ecdsa-sha2-nistp384", 5: "ecdsa-sha2-nistp521", 6: "ssh-ed25519"]
        return (names[Int(type)] ?? "type-\(type)", "SHA256:" + digest)
    }

    /// Whether the connection sends small packets at once (TCP_NODELAY; see `connect`).
    var sendsSmallPacketsAtOnce: Bool {
        var value: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(self.socket, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &size) == 0 && value != 0
    }

    /// A TCP connection to `host:port`, waiting at most `timeoutSeconds`.
    private static func connect(host: String, port: Int, timeoutSeconds: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw BackupError(.connection, "cannot resolve host '\(host)': \(String(cString: gai_strerror(resolved)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let address = entry {
            entry = address.pointee.ai_next
            let fd = Glibc.socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var result = Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen)
            if result != 0 && errno == EINPROGRESS {
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&poller, 1, Int32(timeoutSeconds * 1000))
                if ready == 1 {
                    var socketError: Int32 = 0
                    var size = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &size)
                    result = socketError == 0 ? 0 : -1
                    errno = socketError
                } else {
                    result = -1
                    errno = ready == 0 ? ETIMEDOUT : errno
                }
            }
            if result == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                // Without TCP_NODELAY, Nagle's algorithm holds each of libssh2's small SFTP read
                // requests until the previous one is acknowledged: a 256 MiB download took 1.2 s
                // instead of 0.8 s on loopback (OpenSSH's sftp get: 0.8-0.9 s). curl sets it too.
                var on: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
                return fd
            }
            lastError = SystemCall.errnoText()
            close(fd)
        }
        throw BackupError(.connection, "cannot connect to \(host):\(port): \(lastError)")
    }
}
