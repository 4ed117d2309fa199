import Hummingbird

/// The per-request context of Baton's routers.
public struct BatonRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Bodies are collected with the API's own limit, checked in the handler.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}
