import ArgumentParser
import BatonApp
import BatonCore

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the configuration; exit 78 naming the bad key.")

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "The installed unit whose stop timeout is checked against the drain.")
    var unit = "baton.service"

    @Flag(help: "Check the unit of the user's service manager (systemctl --user).")
    var user = false

    func run() throws {
        let configuration = try options.load()
        print("configuration OK: \(options.path ?? "built-in defaults")")
        print("listen \(configuration.listen), agent \(configuration.agent.kind.rawValue), drain.timeout \(configuration.drain.timeout) s")
        if let warning = InstalledUnitCheck(unit: unit, userManager: user).warning(for: configuration) {
            printError("warning: \(warning)")
        }
    }
}

struct Units: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a baton.service whose timeouts agree with the configuration.")

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "The path of the baton executable in ExecStart.")
    var executable = "/usr/local/bin/baton"

    func run() throws {
        print(UnitFile.service(for: try options.load(), executable: executable), terminator: "")
    }
}
