import ArgumentParser
import BatonApp
import BatonCore
import Foundation

/// `--config FILE` (or `BATON_CONFIG`), shared by the commands that read the configuration.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "The YAML configuration file (default: $BATON_CONFIG, else built-in defaults).")
    var config: String?

    /// The path in use, if any.
    var path: String? { ConfigurationLoader().configurationPath(explicit: config) }

    /// Loads the configuration, or prints what is wrong and exits 78.
    func load() throws -> Configuration {
        do {
            return try ConfigurationLoader().load(path: path)
        } catch {
            printError("invalid configuration: \(error)")
            throw ExitCode(ExitStatus.invalidConfiguration.rawValue)
        }
    }
}

/// `--socket` for the commands that talk to a running gateway.
struct ControlOptions: ParsableArguments {
    @OptionGroup var configuration: ConfigurationOptions

    @Option(name: .long, help: "The control socket (default: <runtime_directory>/control.sock).")
    var socket: String?

    func client() throws -> ControlClient {
        let loaded = try configuration.load()
        let configured = configuration.path != nil || ProcessInfo.processInfo.environment["RUNTIME_DIRECTORY"] != nil
            || ProcessInfo.processInfo.environment["BATON_RUNTIME_DIRECTORY"] != nil
        return ControlClient(socketPath: ControlClient.socketPath(explicit: socket, configuration: loaded, configured: configured))
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("baton: \(message)\n".utf8))
}
