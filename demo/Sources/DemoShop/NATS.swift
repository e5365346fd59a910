import CNATS
import Foundation
import Tracing

/// A small wrapper of the NATS C client: publish with headers, and a blocking subscription.
/// The trace context crosses the queue in the message headers (`traceparent`, `tracestate`),
/// injected and extracted by whatever instrument swift-distributed-tracing was bootstrapped with.
final class NATSConnection: @unchecked Sendable {
    private let connection: OpaquePointer

    init(url: String) throws {
        var nc: OpaquePointer?
        let status = natsConnection_ConnectTo(&nc, url)
        guard status == NATS_OK, let nc else { throw NATSError(status, "connecting to \(url)") }
        connection = nc
    }

    deinit { natsConnection_Destroy(connection) }

    /// Publishes `data` on `subject` with the current trace context in its headers.
    func publish(_ subject: String, _ data: [UInt8], context: ServiceContext) throws {
        var message: OpaquePointer?
        var status = data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                natsMsg_Create(&message, subject, nil, chars.baseAddress, Int32(data.count))
            }
        }
        guard status == NATS_OK, let message else { throw NATSError(status, "creating a message") }
        defer { natsMsg_Destroy(message) }
        var headers = [String: String]()
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryInjector())
        for (k, v) in headers { natsMsgHeader_Set(message, k, v) }
        status = natsConnection_PublishMsg(connection, message)
        guard status == NATS_OK else { throw NATSError(status, "publishing to \(subject)") }
        status = natsConnection_FlushTimeout(connection, 2000)
        guard status == NATS_OK else { throw NATSError(status, "flushing") }
    }

    /// Calls `handle` with each message on `subject`, its data and headers, on the calling thread,
    /// until `stop` says so.
    func subscribe(_ subject: String, stop: () -> Bool, handle: ([UInt8], [String: String]) -> Void) throws {
        var sub: OpaquePointer?
        let status = natsConnection_SubscribeSync(&sub, connection, subject)
        guard status == NATS_OK, let sub else { throw NATSError(status, "subscribing to \(subject)") }
        defer { natsSubscription_Destroy(sub) }
        natsConnection_Flush(connection)
        while !stop() {
            var message: OpaquePointer?
            let s = natsSubscription_NextMsg(&message, sub, 500)
            if s == NATS_TIMEOUT { continue }
            guard s == NATS_OK, let message else { throw NATSError(s, "receiving from \(subject)") }
            defer { natsMsg_Destroy(message) }
            let count = Int(natsMsg_GetDataLength(message))
            let data = natsMsg_GetData(message).map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
            handle(data, Self.headers(of: message))
        }
    }

    static func headers(of message: OpaquePointer) -> [String: String] {
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var count: Int32 = 0
        guard natsMsgHeader_Keys(message, &keys, &count) == NATS_OK, let keys else { return [:] }
        defer { free(keys) }
        var out = [String: String]()
        for i in 0..<Int(count) {
            guard let key = keys[i] else { continue }
            var value: UnsafePointer<CChar>?
            if natsMsgHeader_Get(message, key, &value) == NATS_OK, let value {
                out[String(cString: key)] = String(cString: value)
            }
        }
        return out
    }
}

struct NATSError: Error, CustomStringConvertible {
    let description: String

    init(_ status: natsStatus, _ what: String) {
        description = "NATS: \(what): \(String(cString: natsStatus_GetText(status)))"
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key] ?? carrier.first { $0.key.lowercased() == key.lowercased() }?.value
    }
}
