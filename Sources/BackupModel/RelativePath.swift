/// Checks the paths that manifests and archives name: relative to a root, never leaving it.
public enum RelativePath {
    /// Why `path` cannot be used as a path below a root, or nil when it can.
    public static func problem(_ path: String) -> String? {
        if path.isEmpty { return "is empty" }
        if path.hasPrefix("/") { return "'\(path)' is absolute; paths are relative to the appliance root" }
        if path.utf8.contains(0) { return "contains a NUL byte" }
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        if components.contains("..") { return "'\(path)' contains '..'" }
        if components.allSatisfy({ $0 == "." }) { return "'\(path)' names the root itself" }
        return nil
    }

    /// `path` without `.` components, duplicate or trailing slashes; nil when it is unsafe.
    public static func normalized(_ path: String) -> String? {
        guard problem(path) == nil else { return nil }
        return path.split(separator: "/", omittingEmptySubsequences: true)
            .filter { $0 != "." }
            .joined(separator: "/")
    }

    /// True when `path` contains glob characters.
    public static func isPattern(_ path: String) -> Bool {
        path.contains { "*?[".contains($0) }
    }
}
