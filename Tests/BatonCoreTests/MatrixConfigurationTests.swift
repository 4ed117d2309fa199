import BatonCore
import Foundation
import Testing

@Suite("The matrix: section")
struct MatrixConfigurationTests {
    private func load(_ yaml: String, environment: [String: String] = [:]) throws(ConfigurationError) -> Configuration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-\(UUID().uuidString).yaml").path
        try? yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ConfigurationLoader(environment: environment).load(path: path)
    }

    @Test("Without a matrix section there is no Matrix bot")
    func absent() throws {
        #expect(try load("listen: 127.0.0.1:8080").matrix == nil)
    }

    @Test("Every key is read")
    func everyKey() throws {
        let c = try load(
            """
            admins: ["@alice:example.org"]
            matrix:
              homeserver: https://matrix.example.org
              user_id: "@baton:example.org"
              access_token: syt_secret
              device_id: ABCDEF
              auto_join: anyone
              rooms: ["#support:example.org", "!abc:example.org", "!opaque"]
            """)
        #expect(
            c.matrix
                == MatrixConfiguration(
                    homeserver: "https://matrix.example.org", userID: "@baton:example.org", accessToken: "syt_secret", deviceID: "ABCDEF",
                    autoJoin: .anyone, rooms: ["#support:example.org", "!abc:example.org", "!opaque"]))
        #expect(c.admins == ["@alice:example.org"])
    }

    @Test("The token comes from the environment or the systemd credential when the file has none")
    func tokenSources() throws {
        let yaml = """
            matrix:
              homeserver: http://127.0.0.1:8008
              user_id: "@baton:example.org"
            """
        #expect(try load(yaml, environment: ["BATON_MATRIX_ACCESS_TOKEN": "from-env"]).matrix?.accessToken == "from-env")
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: credentials) }
        try "from-credential\n".write(toFile: credentials + "/matrix-access-token", atomically: true, encoding: .utf8)
        #expect(try load(yaml, environment: ["CREDENTIALS_DIRECTORY": credentials]).matrix?.accessToken == "from-credential")
    }

    @Test("Bad values name the key", arguments: [
        ("matrix:\n  homeserver: ftp://x\n", "matrix.homeserver"),
        ("matrix:\n  user_id: baton\n", "matrix.user_id"),
        ("matrix:\n  auto_join: everybody\n", "matrix.auto_join"),
        ("matrix:\n  rooms: [general]\n", "matrix.rooms"),
        ("matrix:\n  homeserver: http://h\n  user_id: \"@b:h\"\n", "matrix.access_token"),
        ("matrix:\n  user_id: \"@b:h\"\n  access_token: t\n", "matrix.homeserver"),
        ("matrix:\n  homeservr: http://h\n", "matrix.homeservr"),
    ])
    func badValues(yaml: String, key: String) {
        #expect {
            try load(yaml)
        } throws: { error in
            (error as? ConfigurationError)?.key == key
        }
    }
}
