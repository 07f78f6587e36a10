public import BackupCore
import BackupModel
import BackupPOSIX
import CZstd

/// zstd streaming compression (libzstd), on several cores: what `zstd -d` and `tar --zstd` read.
public struct ZstdCompression: PayloadCompression {
    public let name = "zstd"
    public let fileSuffix = ".tar.zst"
    /// The compression level (1-19).
    public var level: Int32
    /// Worker threads; 0 compresses on the calling thread.
    public var workers: Int32
    /// The largest window a decompression accepts (2^24 = 16 MiB): a hostile frame that asks for
    /// more memory is refused, whatever it claims. Levels up to 19 write at most 8 MiB windows.
    static let windowLogMax: Int32 = 24

    public init(level: Int32 = 3, workers: Int32 = 2) {
        self.level = level
        self.workers = workers
    }

    public func compressor(into sink: any ByteSink) throws -> any ByteSink {
        try ZstdCompressingSink(sink, level: self.level, workers: self.workers)
    }

    /// Each of several streams gets an equal share of the workers; a share under two compresses
    /// on the calling thread (0 workers): the other streams keep the other cores busy, and every
    /// multi-threaded context costs ~16 MiB (measured: two at once took a backup's peak RSS from
    /// 58 to 70 MiB).
    public func sharing(among streams: Int) -> any PayloadCompression {
        guard streams > 1 else { return self }
        let share = self.workers / Int32(streams)
        return ZstdCompression(level: self.level, workers: share >= 2 ? share : 0)
    }

    public func decompressor(into sink: any ByteSink) throws -> any ByteSink {
        try ZstdDecompressingSink(sink, windowLogMax: Self.windowLogMax)
    }

    /// libzstd's version, for diagnostics.
    public static var libraryVersion: String { String(cString: ZSTD_versionString()) }
}

/// The one place libzstd results are checked.
enum Zstd {
    static func check(_ result: Int, _ call: String) throws -> Int {
        if ZSTD_isError(result) != 0 {
            throw BackupError(.corrupted, "\(call) failed: \(String(cString: ZSTD_getErrorName(result))) (libzstd)")
        }
        return result
    }
}

/// Compresses into a downstream sink, one zstd frame.
final class ZstdCompressingSink: ByteSink {
    /// Bytes each worker compresses at a time.
    static let jobSize: Int32 = 1 << 20

    private let context: OpaquePointer
    private let downstream: any ByteSink
    private var output: [UInt8]

    init(_ downstream: any ByteSink, level: Int32, workers: Int32) throws {
        guard let context = ZSTD_createCCtx() else { throw BackupError(.system, "ZSTD_createCCtx failed (out of memory)") }
        self.context = context
        self.downstream = downstream
        self.output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        _ = try Zstd.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "ZSTD_CCtx_setParameter(level)")
        if workers > 0 {
            // A library built without threads refuses workers: it then compresses on this thread.
            if ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, workers)) == 0 {
                // 1 MiB jobs: measured on 256 MiB, the default jobs took a backup's peak RSS to 146 MiB
                // (zstd alone ~70 MiB); 1 MiB jobs keep zstd at ~16 MiB, as fast, output 0.02% smaller.
                _ = ZSTD_CCtx_setParameter(context, ZSTD_c_jobSize, Self.jobSize)
            }
        }
    }

    deinit {
        ZSTD_freeCCtx(self.context)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try self.step(&input, ZSTD_e_continue)
        }
    }

    func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try self.step(&input, ZSTD_e_end) != 0 {}
    }

    /// One call of ZSTD_compressStream2; returns what remains to flush (for `ZSTD_e_end`).
    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective) throws -> Int {
        let capacity = self.output.count
        let (remaining, produced) = try self.output.withUnsafeMutableBytes { buffer -> (Int, Int) in
            var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: capacity, pos: 0)
            let remaining = try Zstd.check(ZSTD_compressStream2(self.context, &output, &input, directive), "ZSTD_compressStream2")
            return (remaining, output.pos)
        }
        if produced > 0 {
            try self.output.withUnsafeBytes { try self.downstream.write(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
        }
        return remaining
    }
}

/// Decompresses into a downstream sink; the window it accepts is bounded.
final class ZstdDecompressingSink: ByteSink {
    private let context: OpaquePointer
    private let downstream: any ByteSink
    private var output: [UInt8]
    /// libzstd's last hint: 0 once a frame is complete.
    private var pending = 1
    private var sawInput = false

    init(_ downstream: any ByteSink, windowLogMax: Int32) throws {
        guard let context = ZSTD_createDCtx() else { throw BackupError(.system, "ZSTD_createDCtx failed (out of memory)") }
        self.context = context
        self.downstream = downstream
        self.output = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
        _ = try Zstd.check(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, windowLogMax), "ZSTD_DCtx_setParameter(windowLogMax)")
    }

    deinit {
        ZSTD_freeDCtx(self.context)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        self.sawInput = true
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        let capacity = self.output.count
        while true {
            let (hint, produced) = try self.output.withUnsafeMutableBytes { buffer -> (Int, Int) in
                var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: capacity, pos: 0)
                let hint = try Zstd.check(ZSTD_decompressStream(self.context, &output, &input), "ZSTD_decompressStream")
                return (hint, output.pos)
            }
            self.pending = hint
            if produced > 0 {
                try self.output.withUnsafeBytes { try self.downstream.write(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
            }
            // Done with this input once it is consumed and the output buffer was not filled.
            if input.pos == input.size && produced < capacity { break }
        }
    }

    func finish() throws {
        guard self.sawInput, self.pending == 0 else {
            throw BackupError(.corrupted, "the compressed archive is truncated (its zstd frame does not end)")
        }
    }
}
