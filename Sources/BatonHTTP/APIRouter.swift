import BatonCore
import Hummingbird
import Prometheus

/// Builds the routers of Baton's two HTTP faces.
public enum APIRouter {
    /// The chat API served on `listen`; `GET /metrics` serves `metrics`; `GET /` the web
    /// page. `POST /v1/messages` is served by `messages` in front of the router, and by
    /// the router behind another request on the same connection.
    public static func chat(
        gateway: Gateway, store: any Store, bus: EventBus, metrics: PrometheusCollectorRegistry
    ) -> (router: Router<BatonRequestContext>, messages: MessageEndpoint) {
        let router = Router(context: BatonRequestContext.self)
        let stamping = APIMiddleware<BatonRequestContext>(gateway: gateway)
        router.add(middleware: stamping)
        let access = AccessMetrics(registry: metrics, configuration: gateway.configuration)
        let authentication = TokenAuthMiddleware<BatonRequestContext>(configuration: gateway.configuration, metrics: access)
        router.add(middleware: authentication)
        let parser = MessageRequestParser(maxBodyBytes: gateway.configuration.limits.maxMessageBytes)
        let messages = MessagesController(gateway: gateway, parser: parser, access: access)
        messages.register(on: router)
        EventStreamController(store: store, bus: bus).register(on: router)
        StatusController(gateway: gateway).register(on: router)
        StatusStreamController(gateway: gateway).register(on: router)
        UserController(admins: Set(gateway.configuration.admins)).register(on: router)
        PageController().register(on: router)
        MetricsController(registry: metrics).register(on: router)
        return (router, MessageEndpoint(controller: messages, authentication: authentication, stamping: stamping))
    }

    /// The control API served on `<runtime_directory>/control.sock`.
    public static func control(gateway: Gateway) -> Router<BatonRequestContext> {
        let router = Router(context: BatonRequestContext.self)
        router.add(middleware: APIMiddleware(instance: gateway.instance))
        ControlController(gateway: gateway).register(on: router)
        return router
    }
}
