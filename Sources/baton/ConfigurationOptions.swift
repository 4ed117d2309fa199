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
    ///
    /// `readingTokenFiles` false skips the token file and credential (see
    /// ``ConfigurationLoader/load(path:readingTokenFiles:)``).
    func load(readingTokenFiles: Bool = true) throws -> Configuration {
        try Self.load(explicitPath: config, readingTokenFiles: readingTokenFiles)
    }

    /// Loads the configuration from `explicitPath` (else `BATON_CONFIG`, else the
    /// defaults), or prints what is wrong and exits 78.
    static func load(
        explicitPath: String?, readingTokenFiles: Bool = true, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Configuration {
        let loader = ConfigurationLoader(environment: environment)
        do {
            return try loader.load(path: loader.configurationPath(explicit: explicitPath), readingTokenFiles: readingTokenFiles)
        } catch {
            throw invalidConfiguration(error)
        }
    }
}

/// `--socket` for the commands that talk to a running gateway.
struct ControlOptions: ParsableArguments {
    @OptionGroup var configuration: ConfigurationOptions

    @Option(name: .long, help: "The control socket (default: <runtime_directory>/control.sock).")
    var socket: String?

    func client() throws -> ControlClient {
        try connection().client
    }

    /// The client, and the configuration it was found with (the defaults while the file
    /// is invalid).
    func connection() throws -> (client: ControlClient, configuration: Configuration) {
        let environment = ProcessInfo.processInfo.environment
        // The control socket needs no token: nor should finding it need the token files.
        // A configuration being edited (invalid for now) must not keep an admin from the
        // running gateway: the socket is then looked for where it usually is.
        let loader = ConfigurationLoader(environment: environment)
        let loaded: Configuration
        var guessed = false
        do {
            loaded = try loader.load(path: configuration.path, readingTokenFiles: false)
        } catch {
            guessed = socket == nil
            printError("warning: the configuration is invalid (\(error)); looking for the gateway where it usually listens")
            loaded =
                (try? loader.load(path: nil, readingTokenFiles: false))
                ?? (try? ConfigurationLoader(environment: [:]).load(path: nil, readingTokenFiles: false)) ?? Configuration()
        }
        let path = socket ?? ControlClient.socketPath(explicit: nil, configuration: loaded, environment: environment)
        return (ControlClient(socketPath: path, pathIsGuess: guessed), loaded)
    }
}

/// Prints what is wrong with the configuration; the exit (78) to throw.
func invalidConfiguration(_ error: ConfigurationError) -> ExitCode {
    printError("invalid configuration: \(error)")
    return ExitCode(ExitStatus.invalidConfiguration.rawValue)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("baton: \(message)\n".utf8))
}
