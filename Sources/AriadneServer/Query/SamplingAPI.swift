import AriadnePipeline
import AriadneWire
import HTTPTypes
import Hummingbird
import NIOCore

/// Jaeger remote-sampling endpoint (`GET /?service=NAME`, `GET /sampling?service=NAME`, the
/// JSON of jaeger-idl `api_v2/sampling.proto`): the strategies of a Jaeger strategies file or of
/// adaptive sampling; without either, every SDK is told to sample everything.
struct SamplingAPI {
    var strategies: (any SamplingStrategyProvider)?

    func addRoutes(to router: Router<AriadneRequestContext>) {
        let handler: @Sendable (Request, AriadneRequestContext) async throws -> Response = { request, _ in
            let services = request.uri.formParameters[values: "service"]
            guard services.count == 1, !services[0].isEmpty else {
                return Response(
                    status: .badRequest,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "'service' parameter must be provided once\n")))
            }
            let strategy = strategies?.strategy(for: String(services[0])) ?? ServiceSamplingStrategy(kind: .probabilistic(1))
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.json(strategy))))
        }
        router.get("/", use: handler)
        router.get("/sampling", use: handler)
    }

    static func json(_ s: ServiceSamplingStrategy) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        switch s.kind {
        case .probabilistic(let p):
            w.field("strategyType", "PROBABILISTIC")
            w.key("probabilisticSampling")
            w.beginObject()
            w.field("samplingRate", p)
            w.endObject()
        case .rateLimiting(let n):
            w.field("strategyType", "RATE_LIMITING")
            w.key("rateLimitingSampling")
            w.beginObject()
            w.field("maxTracesPerSecond", n)
            w.endObject()
        }
        if let ops = s.operations {
            w.key("operationSampling")
            w.beginObject()
            w.field("defaultSamplingProbability", ops.defaultProbability)
            w.field("defaultLowerBoundTracesPerSecond", ops.defaultLowerBoundTracesPerSecond)
            if let upper = ops.defaultUpperBoundTracesPerSecond { w.field("defaultUpperBoundTracesPerSecond", upper) }
            w.key("perOperationStrategies")
            w.beginArray()
            for (operation, probability) in ops.perOperation {
                w.beginObject()
                w.field("operation", operation)
                w.key("probabilisticSampling")
                w.beginObject()
                w.field("samplingRate", probability)
                w.endObject()
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.endObject()
        return w.out
    }
}
