import ArgumentParser
import Foundation
import BatonApp
import BatonCore

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the configuration; exit 78 naming the bad key.")

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "The installed unit whose stop timeout is checked against the drain; \"\" checks none.")
    var unit = "baton.service"

    @Flag(help: "Check the unit of the user's service manager (systemctl --user).")
    var user = false

    func run() throws {
        let configuration = try options.load()
        do {
            try StartCheck.check(configuration)
        } catch {
            throw invalidConfiguration(error)
        }
        print("configuration OK: \(options.path ?? "built-in defaults")")
        print("listen \(configuration.listen), agent \(configuration.agent.kind.rawValue), drain.timeout \(configuration.drain.timeout) s")
        print(Self.describeTokens(configuration))
        print(Self.describeStore(configuration))
        if !unit.isEmpty, let warning = InstalledUnitCheck(unit: unit, userManager: user).warning(for: configuration) {
            printError("warning: \(warning)")
        }
    }
}

extension CheckConfig {
    /// Who may use the API: each token by name and whom it speaks for, never the secret.
    static func describeTokens(_ configuration: Configuration) -> String {
        let tokens = configuration.apiTokens
        guard !tokens.isEmpty else {
            return configuration.allowUnauthenticated
                ? "api_tokens: none; allow_unauthenticated: anyone reaching the API may post as any user"
                : "api_tokens: none; the API serves this machine only"
        }
        return "api_tokens: " + tokens.summary
    }

    /// Which store, and how long its finished history is kept.
    static func describeStore(_ configuration: Configuration) -> String {
        let store = configuration.store.isShared ? "PostgreSQL" : "SQLite under \(configuration.stateDirectory)"
        let retention = configuration.store.retention
        let days = retention == retention.rounded() ? String(Int(retention)) : String(retention)
        let kept = retention > 0 ? "finished messages and their events kept \(days) days (store.retention)" : "history kept forever (store.retention 0)"
        return "store: \(store); \(kept)"
    }
}

struct Units: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "units", abstract: "Print a baton.service whose timeouts agree with the configuration.")

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "The path of the baton executable in ExecStart.")
    var executable = "/usr/local/bin/baton"

    func run() throws {
        // The unit's timeouts need no secret: a token only the unit can read (a credential)
        // must not stop the command that writes the unit.
        let configuration = try options.load(readingTokenFiles: false)
        let path = options.path.map { ($0 as NSString).isAbsolutePath ? $0 : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent($0) }
        print(UnitFile.service(for: configuration, executable: executable, configurationPath: path), terminator: "")
    }
}
