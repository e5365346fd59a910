import AriadneWire
import Hummingbird
import HTTPTypes
import NIOCore

/// Jaeger remote-sampling endpoint (`GET /?service=NAME`, `GET /sampling?service=NAME`, the
/// JSON of jaeger-idl `api_v2/sampling.proto`). Until strategies are configurable it serves
/// one default: probabilistic sampling at `defaultProbability`.
struct SamplingAPI {
    var defaultProbability = 1.0

    func addRoutes(to router: Router<BasicRequestContext>) {
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let services = request.uri.formParameters[values: "service"]
            guard services.count == 1, !services[0].isEmpty else {
                return Response(
                    status: .badRequest,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "'service' parameter must be provided once\n")))
            }
            var w = JSONWriter()
            w.beginObject()
            w.field("strategyType", "PROBABILISTIC")
            w.key("probabilisticSampling")
            w.beginObject()
            w.key("samplingRate")
            w.double(defaultProbability)
            w.endObject()
            w.endObject()
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: w.out)))
        }
        router.get("/", use: handler)
        router.get("/sampling", use: handler)
    }
}
