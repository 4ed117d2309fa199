import ArgumentParser
import BatonApp
import BatonCore
import BatonSystemd
import Foundation
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the gateway in the foreground.")

    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        try await Self.serve(configurationPath: options.config)
    }

    /// Runs the gateway with the configuration at `configurationPath` (else `BATON_CONFIG`,
    /// else the defaults) until it exits; never returns otherwise.
    static func serve(configurationPath: String?) async throws {
        // Everything Baton creates is its user's alone, as under the shipped unit
        // (UMask=0077): the store holds every chat message. Exec agents inherit it.
        umask(0o077)
        // Read once: each read of ProcessInfo's environment builds the dictionary again.
        let environment = ProcessInfo.processInfo.environment
        let configuration = try ConfigurationOptions.load(explicitPath: configurationPath, environment: environment)
        signal(SIGPIPE, SIG_IGN)
        // A reload that arrives before the signal router is up must not kill the process.
        signal(SIGUSR1, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        AllocatorTuning.apply(environment: environment)
        let level = Logger.Level(rawValue: environment["BATON_LOG_LEVEL"] ?? "info") ?? .info
        if let asked = environment["BATON_LOG_LEVEL"], Logger.Level(rawValue: asked) == nil {
            printError(
                "warning: BATON_LOG_LEVEL=\(asked) is not a level (\(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))); logging at info")
        }
        let toJournal = JournalLogHandler.isJournalAvailable(environment: environment)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = toJournal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "baton")
        let application: BatonApplication
        do {
            // Checked again before each restart by the binary on disk: a restart into a
            // configuration the next process would exit 78 for is refused.
            let path = ConfigurationLoader(environment: environment).configurationPath(explicit: configurationPath)
            application = try await buildApplication(
                configuration: configuration, environment: environment, logger: logger, configurationPath: .some(path))
        } catch let error as ConfigurationError {
            throw invalidConfiguration(error)
        } catch {
            printError("cannot start: \(error)")
            throw ExitCode(ExitStatus.failure.rawValue)
        }
        let status: ExitStatus
        do {
            status = try await application.run()
        } catch {
            logger.critical("Gateway failed", metadata: ["baton.error": "\(error)"])
            status = .failure
        }
        // Everything is committed and every connection closed. Leave at once: exit()'s
        // clean-up of static state can deadlock against threads still parked in the
        // runtime, and a process that hangs here holds up the next one (seen under load).
        logger.info("Exiting", metadata: ["baton.status": "\(status.rawValue)"])
        _exit(status.rawValue)
    }
}
