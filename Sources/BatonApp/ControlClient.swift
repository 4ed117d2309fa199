import BatonCore
import Foundation
import Glibc

/// Talks to a running gateway over its control socket (HTTP/1.0 on a Unix socket).
public struct ControlClient: Sendable {
    /// Why a request did not get an answer.
    public enum Failure: Error, CustomStringConvertible {
        /// No gateway listens on the socket.
        case notRunning(path: String)
        /// The socket is there but cannot be used (permissions, say), or the gateway did
        /// not answer in time: it may well be running.
        case unreachable(path: String, reason: String)
        case protocolError(String)
        /// The gateway refused the request, saying why (a restart into a configuration
        /// the next process would not start with).
        case refused(String)

        public var description: String {
            switch self {
            case .refused(let reason): reason
            case .notRunning(let path): "Baton is not running (no gateway answers on \(path))"
            case .unreachable(let path, let reason): "cannot talk to Baton on \(path): \(reason)"
            case .protocolError(let detail): "unexpected answer from the control socket: \(detail)"
            }
        }

        /// The exit status a command reports it with: 3 only when nothing runs.
        public var exitStatus: ExitStatus {
            if case .notRunning = self { .notRunning } else { .failure }
        }
    }

    public let socketPath: String
    /// Whether the socket was looked for without the configuration (it is invalid): that
    /// nothing answers there then says nothing sure, and is no "not running" (status 3).
    public let pathIsGuess: Bool

    public init(socketPath: String, pathIsGuess: Bool = false) {
        self.socketPath = socketPath
        self.pathIsGuess = pathIsGuess
    }

    /// "Not running", unless the path is a guess.
    private var nothingAnswers: Failure {
        pathIsGuess
            ? .unreachable(path: socketPath, reason: "nothing answers there, and with the configuration invalid that may not be where the gateway listens; give --socket")
            : .notRunning(path: socketPath)
    }

    /// Picks the control socket: an explicit one; the runtime directory when one was
    /// given (`runtime_directory`, `BATON_RUNTIME_DIRECTORY`, systemd's
    /// `RUNTIME_DIRECTORY`); else the first that exists of `<state_directory>/run`, a
    /// system unit's `/run/baton` and a user unit's `$XDG_RUNTIME_DIR/baton`; else
    /// `<state_directory>/run`.
    ///
    /// A configuration file alone does not say where a unit's socket is: the shipped unit
    /// gives its process `RUNTIME_DIRECTORY=/run/baton`, which `baton status` run from a
    /// shell does not have.
    public static func socketPath(explicit: String?, configuration: Configuration, environment: [String: String]) -> String {
        if let explicit { return explicit }
        let configuredPath = (configuration.runtimeDirectory as NSString).appendingPathComponent("control.sock")
        if configuration.runtimeDirectoryIsGiven { return configuredPath }
        var candidates = [configuredPath, "/run/baton/control.sock"]
        if let user = environment["XDG_RUNTIME_DIR"] { candidates.append((user as NSString).appendingPathComponent("baton/control.sock")) }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? configuredPath
    }

    public func status() throws(Failure) -> GatewayStatus {
        try decode(request("GET", "/v1/status"))
    }

    /// Asks for a restart or stop drain; answers the status right after.
    public func requestDrain(_ reason: DrainReason, now: Bool) throws(Failure) -> GatewayStatus {
        try decode(request("POST", "/v1/\(reason.rawValue)\(now ? "?now=1" : "")"))
    }

    private func decode(_ body: [UInt8]) throws(Failure) -> GatewayStatus {
        do {
            return try WireFormat.decoder().decode(GatewayStatus.self, from: Data(body))
        } catch {
            throw .protocolError("cannot read status: \(error)")
        }
    }

    /// Sends one request and returns the body of a 2xx answer.
    func request(_ method: String, _ path: String) throws(Failure) -> [UInt8] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .protocolError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw nothingAnswers }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            // Nothing there, or a socket nobody listens on: not running. Anything else
            // (permission denied, say) leaves it open whether Baton runs.
            guard code == ENOENT || code == ECONNREFUSED else {
                throw .unreachable(path: socketPath, reason: String(cString: strerror(code)))
            }
            throw nothingAnswers
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // The server answers in HTTP/1.1 and keeps the connection open unless told to
        // close it; the answer is read to the end of the stream.
        let requestText = "\(method) \(path) HTTP/1.0\r\nHost: baton\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        let sent = requestText.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        guard sent > 0 else { throw nothingAnswers }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                throw .unreachable(path: socketPath, reason: "no answer within \(timeout.tv_sec) s")
            }
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        // Closed with no answer: the process went away as it was asked.
        guard !response.isEmpty else { throw nothingAnswers }
        return try body(of: response)
    }

    private func body(of response: [UInt8]) throws(Failure) -> [UInt8] {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let split = response.indices.first(where: { response[$0...].starts(with: separator) }) else {
            throw .protocolError("no HTTP header")
        }
        let head = String(decoding: response[..<split], as: UTF8.self)
        let body = Array(response[(split + 4)...])
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let code = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        guard (200..<300).contains(code) else {
            if let answer = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let reason = answer["error"] as? String {
                throw .refused(reason)
            }
            throw .protocolError("\(statusLine): \(String(decoding: body, as: UTF8.self))")
        }
        return body
    }
}
