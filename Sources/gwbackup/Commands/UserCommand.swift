import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayAPI

/// `gwbackup user add|passwd|role|remove|list`: the API's users (bcrypt hashes and roles in the state
/// directory).
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage the API's users.", subcommands: [Add.self, Passwd.self, Role.self, Remove.self, List.self])

    /// Where the users file is.
    struct Location: ParsableArguments {
        @OptionGroup var state: StateOptions

        @Option(name: .customLong("users-file"), help: "Users file (default: STATE/users.json).")
        var usersFile: String?

        var store: UserStore { UserStore(path: self.usersFile.map(Paths.absolute) ?? self.state.resolvedStateDirectory + "/users.json") }
    }

    /// How a new password is given: stdin or a prompt, never an argument.
    struct PasswordInput: ParsableArguments {
        @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of stdin.")
        var fromStandardInput = false

        func read() throws -> Secret {
            if self.fromStandardInput {
                let line = readLine(strippingNewline: true) ?? ""
                guard !line.isEmpty else { throw BackupError(.invalidInput, "no password on stdin") }
                return Secret(line)
            }
            return try SecretInput.read(file: nil, environment: "GWBACKUP_API_PASSWORD", prompt: "Password: ", confirm: true)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a user with a role.")
        @Argument var name: String
        @Option(help: "viewer (status and metrics), operator (jobs to the server's operatorDestinations) or admin (jobs anywhere).")
        var role: String
        @OptionGroup var location: Location
        @OptionGroup var password: PasswordInput
        func run() async throws {
            try await CommandSupport.run {
                let role = try UserRole.named(self.role)
                try self.location.store.set(self.name, password: try self.password.read(), role: role, mustExist: false)
                print("user \(self.name) added (role \(role.rawValue))")
            }
        }
    }

    struct Role: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "role", abstract: "Change a user's role.")
        @Argument var name: String
        @Option(help: "viewer, operator or admin.")
        var role: String
        @OptionGroup var location: Location
        func run() async throws {
            try await CommandSupport.run {
                let role = try UserRole.named(self.role)
                try self.location.store.setRole(self.name, role)
                print("user \(self.name) now has the role \(role.rawValue)")
            }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "passwd", abstract: "Change a user's password.")
        @Argument var name: String
        @OptionGroup var location: Location
        @OptionGroup var password: PasswordInput
        func run() async throws {
            try await CommandSupport.run {
                try self.location.store.set(self.name, password: try self.password.read(), mustExist: true)
                print("password of \(self.name) changed")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a user.")
        @Argument var name: String
        @OptionGroup var location: Location
        func run() async throws {
            try await CommandSupport.run {
                try self.location.store.remove(self.name)
                print("user \(self.name) removed")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the users.")
        @OptionGroup var location: Location
        func run() async throws {
            try await CommandSupport.run {
                for user in try self.location.store.roles() {
                    print("\(user.name) \(user.role.rawValue)\(user.set ? "" : " (no role set: an admin, as users made before roles)")")
                }
            }
        }
    }
}
