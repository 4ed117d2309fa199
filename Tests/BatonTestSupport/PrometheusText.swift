/// A `GET /metrics` body, read the way a person greps it: by series, as printed.
public struct PrometheusText: Sendable, CustomStringConvertible {
    public let description: String
    /// Sample values by series (`name` or `name{label="value",…}`).
    public let samples: [String: Double]
    /// `# TYPE` of each metric name.
    public let types: [String: String]

    public init(_ text: String) {
        description = text
        var samples: [String: Double] = [:]
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let fields = line.split(separator: " ")
                if fields.count == 4 { types[String(fields[2])] = String(fields[3]) }
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                samples[String(line[..<space])] = Double(line[line.index(after: space)...])
            }
        }
        self.samples = samples
        self.types = types
    }

    /// The value of one series; nil when it is not there.
    public subscript(_ series: String) -> Double? { samples[series] }
}

extension BatonHTTPClient {
    /// `GET /metrics`, parsed; throws unless it answered 200.
    public func metrics() async throws -> PrometheusText {
        let response = try await request("GET", "/metrics")
        guard response.status == 200 else {
            throw UnexpectedResponse(description: "GET /metrics: \(response.status) \(response.text)")
        }
        return PrometheusText(response.text)
    }
}
