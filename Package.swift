// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "GatewayBackup",
    // Linux only: the code uses glibc, /proc, Linux namespaces and `st_mtim`; no other platform is
    // built or tested, so none is declared.
    products: [
        .executable(name: "gwbackup", targets: ["gwbackup"]),
        .library(name: "BackupCore", targets: ["BackupCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The model: manifests, the index, job records, retention policy, cron, errors, safe text,
        // JSON values. No Glibc, no I/O: what the wire, the client and the core share.
        .target(name: "BackupModel"),
        // The POSIX layer: files and confinement, descriptors and pipes, byte streams, system-call
        // retries, blocking work off the cooperative pool. Glibc lives here and in the C leaves.
        .target(name: "BackupPOSIX", dependencies: ["BackupModel", .product(name: "Crypto", package: "swift-crypto")]),
        // The core: plugins, orchestrator, stores, status, file system. No C, no HTTP, no CLI.
        .target(
            name: "BackupCore",
            dependencies: [
                "BackupModel", "BackupPOSIX",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                // PBKDF2 for key identifiers (BoringSSL's, through swift-crypto).
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Child processes: posix_spawn, process groups, the guard; the core's ProcessLauncher.
        .target(name: "BackupProcess", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX"]),
        // Tar writing and secure extraction.
        .target(name: "BackupArchive", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX"]),
        // libgpgme, and its safe Swift wrapper.
        .systemLibrary(
            name: "CGPGME",
            pkgConfig: "gpgme",
            providers: [.apt(["libgpgme-dev"])]
        ),
        .target(name: "BackupCrypto", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "CGPGME"]),
        // libzstd, and the compression stage over it (format 2).
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(name: "BackupCompression", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "CZstd"]),
        // libssh2, and the SFTP store over it.
        .systemLibrary(
            name: "CSSH2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]
        ),
        .target(
            name: "BackupSFTP",
            dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "CSSH2", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // libjansson, the C plugin SDK on it (plugins/sdk/c), and the shipped C plugin that uses it.
        .systemLibrary(
            name: "CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"])]
        ),
        .target(
            name: "GatewayPluginSDK",
            dependencies: ["CJansson"],
            path: "plugins/sdk/c",
            exclude: ["Makefile", "README.md", "example"],
            publicHeadersPath: "include"
        ),
        .executableTarget(name: "ntp-plugin", dependencies: ["GatewayPluginSDK"], path: "plugins/ntp", exclude: ["plugin.json"]),
        // Runs each plugin step as a child subreaper, so that nothing a plugin starts outlives the step.
        .executableTarget(name: "gwbackup-plugin-guard", path: "Sources/gwbackup-plugin-guard"),
        // The certificates plugin and X.509 helpers (pure Swift, swift-certificates).
        .target(
            name: "BackupCertificates",
            dependencies: [
                "BackupCore", "BackupModel", "BackupPOSIX",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The demo appliance: realistic files for the five components.
        .target(name: "BackupDemo", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "BackupCertificates", "BackupProcess"]),
        // Wiring shared by the CLI and the API: shipped resources, plugin registry, stores, orchestrator.
        .target(
            name: "BackupRuntime",
            dependencies: [
                "BackupCore", "BackupModel", "BackupPOSIX", "BackupArchive", "BackupCrypto", "BackupCertificates", "BackupSFTP", "BackupCompression", "BackupProcess",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The API's bodies as Codable types, shared by the server and the client (no HTTP in it).
        .target(name: "GatewayWire", dependencies: ["BackupModel"]),
        // `gwbackup plugins test`: the conformance rules a component plugin must keep.
        .target(name: "BackupConformance", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")]),
        // Prometheus exposition of the job statistics and status (swift-prometheus), for /metrics and --metrics-file.
        .target(
            name: "BackupMetrics",
            dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", .product(name: "Prometheus", package: "swift-prometheus")]
        ),
        // The HTTPS server of the Backup/Restore API v1.0.
        .target(
            name: "GatewayAPI",
            dependencies: [
                "BackupCore", "BackupModel", "BackupPOSIX", "BackupRuntime", "BackupCertificates", "BackupMetrics", "GatewayWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A client of the same API over HTTPS, for `gwbackup --server`.
        .target(
            name: "GatewayClient",
            dependencies: [
                "BackupModel", "GatewayWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "gwbackup",
            dependencies: [
                "BackupCore", "BackupModel", "BackupPOSIX", "BackupRuntime", "BackupDemo", "BackupMetrics", "BackupConformance", "GatewayAPI", "GatewayClient", "GatewayWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Helpers shared by the test targets: temporary directories, tree snapshots, in-memory streams.
        .target(
            name: "GatewayBackupTestSupport",
            dependencies: [
                "BackupCore", "BackupModel", "BackupPOSIX", "BackupProcess",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport"
        ),
        // `make bench`: SFTP upload through the store, against OpenSSH's sftp.
        .executableTarget(
            name: "sftp-upload-bench",
            dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "BackupSFTP"],
            path: "Benchmarks/SFTPUpload"
        ),
        // `make fuzz`: libFuzzer targets (built with -sanitize=fuzzer -DFUZZING); plain builds replay a corpus.
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "archive-fuzz", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "BackupArchive", "FuzzSupport"], path: "Fuzz/ArchiveFuzz"),
        .executableTarget(name: "index-fuzz", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "FuzzSupport"], path: "Fuzz/IndexFuzz"),
        .executableTarget(name: "plugin-fuzz", dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "FuzzSupport"], path: "Fuzz/PluginFuzz"),
        .executableTarget(name: "sdk-fuzz", dependencies: ["GatewayPluginSDK", "FuzzSupport"], path: "Fuzz/SDKFuzz"),
        .executableTarget(name: "request-fuzz", dependencies: ["GatewayWire", "FuzzSupport"], path: "Fuzz/RequestFuzz"),
        // The model's tests: pure values, no file system, no processes; they run in seconds.
        .testTarget(name: "BackupModelTests", dependencies: ["BackupModel", "GatewayBackupTestSupport"]),
        .testTarget(
            name: "BackupCoreTests",
            dependencies: ["BackupCore", "BackupModel", "BackupPOSIX", "BackupArchive", "BackupProcess", "GatewayBackupTestSupport"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "BackupCore", "BackupModel", "BackupPOSIX", "BackupArchive", "BackupCrypto", "BackupCertificates", "BackupCompression", "BackupDemo", "BackupMetrics", "BackupConformance", "BackupProcess", "BackupRuntime", "BackupSFTP", "GatewayAPI", "GatewayWire", "GatewayPluginSDK", "GatewayClient", "GatewayBackupTestSupport", "gwbackup",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
