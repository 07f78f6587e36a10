import BackupCore
public import BackupModel
import BackupPOSIX
import Foundation
import HummingbirdBcrypt

/// The API's users: names and salted bcrypt hashes in `STATE/users.json` (0600), never passwords.
public struct UserStore: Sendable {
    /// The bcrypt cost: slow enough to make guessing expensive.
    static let cost: UInt8 = 11
    /// The most of a password bcrypt reads.
    static let maximumPasswordBytes = 72

    public let path: String

    public init(path: String) {
        self.path = path
    }

    struct File: Codable {
        var users: [String: String]
        /// Each user's role; a user missing here was made before roles existed: an admin.
        var roles: [String: UserRole]?
    }

    private func load() throws -> File {
        guard try FileStatus.of(self.path) != nil else { return File(users: [:]) }
        // Whoever could write it could let themselves in.
        try TrustedPath.check(self.path, what: "users file")
        do {
            return try JSONDecoder().decode(File.self, from: FileTree.readFile(self.path))
        } catch {
            throw BackupError(.invalidInput, "the users file \(self.path) is unreadable: \(JSONCoding.describe(error))")
        }
    }

    private func save(_ file: File) throws {
        try FileTree.makeDirectories((self.path as NSString).deletingLastPathComponent, mode: 0o700)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(file), to: self.path, mode: 0o600)
    }

    /// The user names.
    public func names() throws -> [String] {
        try self.load().users.keys.sorted()
    }

    /// The users, each with its role and whether that role was set (false: a user made before roles,
    /// an admin by default).
    public func roles() throws -> [(name: String, role: UserRole, set: Bool)] {
        let file = try self.load()
        return file.users.keys.sorted().map { name in
            let role = file.roles?[name]
            return (name, role ?? .admin, role != nil)
        }
    }

    /// `name`'s role: as set, or `admin` for a user made before roles; nil for no such user.
    public func role(of name: String) throws -> UserRole? {
        let file = try self.load()
        guard file.users[name] != nil else { return nil }
        return file.roles?[name] ?? .admin
    }

    /// Sets an existing user's role.
    public func setRole(_ name: String, _ role: UserRole) throws {
        var file = try self.load()
        guard file.users[name] != nil else { throw BackupError(.notFound, "no user \(name)") }
        file.roles = (file.roles ?? [:]).merging([name: role]) { $1 }
        try self.save(file)
    }

    /// Adds a user or replaces a user's password; `role` is set when given (a new user without one
    /// is an admin, as users were before roles: the CLI always gives one).
    public func set(_ name: String, password: Secret, role: UserRole? = nil, mustExist: Bool? = nil) throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@".contains($0) }), !name.contains(":") else {
            throw BackupError(.invalidInput, "a user name is letters, digits, '-', '_', '.' or '@'")
        }
        guard password.revealed.count >= 8 else { throw BackupError(.invalidInput, "the password must have at least 8 characters") }
        // bcrypt reads only the first 72 bytes, and C strings end at a NUL: a longer password, or one
        // with a NUL, would be accepted with anything after that point. Refused rather than pre-hashed.
        guard password.revealed.utf8.count <= Self.maximumPasswordBytes else {
            throw BackupError(.invalidInput, "the password must have at most \(Self.maximumPasswordBytes) bytes (bcrypt reads no further)")
        }
        guard !password.revealed.utf8.contains(0) else { throw BackupError(.invalidInput, "the password must not contain a NUL character") }
        var file = try self.load()
        if mustExist == true && file.users[name] == nil { throw BackupError(.notFound, "no user \(name)") }
        if mustExist == false && file.users[name] != nil { throw BackupError(.invalidInput, "user \(name) exists already (use passwd)") }
        file.users[name] = Bcrypt.hash(password.revealed, cost: Self.cost)
        if let role { file.roles = (file.roles ?? [:]).merging([name: role]) { $1 } }
        try self.save(file)
    }

    /// Removes a user.
    public func remove(_ name: String) throws {
        var file = try self.load()
        guard file.users.removeValue(forKey: name) != nil else { throw BackupError(.notFound, "no user \(name)") }
        file.roles?.removeValue(forKey: name)
        try self.save(file)
    }

    /// True when `password` is `name`'s. Slow on purpose (bcrypt); call it off the event loop.
    public func verify(_ name: String, password: String) throws -> Bool {
        // No stored password has these (see `set`): bcrypt would compare only a prefix.
        if password.utf8.count > Self.maximumPasswordBytes || password.utf8.contains(0) { return false }
        guard let hash = try self.load().users[name] else {
            // Spend the same time as for a real user, so timing does not tell which names exist.
            _ = Bcrypt.verify(password, hash: "$2b$11$abcdefghijklmnopqrstuuIqVEMgg4lW1H7ZrUSzLRkQW7mhN3D4i")
            return false
        }
        return Bcrypt.verify(password, hash: hash)
    }
}
