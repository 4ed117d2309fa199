import Hummingbird
import Prometheus

/// `GET /metrics`: the application's metrics in the Prometheus text format.
///
/// Serves the registry the application made for its gateway, not a process-wide one, so
/// two gateways in one process (as in the tests) never mix their numbers.
struct MetricsController {
    let registry: PrometheusCollectorRegistry

    /// The Prometheus text exposition format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    func register(on router: Router<BatonRequestContext>) {
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: Self.contentType],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }
}
