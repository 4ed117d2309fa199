import Foundation
import Yams

/// YAML read into plain values, as `Yams.load(yaml:)` gives them: `[String: Any]`, `[Any]`,
/// `String`, `Int`, `Double`, `Bool` and `NSNull`.
///
/// `Yams.load` tells a plain `60` from `"60"` with its default resolver, whose regular
/// expressions set up ICU's regex engine on first use: a few milliseconds of every start,
/// and so of every restart. This reads the document with no resolver and types each plain
/// (unquoted) scalar by the same rules, in the same order: booleans (YAML 1.1's `yes`,
/// `on` and the like too), integers (`0x`, `0o`, `0b`, `_`, base 60), floats (`.inf`,
/// `.nan`), null (`~`, `null`, nothing). Merge keys (`<<`) are merged. Timestamps stay
/// text: no key takes one. Quoted scalars are always text.
public enum YAMLDocument {
    /// The document's value; nil for an empty document.
    public static func load(_ text: String) throws -> Any? {
        try Yams.compose(yaml: text, .basic).map(value(of:))
    }

    private static func value(of node: Node) -> Any {
        switch node {
        case .scalar(let scalar):
            return typed(scalar)
        case .sequence(let sequence):
            return sequence.map(value(of:))
        case .mapping(let mapping):
            var result: [String: Any] = [:]
            var merged: [[String: Any]] = []
            for (key, item) in mapping {
                if case .scalar(let scalar) = key, scalar.style == .plain, scalar.string == "<<" {
                    merged += mergedMappings(item)
                } else {
                    result[key.string ?? "\(value(of: key))"] = value(of: item)
                }
            }
            // Keys of the mapping itself win over merged ones, and earlier merges over later.
            for mapping in merged {
                result.merge(mapping) { current, _ in current }
            }
            return result
        case .alias:
            // Yams' composer resolves aliases to the node they name.
            return NSNull()
        }
    }

    /// The mappings a merge key's value brings: one mapping or a list of them.
    private static func mergedMappings(_ node: Node) -> [[String: Any]] {
        switch node {
        case .mapping: (value(of: node) as? [String: Any]).map { [$0] } ?? []
        case .sequence(let sequence): sequence.compactMap { value(of: $0) as? [String: Any] }
        default: []
        }
    }

    private static func typed(_ scalar: Node.Scalar) -> Any {
        let text = scalar.string
        guard scalar.style == .plain || scalar.style == .any else { return text }
        // The first rule that matches decides; a value it cannot make stays text.
        if let boolean = booleans[text] { return boolean }
        if isInteger(text) { return Int.construct(from: scalar) ?? text }
        if isFloat(text) { return Double.construct(from: scalar) ?? text }
        if nulls.contains(text) { return NSNull() }
        return text
    }

    private static let booleans: [String: Bool] = [
        "yes": true, "Yes": true, "YES": true, "true": true, "True": true, "TRUE": true, "on": true, "On": true, "ON": true,
        "no": false, "No": false, "NO": false, "false": false, "False": false, "FALSE": false, "off": false, "Off": false,
        "OFF": false,
    ]

    private static let nulls: Set<String> = ["~", "null", "Null", "NULL", ""]

    /// `[-+]?` then `0b[01_]+`, `0o?[0-7_]+`, `0`, `[1-9][0-9_]*`, `0x[0-9a-fA-F_]+`, or
    /// base 60 (`[1-9][0-9_]*(:[0-5]?[0-9])+`).
    private static func isInteger(_ text: String) -> Bool {
        var digits = Substring(text)
        if let first = digits.first, first == "-" || first == "+" { digits = digits.dropFirst() }
        guard let first = digits.first else { return false }
        if digits == "0" { return true }
        if first == "0" {
            let rest = digits.dropFirst()
            if rest.first == "b" { return rest.count > 1 && rest.dropFirst().allSatisfy { "01_".contains($0) } }
            if rest.first == "x" { return rest.count > 1 && rest.dropFirst().allSatisfy { $0.isHexDigit || $0 == "_" } }
            let octal = rest.first == "o" ? rest.dropFirst() : rest
            return !octal.isEmpty && octal.allSatisfy { "01234567_".contains($0) }
        }
        guard ("1"..."9").contains(first) else { return false }
        let parts = digits.split(separator: ":", omittingEmptySubsequences: false)
        guard parts[0].allSatisfy({ $0.isASCIIDigit || $0 == "_" }) else { return false }
        return parts.dropFirst().allSatisfy(isSexagesimalPart)
    }

    /// `[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?`, `\.[0-9_]+([eE][-+][0-9]+)?`,
    /// base 60 with a fraction, `[-+]?\.(inf|Inf|INF)` or `\.(nan|NaN|NAN)`.
    private static func isFloat(_ text: String) -> Bool {
        if [".nan", ".NaN", ".NAN"].contains(text) { return true }
        var body = Substring(text)
        let signed = body.first == "-" || body.first == "+"
        if signed { body = body.dropFirst() }
        if [".inf", ".Inf", ".INF"].contains(body) { return true }
        if body.first == "." {
            // A leading point: no sign, and an exponent only with its sign.
            let (fraction, exponent) = splitExponent(body.dropFirst())
            return !signed && !fraction.isEmpty && fraction.allSatisfy { $0.isASCIIDigit || $0 == "_" }
                && exponent.map { isExponent($0, signRequired: true) } ?? true
        }
        guard let first = body.first, first.isASCIIDigit else { return false }
        if body.contains(":") {
            // Base 60: `[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*`.
            guard let point = body.firstIndex(of: ".") else { return false }
            let parts = body[..<point].split(separator: ":", omittingEmptySubsequences: false)
            return parts[0].allSatisfy { $0.isASCIIDigit || $0 == "_" } && parts.count > 1
                && parts.dropFirst().allSatisfy(isSexagesimalPart)
                && body[body.index(after: point)...].allSatisfy { $0.isASCIIDigit || $0 == "_" }
        }
        let (mantissa, exponent) = splitExponent(body)
        let pieces = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        return pieces.allSatisfy { $0.allSatisfy { $0.isASCIIDigit || $0 == "_" } }
            && exponent.map { isExponent($0, signRequired: false) } ?? true
    }

    private static func splitExponent(_ text: Substring) -> (Substring, Substring?) {
        guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return (text, nil) }
        return (text[..<e], text[text.index(after: e)...])
    }

    private static func isExponent(_ text: Substring, signRequired: Bool) -> Bool {
        let signed = text.first == "-" || text.first == "+"
        guard signed || !signRequired else { return false }
        let digits = signed ? text.dropFirst() : text
        return !digits.isEmpty && digits.allSatisfy(\.isASCIIDigit)
    }

    /// `[0-5]?[0-9]`.
    private static func isSexagesimalPart(_ part: Substring) -> Bool {
        switch part.count {
        case 1: part.first!.isASCIIDigit
        case 2: ("0"..."5").contains(part.first!) && part.last!.isASCIIDigit
        default: false
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
