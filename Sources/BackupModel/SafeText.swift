/// Text from outside (a backup store, a plugin, a request) made safe to print on a terminal or in a
/// log line: control characters, escape sequences and invalid UTF-8 cannot move the cursor, forge a
/// line or change colours. Printable text, including non-ASCII letters, is kept as it is.
public enum SafeText {
    /// `text` with every control character written as `\n`, `\t`, `\u{1B}`, …, and bounded to
    /// `limit` characters (an ellipsis marks a cut).
    public static func escaped(_ text: String, limit: Int = 512) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                result += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\\": result += "\\\\"
            default:
                let value = scalar.value
                // C0, DEL, C1 controls, the bidirectional overrides that reorder what is shown, the
                // zero-width and invisible characters that hide text, the line and paragraph separators.
                if value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value)
                    || (0x2066...0x2069).contains(value) || (0x200B...0x200F).contains(value)
                    || (0x2028...0x2029).contains(value) || (0x2060...0x2064).contains(value) || value == 0xFEFF
                {
                    result += "\\u{\(String(value, radix: 16, uppercase: true))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }

    /// `text` as a log line's field value: escaped, and in double quotes (inner quotes escaped) when
    /// it holds a space, `=` or `"`, so that it cannot pose as another `key=value` field.
    public static func field(_ text: String, limit: Int = 300) -> String {
        let escaped = Self.escaped(text, limit: limit)
        guard escaped.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" }) || escaped.isEmpty else { return escaped }
        return "\"" + escaped.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// `bytes` decoded as UTF-8 (invalid sequences become U+FFFD), then escaped.
    public static func escaped(bytes: some Collection<UInt8>, limit: Int = 512) -> String {
        self.escaped(String(decoding: Array(bytes), as: UTF8.self), limit: limit)
    }
}
