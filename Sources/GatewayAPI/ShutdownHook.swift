import ServiceLifecycle

/// A service that does one thing when the server is asked to stop: for work that must not hold the
/// shutdown up (login attempts waiting for a bcrypt check are answered 503 at once).
struct ShutdownHook: Service {
    let action: @Sendable () async -> Void

    func run() async throws {
        // Cancelled rather than shut down: act all the same.
        try? await gracefulShutdown()
        await self.action()
    }
}
