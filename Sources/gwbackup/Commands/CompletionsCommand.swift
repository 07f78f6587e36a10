import ArgumentParser

/// `gwbackup completions bash|zsh|fish`: the shell completion script, generated from the argument
/// parser so it always matches the commands (the Debian package installs the bash and zsh ones).
struct CompletionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completions",
        abstract: "Print the shell completion script for bash, zsh or fish.",
        discussion: """
            bash: gwbackup completions bash > /etc/bash_completion.d/gwbackup
            zsh:  gwbackup completions zsh > "${fpath[1]}/_gwbackup"
            fish: gwbackup completions fish > ~/.config/fish/completions/gwbackup.fish
            """)

    @Argument(help: "The shell: bash, zsh or fish.")
    var shell: String

    func validate() throws {
        guard CompletionShell(rawValue: self.shell) != nil else {
            throw ValidationError("unknown shell '\(self.shell)': bash, zsh or fish")
        }
    }

    func run() throws {
        guard let shell = CompletionShell(rawValue: self.shell) else { return }
        print(GatewayBackupCommand.completionScript(for: shell))
    }
}
