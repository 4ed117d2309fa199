import ArgumentParser

/// `baton`: the chat gateway and the commands that steer it.
@main
struct BatonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "A chat gateway that drains and restarts under systemd without losing a message.",
        subcommands: [Serve.self, Status.self, Restart.self, Stop.self, CheckConfig.self, Units.self]
    )
}
