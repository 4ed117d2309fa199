import BatonCore
import Hummingbird

/// `/v1/status`, `/v1/sessions/{session}`, `/healthz` and `/readyz`.
struct StatusController {
    let gateway: Gateway

    func register(on router: Router<BatonRequestContext>) {
        router.get("/v1/status") { _, _ in JSONBody.response(.ok, await gateway.status()) }
        router.get("/v1/sessions/{session}") { _, context in
            let session = try context.parameters.require("session")
            return JSONBody.response(.ok, await gateway.sessionStatus(session))
        }
        router.get("/healthz") { _, _ in JSONBody.response(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let state = await gateway.status().state
            return JSONBody.response(state == .ready ? .ok : .serviceUnavailable, ["state": state.rawValue])
        }
    }
}
