import BatonCore
import Hummingbird

/// The control socket's API, used by `baton status|restart|stop`.
struct ControlController {
    let gateway: Gateway

    func register(on router: Router<BatonRequestContext>) {
        router.get("/v1/status") { _, _ in JSONBody.response(.ok, await gateway.status()) }
        router.post("/v1/restart") { request, _ in try await drain(.restart, request) }
        router.post("/v1/stop") { request, _ in try await drain(.stop, request) }
    }

    private func drain(_ reason: DrainReason, _ request: Request) async throws -> Response {
        let now = request.uri.queryParameters["now"].map { $0 == "1" || $0 == "true" } ?? false
        do {
            try await gateway.requestDrain(reason, immediate: now, origin: .control)
        } catch {
            throw APIError(error)
        }
        return JSONBody.response(.accepted, await gateway.status())
    }
}
