import Foundation

/// The JSON encoders and decoders every part of GatewayBackup uses, so files look alike.
public enum JSONCoding {
    /// A pretty, key-sorted encoder: stable files that diff well.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// A compact encoder for protocol messages.
    public static func compactEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Describes a decoding error by the JSON path it concerns, for people.
    public static func describe(_ error: any Error) -> String {
        guard let decodingError = error as? DecodingError else { return String(describing: error) }
        func path(_ keys: [any CodingKey]) -> String {
            var joined = ""
            for key in keys {
                if let index = key.intValue {
                    joined += "[\(index)]"
                } else {
                    joined += (joined.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return joined.isEmpty ? "top level" : joined
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' has the wrong type (expected \(type))"
        case .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' is null (expected \(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return "not valid JSON (\(context.debugDescription))"
            }
            if let underlying = context.underlyingError as NSError? {
                return "not valid JSON: \(underlying.userInfo[NSDebugDescriptionErrorKey] as? String ?? underlying.localizedDescription)"
            }
            return "invalid value at '\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return String(describing: decodingError)
        }
    }
}
