import Hummingbird

// The benchmarks' baseline: the cheapest Hummingbird endpoint that does what Baton's
// POST /v1/messages looks like from outside (read a JSON body, answer 202 with JSON),
// without parsing, storing or syncing anything.
let port = Int(CommandLine.arguments.dropFirst().first ?? "8090") ?? 8090
let router = Router()
router.post("/v1/messages") { request, _ -> Response in
    _ = try await request.body.collect(upTo: 65536)
    return Response(
        status: .accepted,
        headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: #"{"status":"accepted"}"#)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
