import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
public func read(from fd: Int32, until done: (String) -> Bool, seconds: Double = 20) async throws -> String {
    var text = ""
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        text += String(decoding: readAvailable(from: fd), as: UTF8.self)
        if done(text) { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    return text
}
