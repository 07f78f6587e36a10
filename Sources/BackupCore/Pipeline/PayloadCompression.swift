import BackupModel
import BackupPOSIX

/// Compresses a component's archive before it is encrypted, and undoes it after decryption.
/// `BackupCompression` implements it with libzstd; the core only knows this protocol, so it stays
/// free of C. The name is recorded in the backup's index (`compression`).
public protocol PayloadCompression: Sendable {
    /// The name the index records: `zstd`.
    var name: String { get }
    /// The suffix of a component file it wrote, before `.gpg`: `.tar.zst`.
    var fileSuffix: String { get }
    /// A sink that compresses what it is given into `sink`. Its `finish()` ends the compressed
    /// stream and writes it out, without finishing `sink`.
    func compressor(into sink: any ByteSink) throws -> any ByteSink
    /// A sink that decompresses what it is given into `sink`. Its `finish()` fails on a truncated
    /// stream, without finishing `sink`.
    func decompressor(into sink: any ByteSink) throws -> any ByteSink
    /// The same compression for one of `streams` compressed at once (a backup's `--jobs`): what
    /// threads and memory it uses are shared out among them, so peak memory stays bounded.
    func sharing(among streams: Int) -> any PayloadCompression
}

extension PayloadCompression {
    public func sharing(among streams: Int) -> any PayloadCompression { self }
}
