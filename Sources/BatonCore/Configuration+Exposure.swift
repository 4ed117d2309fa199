extension Configuration {
    /// Why the chat API may not be served on `address`, or nil when it may.
    ///
    /// Without `api_tokens` anyone who reaches the API can post as any user, so the API is
    /// then for this machine only: on an address other machines can reach it is refused
    /// unless `allow_unauthenticated` says it is meant. `address` is the one actually
    /// listened on (a socket from systemd may differ from `listen`); `origin` says where
    /// it came from, for the message.
    public func exposureProblem(listeningOn address: ListenAddress, origin: String = "listen") -> ConfigurationError? {
        guard apiTokens.isEmpty, !allowUnauthenticated, !address.isLoopback else { return nil }
        return ConfigurationError(
            source: "\(origin) \(address)", key: "api_tokens",
            problem: "is empty, and \(address) can be reached from other machines: anyone reaching it could post as any user. "
                + "Set api_tokens (or api_tokens_file, or the credential api-tokens), listen on 127.0.0.1, "
                + "or set allow_unauthenticated: true to serve the API without tokens deliberately")
    }
}
