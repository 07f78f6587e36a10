import BackupCertificates

/// Certificates for tests.
enum BackupCertificatesTestSupport {
    /// A private key that belongs to no certificate of the demo appliance.
    static func otherKey() throws -> String {
        try SelfSignedCertificate.make(commonName: "other.example.net").privateKeyPEM
    }
}
