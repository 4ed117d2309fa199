import BatonCore
import Foundation
import HTTPTypes
import Hummingbird

/// Encodes response bodies in Baton's wire format.
enum JSONBody {
    static func encode(_ value: some Encodable) -> ByteBuffer {
        let data = (try? WireFormat.encoder.encode(value)) ?? Data("{}".utf8)
        return ByteBuffer(bytes: data)
    }

    static func response(_ status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        response(status, body: encode(value), headers: headers)
    }

    /// A body already in the wire format (``JSONObjectWriter``).
    static func response(_ status: HTTPResponse.Status, body: ByteBuffer, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}

extension HTTPField.Name {
    /// Names the process that answered.
    static let batonInstance = Self("Baton-Instance")!
    static let lastEventID = Self("Last-Event-ID")!
}
