import ArgumentParser

/// `baton`: the chat gateway and the commands that steer it.
@main
struct BatonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "A chat gateway that drains and restarts under systemd without losing a message.",
        subcommands: [Serve.self, Status.self, Restart.self, Stop.self, CheckConfig.self, Units.self]
    )

    /// `baton serve` alone, as the unit starts it, runs without the argument parser:
    /// there is nothing to parse, and the parser's reflection on the command tree (for
    /// `--help`, completions and the options) was a fifth of the CPU time of every start,
    /// and so of every restart. Anything else is parsed as usual.
    static func main() async {
        guard CommandLine.arguments.dropFirst().elementsEqual(["serve"]) else {
            return await main(nil)
        }
        do {
            try await Serve.serve(configurationPath: nil)
        } catch {
            Serve.exit(withError: error)
        }
    }
}
