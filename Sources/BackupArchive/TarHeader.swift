import BackupCore
import BackupModel
import BackupPOSIX

/// One ustar header block (512 bytes), with the pax records that carry what ustar cannot hold.
struct TarHeader: Equatable {
    enum EntryType: UInt8 {
        case regular = 0x30       // '0'
        case hardLink = 0x31      // '1'
        case symlink = 0x32       // '2'
        case characterDevice = 0x33
        case blockDevice = 0x34
        case directory = 0x35     // '5'
        case fifo = 0x36
        case contiguous = 0x37
        case paxExtended = 0x78   // 'x'
        case paxGlobal = 0x67     // 'g'
        case gnuLongName = 0x4C   // 'L'
        case gnuLongLink = 0x4B   // 'K'
    }

    static let blockSize = 512

    var name: String
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var size: UInt64
    var mtime: Int64
    var typeFlag: UInt8
    var linkName: String

    /// The header blocks for this entry: a pax extended header first when a field does not fit.
    func encode() -> [UInt8] {
        var pax: [(String, String)] = []
        if self.name.utf8.count > 100 { pax.append(("path", self.name)) }
        if self.linkName.utf8.count > 100 { pax.append(("linkpath", self.linkName)) }
        if self.size > 0o77777777777 { pax.append(("size", String(self.size))) }
        if self.uid > 0o7777777 { pax.append(("uid", String(self.uid))) }
        if self.gid > 0o7777777 { pax.append(("gid", String(self.gid))) }
        var blocks: [UInt8] = []
        if !pax.isEmpty {
            let data = Self.paxData(pax)
            let paxHeader = TarHeader(
                name: "PaxHeaders/entry", mode: 0o644, uid: 0, gid: 0,
                size: UInt64(data.count), mtime: self.mtime, typeFlag: EntryType.paxExtended.rawValue, linkName: "")
            blocks += paxHeader.block()
            blocks += data
            blocks += [UInt8](repeating: 0, count: Self.padding(UInt64(data.count)))
        }
        blocks += self.block()
        return blocks
    }

    /// The single ustar block, with fields that do not fit truncated (pax carries them).
    private func block() -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        func put(_ bytes: some Sequence<UInt8>, at offset: Int, width: Int) {
            for (index, byte) in bytes.prefix(width).enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: UInt64, at offset: Int, width: Int) {
            let limit: UInt64 = (1 << (3 * UInt64(width - 1))) - 1
            let digits = String(min(value, limit), radix: 8)
            put((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8, at: offset, width: width - 1)
        }
        put(self.name.utf8, at: 0, width: 100)
        octal(UInt64(self.mode), at: 100, width: 8)
        octal(UInt64(self.uid), at: 108, width: 8)
        octal(UInt64(self.gid), at: 116, width: 8)
        octal(self.size, at: 124, width: 12)
        octal(UInt64(max(self.mtime, 0)), at: 136, width: 12)
        block[156] = self.typeFlag
        put(self.linkName.utf8, at: 157, width: 100)
        put("ustar".utf8, at: 257, width: 6)
        put("00".utf8, at: 263, width: 2)
        // The checksum is computed with its own field read as spaces.
        put([UInt8](repeating: 0x20, count: 8), at: 148, width: 8)
        let sum = block.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put((String(repeating: "0", count: 6 - digits.count) + digits).utf8, at: 148, width: 6)
        block[154] = 0
        block[155] = 0x20
        return block
    }

    /// Parses a header block; nil for an all-zero block (the end marker).
    static func decode(_ block: [UInt8]) throws -> TarHeader? {
        precondition(block.count == blockSize)
        if block.allSatisfy({ $0 == 0 }) { return nil }
        let stored = try number(block, 148, 8, field: "checksum")
        var unsigned = 0
        var signed = 0
        for (index, byte) in block.enumerated() {
            let value = (148..<156).contains(index) ? 0x20 : byte
            unsigned += Int(value)
            signed += Int(Int8(bitPattern: value))
        }
        guard stored == UInt64(unsigned) || Int(stored) == signed else {
            throw BackupError(.corrupted, "the archive has a damaged header (checksum mismatch)")
        }
        let magic = Array(block[257..<262])
        guard magic == Array("ustar".utf8) else {
            throw BackupError(.corrupted, "the archive is not in ustar format")
        }
        var name = string(block, 0, 100)
        let prefix = string(block, 345, 155)
        if !prefix.isEmpty { name = prefix + "/" + name }
        return TarHeader(
            name: name,
            mode: UInt32(truncatingIfNeeded: try number(block, 100, 8, field: "mode")),
            uid: UInt32(truncatingIfNeeded: try number(block, 108, 8, field: "uid")),
            gid: UInt32(truncatingIfNeeded: try number(block, 116, 8, field: "gid")),
            size: try number(block, 124, 12, field: "size"),
            mtime: Int64(truncatingIfNeeded: try number(block, 136, 12, field: "mtime")),
            typeFlag: block[156],
            linkName: string(block, 157, 100))
    }

    /// Applies pax records (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`) to this header.
    mutating func apply(pax records: [String: String]) throws {
        if let path = records["path"] { self.name = path }
        if let link = records["linkpath"] { self.linkName = link }
        if let size = records["size"] {
            guard let value = UInt64(size) else { throw BackupError(.corrupted, "the archive has a bad pax size '\(size)'") }
            self.size = value
        }
        if let uid = records["uid"] {
            guard let value = UInt32(uid) else { throw BackupError(.corrupted, "the archive has a bad pax uid '\(SafeText.escaped(uid, limit: 40))'") }
            self.uid = value
        }
        if let gid = records["gid"] {
            guard let value = UInt32(gid) else { throw BackupError(.corrupted, "the archive has a bad pax gid '\(SafeText.escaped(gid, limit: 40))'") }
            self.gid = value
        }
        if let mtime = records["mtime"] {
            guard let value = Self.paxTime(mtime) else {
                throw BackupError(.corrupted, "the archive has a bad pax mtime '\(SafeText.escaped(mtime, limit: 40))'")
            }
            self.mtime = value
        }
    }

    /// A pax time (`[-]seconds[.fraction]`) as whole seconds, or nil when it is not one or lies beyond
    /// ±10^12 s (about 31,700 years): never a float conversion that can trap on `1e300` or `nan`.
    static func paxTime(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, whole.count <= 14 else { return nil }
        let digits = whole.hasPrefix("-") ? whole.dropFirst() : whole[...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let seconds = Int64(whole) else { return nil }
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        }
        guard abs(seconds) <= 1_000_000_000_000 else { return nil }
        return seconds
    }

    /// Parses pax extended header data: records of the form `LEN key=value\n`.
    static func parsePax(_ data: [UInt8]) throws -> [String: String] {
        var records: [String: String] = [:]
        var offset = 0
        while offset < data.count {
            guard let space = data[offset...].firstIndex(of: 0x20),
                  let length = Int(String(decoding: data[offset..<space], as: UTF8.self)),
                  length > space - offset, length <= data.count - offset, data[offset + length - 1] == 0x0A
            else { throw BackupError(.corrupted, "the archive has a malformed pax header") }
            let record = data[(space + 1)..<(offset + length - 1)]
            guard let equals = record.firstIndex(of: 0x3D) else {
                throw BackupError(.corrupted, "the archive has a malformed pax record")
            }
            records[String(decoding: record[record.startIndex..<equals], as: UTF8.self)] =
                String(decoding: record[(equals + 1)...], as: UTF8.self)
            offset += length
        }
        return records
    }

    static func paxData(_ records: [(String, String)]) -> [UInt8] {
        var data: [UInt8] = []
        for (key, value) in records {
            let body = " \(key)=\(value)\n"
            // The length counts its own digits: grow until it is consistent.
            var length = body.utf8.count + 1
            while String(length).count + body.utf8.count != length { length = String(length).count + body.utf8.count }
            data += Array((String(length) + body).utf8)
        }
        return data
    }

    /// Zero bytes after `size` bytes of content, up to the next block.
    static func padding(_ size: UInt64) -> Int {
        let remainder = Int(size % UInt64(blockSize))
        return remainder == 0 ? 0 : blockSize - remainder
    }

    private static func string(_ block: [UInt8], _ offset: Int, _ width: Int) -> String {
        let field = block[offset..<(offset + width)]
        let end = field.firstIndex(of: 0) ?? field.endIndex
        return String(decoding: field[offset..<end], as: UTF8.self)
    }

    private static func number(_ block: [UInt8], _ offset: Int, _ width: Int, field: String) throws -> UInt64 {
        let bytes = block[offset..<(offset + width)]
        if let first = bytes.first, first & 0x80 != 0 {
            // GNU base-256: big-endian binary after the marker bit.
            var value: UInt64 = UInt64(first & 0x7F)
            for byte in bytes.dropFirst() {
                guard value < (1 << 56) else { throw BackupError(.corrupted, "the archive header field \(field) is out of range") }
                value = value << 8 | UInt64(byte)
            }
            return value
        }
        var value: UInt64 = 0
        var seenDigit = false
        for byte in bytes {
            switch byte {
            case 0x30...0x37:
                guard value < (1 << 60) else { throw BackupError(.corrupted, "the archive header field \(field) is out of range") }
                value = value * 8 + UInt64(byte - 0x30)
                seenDigit = true
            case 0x20 where !seenDigit:
                continue
            case 0x00, 0x20:
                return value
            default:
                throw BackupError(.corrupted, "the archive header field \(field) is not a number")
            }
        }
        return value
    }
}
