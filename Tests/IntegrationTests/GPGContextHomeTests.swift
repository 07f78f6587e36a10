import BackupCore
import BackupModel
import BackupPOSIX
@testable import BackupCrypto
import Foundation
import Testing

/// New GPGME contexts take their home from the process default (setting it per context costs a
/// `gpg --version` run each time): several jobs in one process must still each get their own.
@Suite("GPGME contexts and their homes")
struct GPGContextHomeTests {
    /// A home handed to the threads that make contexts in it (it is only read there).
    struct SharedHome: @unchecked Sendable {
        let home: GPGHome
    }

    @Test func contextsOfTwoHomesMadeAlternatelyAndAtOnceEachGetTheirOwn() async throws {
        let first = try GPGHome()
        let second = try GPGHome()
        defer { first.close(); second.close() }
        for home in [first, second, first, first, second] {
            let context = try GPGContext(passphrase: Secret("x"), home: home)
            #expect(GPGContext.homeDirectory(of: context.handle) == home.path)
        }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<40 {
                let shared = SharedHome(home: index.isMultiple(of: 2) ? first : second)
                group.addTask {
                    try await Blocking.run {
                        let context = try GPGContext(passphrase: Secret("x"), home: shared.home)
                        return GPGContext.homeDirectory(of: context.handle) == shared.home.path
                    }
                }
            }
            for try await matched in group { #expect(matched) }
        }
    }
}
