import BatonCore
import Hummingbird
import Prometheus

/// Builds the routers of Baton's two HTTP faces.
public enum APIRouter {
    /// The chat API served on `listen`; `GET /metrics` serves `metrics`; `GET /` the web page.
    public static func chat(
        gateway: Gateway, store: any Store, bus: EventBus, metrics: PrometheusCollectorRegistry
    ) -> Router<BatonRequestContext> {
        let router = Router(context: BatonRequestContext.self)
        router.add(middleware: APIMiddleware(gateway: gateway))
        let access = AccessMetrics(registry: metrics, configuration: gateway.configuration)
        router.add(middleware: TokenAuthMiddleware(configuration: gateway.configuration, metrics: access))
        let parser = MessageRequestParser(maxBodyBytes: gateway.configuration.limits.maxMessageBytes)
        MessagesController(gateway: gateway, parser: parser, access: access).register(on: router)
        EventStreamController(store: store, bus: bus).register(on: router)
        StatusController(gateway: gateway).register(on: router)
        StatusStreamController(gateway: gateway).register(on: router)
        UserController(admins: Set(gateway.configuration.admins)).register(on: router)
        PageController().register(on: router)
        MetricsController(registry: metrics).register(on: router)
        return router
    }

    /// The control API served on `<runtime_directory>/control.sock`.
    public static func control(gateway: Gateway) -> Router<BatonRequestContext> {
        let router = Router(context: BatonRequestContext.self)
        router.add(middleware: APIMiddleware(instance: gateway.instance))
        ControlController(gateway: gateway).register(on: router)
        return router
    }
}
