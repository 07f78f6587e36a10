import Foundation
import Glibc

/// What the non-blocking descriptor `fd` holds now.
public func readAvailable(from fd: Int32) -> [UInt8] {
    var all: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = Glibc.read(fd, &buffer, buffer.count)
        if count <= 0 { return all }
        all += buffer[0..<count]
    }
}

/// Reads the non-blocking descriptor `fd` until `done` holds for what was read, or `seconds` pass;
/// returns what was read.
///
/// The patience is counted in reads 20 ms apart, not only by the clock: a test task that the loaded
/// cooperative pool does not run for a while must not find its deadline gone before it read once
/// (a writer waiting for the reader to drain a full pipe then never got to write). The clock bounds
/// it too, at five times `seconds`.
public func read(from fd: Int32, until done: (String) -> Bool, seconds: Double = 20) async throws -> String {
    var text = ""
    let hardDeadline = Date().addingTimeInterval(seconds * 5)
    for _ in 0..<max(1, Int(seconds / 0.02)) {
        text += String(decoding: readAvailable(from: fd), as: UTF8.self)
        if done(text) || Date() >= hardDeadline { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    return text
}
