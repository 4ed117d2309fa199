import BatonCore
import Foundation

/// Compares the stop timeout of an installed `baton.service` with what the
/// configuration's drain needs, so systemd never kills a drain within its budget.
public struct InstalledUnitCheck: Sendable {
    public let unit: String
    /// Ask the user manager (`systemctl --user`) instead of the system one.
    public let userManager: Bool

    public init(unit: String = "baton.service", userManager: Bool = false) {
        self.unit = unit
        self.userManager = userManager
    }

    /// A warning when the installed unit's `TimeoutStopUSec` is shorter than
    /// `drain.timeout` + `drain.interrupt_grace` + margin; nil when it is long enough
    /// or no such unit is installed.
    public func warning(for configuration: Configuration) -> String? {
        guard let properties = showProperties(), properties["LoadState"] == "loaded",
            let text = properties["TimeoutStopUSec"], let installed = Self.seconds(fromTimespan: text)
        else { return nil }
        let needed = UnitFile.stopTimeoutSeconds(for: configuration)
        guard installed < Double(needed) else { return nil }
        return """
            the installed \(unit) stops after \(text) (TimeoutStopSec), shorter than drain.timeout + \
            drain.interrupt_grace + \(Int(UnitFile.shutdownMargin)) s = \(needed) s: systemd may kill a drain that is \
            within its deadline. `baton units` prints a unit that fits this configuration.
            """
    }

    private func showProperties() -> [String: String]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemctl")
        process.arguments = (userManager ? ["--user"] : []) + ["show", unit, "-p", "LoadState,TimeoutStopUSec"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        var properties: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            properties[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return properties
    }

    /// Parses a systemd time span as `systemctl show` prints it (`1min 30s`, `90s`,
    /// `500ms`, `infinity`); nil if it is not one.
    public static func seconds(fromTimespan text: String) -> Double? {
        if text == "infinity" { return .infinity }
        let units: [(String, Double)] = [
            ("usec", 1e-6), ("us", 1e-6), ("msec", 1e-3), ("ms", 1e-3), ("seconds", 1), ("second", 1), ("sec", 1),
            ("s", 1), ("minutes", 60), ("minute", 60), ("min", 60), ("hours", 3600), ("hour", 3600), ("hr", 3600),
            ("h", 3600), ("days", 86400), ("day", 86400), ("d", 86400), ("weeks", 604800), ("week", 604800), ("w", 604800),
        ]
        var total = 0.0
        var sawAny = false
        for part in text.split(separator: " ") {
            let digits = part.prefix { $0.isNumber || $0 == "." }
            let unit = String(part.dropFirst(digits.count))
            guard let value = Double(digits) else { return nil }
            guard let factor = unit.isEmpty ? 1e-6 : units.first(where: { $0.0 == unit })?.1 else { return nil }
            total += value * factor
            sawAny = true
        }
        return sawAny ? total : nil
    }
}
