import Crypto
public import Foundation
import X509

/// A self-signed ECDSA P-256 certificate and its key, as PEM: for the demo appliance and for an HTTPS
/// server's first start.
public struct SelfSignedCertificate: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String

    /// Makes a certificate for `commonName` (also its DNS name) valid from `notBefore` for `days`.
    public static func make(commonName: String, dnsNames: [String] = [], days: Int = 825, notBefore: Date = Date()) throws -> SelfSignedCertificate {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            CommonName(commonName)
            OrganizationName("GatewayBackup")
        }
        let names = ([commonName] + dnsNames).map { GeneralName.dnsName($0) }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: notBefore.addingTimeInterval(-300),
            notValidAfter: notBefore.addingTimeInterval(TimeInterval(days) * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        return SelfSignedCertificate(
            certificatePEM: try certificate.serializeAsPEM().pemString + "\n",
            privateKeyPEM: key.pemRepresentation + "\n")
    }
}
