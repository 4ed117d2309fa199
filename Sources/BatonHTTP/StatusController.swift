import BatonCore
import Hummingbird

/// `/v1/status`, `/v1/sessions/{session}`, `/healthz` and `/readyz`.
struct StatusController {
    let gateway: Gateway

    func register(on router: Router<BatonRequestContext>) {
        router.get("/v1/status") { _, _ in JSONBody.response(.ok, await gateway.status()) }
        router.get("/v1/sessions/{session}") { _, context in
            let session = try context.parameters.requireDecoded("session")
            return JSONBody.response(.ok, await gateway.sessionStatus(session))
        }
        router.get("/healthz") { _, _ in JSONBody.response(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let status = await gateway.status()
            let state = status.storeReachable == false && status.state == .ready ? "store_unreachable" : status.state.rawValue
            return JSONBody.response(status.isReady ? .ok : .serviceUnavailable, ["state": state])
        }
    }
}
