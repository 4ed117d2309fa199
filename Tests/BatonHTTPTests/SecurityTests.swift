@testable import BatonApp
@testable import BatonHTTP
import BatonCore
import BatonTestSupport
import Foundation
import Testing

@Suite struct SecurityTests {
    static let token = "s3cret-token-0123456789"

    @Test func withTokensEveryAPICallNeedsAValidBearerToken() async throws {
        try await InProcessBaton { $0.apiTokens = ["another-token-abcdefgh", APIToken(Self.token)] }.run { app, client in
            let body = Array(#"{"session":"s","user":"u","text":"hi"}"#.utf8)
            let missing = try await client.request("POST", "/v1/messages", body: body)
            #expect(missing.status == 401)
            #expect(missing.header("WWW-Authenticate") == "Bearer")
            #expect(missing.errorMessage?.contains("missing bearer token") == true)

            let wrong = try await client.request("POST", "/v1/messages", body: body, headers: [("Authorization", "Bearer \(Self.token)x")])
            #expect(wrong.status == 401 && wrong.errorMessage == "invalid bearer token")
            #expect(try await client.request("GET", "/v1/status").status == 401)
            #expect(try await client.request("GET", "/v1/sessions/s/events").status == 401)
            #expect(try await app.store.messageCount() == 0)

            let good = try await client.request("POST", "/v1/messages", body: body, headers: [("Authorization", "Bearer \(Self.token)")])
            #expect(good.status == 202)
            #expect(try await client.request("GET", "/healthz").status == 200)
            #expect(try await client.request("GET", "/readyz").status == 200)
        }
    }

    @Test func tokensCompareWholeAndExact() {
        let equal = TokenAuthMiddleware<BatonRequestContext>.constantTimeEqual
        #expect(equal(Array("abc".utf8), Array("abc".utf8)))
        #expect(!equal(Array("abc".utf8), Array("abd".utf8)))
        #expect(!equal(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!equal(Array("abc".utf8), []))
    }

    @Test(.enabled(if: getuid() == 0, "needs root to connect as another user"))
    func theControlSocketRefusesAnotherUserEvenWhenItsModeAllowsIt() async throws {
        try await InProcessBaton().run { app, _ in
            // Open the socket and its directories (the runtime directory is inside the
            // private state directory here) to everyone: only the peer check is left.
            chmod(app.controlSocketPath, 0o666)
            chmod((app.controlSocketPath as NSString).deletingLastPathComponent, 0o755)
            chmod(app.configuration.stateDirectory, 0o755)
            let script = """
                import socket, sys
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(20)
                s.connect(sys.argv[1])
                try:
                    s.sendall(b"GET /v1/status HTTP/1.0\\r\\n\\r\\n")
                    print(len(s.recv(65536)))
                except (ConnectionResetError, BrokenPipeError):
                    print(0)
                """
            let connection = try await ChildProcess.run(
                "/usr/sbin/runuser", arguments: ["-u", "nobody", "--", "python3", "-c", script, app.controlSocketPath])
            let printed = connection.output + connection.errors
            #expect(printed.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "another user got an answer: \(printed)")
            // Its own user still gets one.
            let own = try ControlClient(socketPath: app.controlSocketPath).status()
            #expect(own.instance == app.gateway.instance)
        }
    }

    @Test(arguments: [("1min 20s", 80.0), ("90s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("infinity", Double.infinity)])
    func systemdTimespansAreRead(text: String, seconds: Double) {
        #expect(InstalledUnitCheck.seconds(fromTimespan: text) == seconds)
    }

    @Test func aTimespanThatIsNotOneIsNotRead() {
        #expect(InstalledUnitCheck.seconds(fromTimespan: "soon") == nil)
    }
}
