/// What parameters a plugin takes: enough to validate a manifest before anything runs.
public struct ParameterSchema: Sendable, Codable, Equatable {
    /// One parameter.
    public struct Parameter: Sendable, Codable, Equatable {
        /// The JSON type a parameter must have.
        public enum ValueType: String, Sendable, Codable {
            case string, number, boolean, array, object
        }

        /// The JSON type; `array` means an array of strings.
        public var type: ValueType
        /// True when the parameter must be present.
        public var required: Bool
        /// True when the value (or each element) is a path relative to the appliance root.
        public var path: Bool
        /// Free text for people.
        public var description: String?
        /// For a path: suffixes of names beside it that a restore may also write or remove (SQLite's
        /// `-wal`, `-shm`, `-journal`); the sandbox lets a restore change only declared paths.
        public var companions: [String]?

        public init(type: ValueType, required: Bool = false, path: Bool = false, description: String? = nil, companions: [String]? = nil) {
            self.type = type
            self.required = required
            self.path = path
            self.description = description
            self.companions = companions
        }

        enum CodingKeys: String, CodingKey { case type, required, path, description, companions }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.type = try container.decode(ValueType.self, forKey: .type)
            self.required = try container.decodeIfPresent(Bool.self, forKey: .required) ?? false
            self.path = try container.decodeIfPresent(Bool.self, forKey: .path) ?? false
            self.description = try container.decodeIfPresent(String.self, forKey: .description)
            self.companions = try container.decodeIfPresent([String].self, forKey: .companions)
            if let companions = self.companions, let bad = companions.first(where: { $0.isEmpty || $0.contains("/") || $0.contains("\0") || $0.count > 32 }) {
                throw DecodingError.dataCorruptedError(forKey: .companions, in: container, debugDescription: "companion suffix '\(SafeText.escaped(bad, limit: 40))' must be 1-32 characters without '/'")
            }
        }
    }

    /// The parameters by name.
    public var parameters: [String: Parameter]

    public init(_ parameters: [String: Parameter]) {
        self.parameters = parameters
    }

    public init(from decoder: any Decoder) throws {
        self.parameters = try decoder.singleValueContainer().decode([String: Parameter].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.parameters)
    }

    /// Every problem with `values`, as (field, message) pairs; fields read `parameters.NAME[i]`.
    public func problems(in values: [String: JSONValue]) -> [(field: String, message: String)] {
        var problems: [(String, String)] = []
        for (name, spec) in self.parameters.sorted(by: { $0.key < $1.key }) where spec.required && values[name] == nil {
            problems.append(("parameters.\(name)", "missing required parameter"))
        }
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            let field = "parameters.\(name)"
            guard let spec = self.parameters[name] else {
                let known = self.parameters.keys.sorted().joined(separator: ", ")
                problems.append((field, "unknown parameter (known: \(known.isEmpty ? "none" : known))"))
                continue
            }
            switch (spec.type, value) {
            case (.string, .string(let text)):
                if spec.path, let problem = RelativePath.problem(text) { problems.append((field, "path \(problem)")) }
                else if text.isEmpty { problems.append((field, "is empty")) }
            case (.array, .array(let elements)):
                if elements.isEmpty && spec.required { problems.append((field, "is empty")) }
                for (index, element) in elements.enumerated() {
                    guard let text = element.stringValue else {
                        problems.append(("\(field)[\(index)]", "expected a string, found \(element.typeName)"))
                        continue
                    }
                    if spec.path, let problem = RelativePath.problem(text) {
                        problems.append(("\(field)[\(index)]", "path \(problem)"))
                    }
                }
            case (.number, .number), (.boolean, .bool), (.object, .object):
                break
            default:
                problems.append((field, "expected \(spec.type == .array ? "an array of strings" : "a \(spec.type.rawValue)"), found \(value.typeName)"))
            }
        }
        return problems
    }
}
