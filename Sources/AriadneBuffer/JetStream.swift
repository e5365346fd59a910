import AriadneModel
import CNATS
import Foundation
import NIOPosix

/// A failure talking to JetStream, with whether trying again may help (the server is away, a
/// publish timed out, the stream is full) or not (a configuration JetStream refuses).
public struct BufferError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var isRetryable: Bool
    /// The stream refused the message for its limits (discard-new): back pressure, not an outage.
    public var isFull = false

    init(_ message: String, retryable: Bool = true, full: Bool = false) {
        self.message = message
        self.isRetryable = retryable
        self.isFull = full
    }

    /// From a libnats status and JetStream error code.
    init(_ what: String, _ status: natsStatus, _ code: jsErrCode = jsErrCode(0)) {
        let text = String(cString: natsStatus_GetText(status))
        let detail = nats_GetLastError(nil).map { String(cString: $0) } ?? ""
        let full = code == JSStreamStoreFailedErr || detail.contains("maximum")
        self.init(
            "\(what): \(text)\(detail.isEmpty || detail == text ? "" : " (\(detail))")\(code.rawValue == 0 ? "" : " [JetStream \(code.rawValue)]")",
            retryable: status != NATS_INVALID_ARG, full: full)
    }

    public var description: String { message }
}

/// libnats calls block their thread (a publish waits for JetStream's acknowledgement, a fetch
/// for messages): they run on threads of their own, never on Swift's cooperative pool.
enum Blocking {
    static let pool: NIOThreadPool = {
        let p = NIOThreadPool(numberOfThreads: 32)
        p.start()
        return p
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}

/// One connection to a NATS cluster with its JetStream context. libnats reconnects by itself
/// (to any server of the list, without end); calls fail fast while it is away.
public final class JetStreamConnection: @unchecked Sendable {
    let connection: OpaquePointer
    let js: OpaquePointer
    public let urls: [String]

    /// Connects to the first server of `urls` that answers; with none up yet, returns at once
    /// and keeps trying in the background (`isConnected` tells).
    public init(urls: [String], name: String) throws(BufferError) {
        self.urls = urls
        var opts: OpaquePointer?
        guard natsOptions_Create(&opts) == NATS_OK, let opts else { throw BufferError("nats: options", NATS_NO_MEMORY) }
        defer { natsOptions_Destroy(opts) }
        var cStrings = urls.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let status: natsStatus = cStrings.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) {
                natsOptions_SetServers(opts, $0, Int32(buf.count))
            }
        }
        guard status == NATS_OK else { throw BufferError("nats: servers \(urls.joined(separator: ","))", status) }
        natsOptions_SetName(opts, name)
        natsOptions_SetMaxReconnect(opts, -1)
        natsOptions_SetReconnectWait(opts, 250)
        natsOptions_SetTimeout(opts, 2000)
        natsOptions_SetRetryOnFailedConnect(opts, true, nil, nil)
        // Publishes pending while disconnected would be acknowledged by nobody: fail them at once.
        natsOptions_SetReconnectBufSize(opts, 0)
        var nc: OpaquePointer?
        let s = natsConnection_Connect(&nc, opts)
        guard s == NATS_OK || s == NATS_NOT_YET_CONNECTED, let nc else { throw BufferError("nats: connecting to \(urls.joined(separator: ","))", s) }
        var jsOpts = jsOptions()
        jsOptions_Init(&jsOpts)
        jsOpts.Wait = 5000
        var ctx: OpaquePointer?
        let j = natsConnection_JetStream(&ctx, nc, &jsOpts)
        guard j == NATS_OK, let ctx else {
            natsConnection_Destroy(nc)
            throw BufferError("nats: JetStream context", j)
        }
        connection = nc
        js = ctx
    }

    deinit {
        jsCtx_Destroy(js)
        natsConnection_Destroy(connection)
    }

    public var isConnected: Bool { natsConnection_Status(connection) == NATS_CONN_STATUS_CONNECTED }

    /// The stream's settings, created when missing and updated when they differ.
    public struct StreamSettings: Sendable, Equatable {
        public var name: String
        public var subjects: [String]
        public var maxAge: Duration
        public var maxBytes: Int64
        public var replicas: Int
        /// How long JetStream remembers message ids to drop a repeated publish.
        public var duplicateWindow: Duration = .seconds(120)

        public init(name: String, subjects: [String], maxAge: Duration, maxBytes: Int64, replicas: Int) {
            self.name = name
            self.subjects = subjects
            self.maxAge = maxAge
            self.maxBytes = maxBytes
            self.replicas = replicas
        }
    }

    /// Creates the stream or brings its limits up to date. Full streams refuse new messages
    /// (discard new) rather than dropping old ones nobody has consumed yet; ingesters make room
    /// by purging what they have consumed once the stream nears its limit (``BufferIngester``),
    /// so that until then the stream keeps what it took for replay, as Kafka's retention does.
    public func ensureStream(_ settings: StreamSettings) throws(BufferError) {
        var cfg = jsStreamConfig()
        jsStreamConfig_Init(&cfg)
        let name = strdup(settings.name)
        var subjects = settings.subjects.map { UnsafePointer(strdup($0)) }
        defer {
            free(name)
            subjects.forEach { free(UnsafeMutablePointer(mutating: $0)) }
        }
        cfg.Name = UnsafePointer(name)
        cfg.SubjectsLen = Int32(subjects.count)
        cfg.MaxAge = Int64(settings.maxAge.nanoseconds)
        cfg.MaxBytes = settings.maxBytes
        cfg.Replicas = Int64(settings.replicas)
        cfg.Discard = js_DiscardNew
        cfg.Storage = js_FileStorage
        cfg.Duplicates = Int64(settings.duplicateWindow.nanoseconds)
        var code = jsErrCode(0)
        var info: UnsafeMutablePointer<jsStreamInfo>?
        let s: natsStatus = subjects.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buf.count) { p in
                cfg.Subjects = p
                var st = js_AddStream(&info, js, &cfg, nil, &code)
                if st != NATS_OK, code == JSStreamNameExistErr {
                    code = jsErrCode(0)
                    st = js_UpdateStream(&info, js, &cfg, nil, &code)
                }
                return st
            }
        }
        if let info { jsStreamInfo_Destroy(info) }
        guard s == NATS_OK else { throw BufferError("nats: stream \(settings.name)", s, code) }
    }

    /// Publishes and waits for JetStream's acknowledgement; the message id makes a repeat of the
    /// same publish (within the duplicate window) a no-op. Returns whether JetStream saw a duplicate.
    /// `headers` go with the message (the tenant of its spans).
    @discardableResult
    public func publish(
        subject: String, bytes: [UInt8], messageID: String, headers: [(String, String)] = [], timeout: Duration = .seconds(5)
    ) throws(BufferError) -> Bool {
        var opts = jsPubOptions()
        jsPubOptions_Init(&opts)
        opts.MaxWait = Int64(timeout.milliseconds)
        var ack: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(0)
        var message: OpaquePointer?
        let created = bytes.withUnsafeBytes { raw in
            natsMsg_Create(&message, subject, nil, raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(raw.count))
        }
        guard created == NATS_OK, let message else { throw BufferError("nats: a message to \(subject)", created) }
        defer { natsMsg_Destroy(message) }
        for (k, v) in headers {
            let h = natsMsgHeader_Set(message, k, v)
            guard h == NATS_OK else { throw BufferError("nats: header \(k)", h) }
        }
        let s = messageID.withCString { id in
            opts.MsgId = id
            return js_PublishMsg(&ack, js, message, &opts, &code)
        }
        defer { if let ack { jsPubAck_Destroy(ack) } }
        guard s == NATS_OK else { throw BufferError("nats: publishing to \(subject)", s, code) }
        return ack?.pointee.Duplicate ?? false
    }

    /// A durable pull consumer on one subject, created or bound to.
    public func pullSubscription(
        stream: String, subject: String, durable: String, ackWait: Duration, maxAckPending: Int
    ) throws(BufferError) -> PullSubscription {
        try subscribe(stream: stream, subject: subject, durable: durable) { c in
            c.AckPolicy = js_AckExplicit
            c.AckWait = Int64(ackWait.nanoseconds)
            c.MaxAckPending = Int64(maxAckPending)
            c.MaxDeliver = -1
        }
    }

    /// A pull subscription of a consumer `configure` sets up, on `stream` only.
    func subscribe(
        stream: String, subject: String, durable: String, configure: (inout jsConsumerConfig) -> Void
    ) throws(BufferError) -> PullSubscription {
        var subOpts = jsSubOptions()
        jsSubOptions_Init(&subOpts)
        var sub: OpaquePointer?
        var code = jsErrCode(0)
        let s = stream.withCString { streamName in
            subOpts.Stream = streamName
            configure(&subOpts.Config)
            return js_PullSubscribe(&sub, js, subject, durable, nil, &subOpts, &code)
        }
        guard s == NATS_OK, let sub else { throw BufferError("nats: consumer \(durable) on \(subject)", s, code) }
        return PullSubscription(subscription: sub, connection: self)
    }

    /// What a durable consumer still has to deliver and to have acknowledged, and the stream
    /// sequence below which it acknowledged everything.
    public func consumerLag(stream: String, durable: String) throws(BufferError) -> (pending: UInt64, ackPending: Int64, ackFloor: UInt64) {
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(0)
        let s = js_GetConsumerInfo(&info, js, stream, durable, nil, &code)
        defer { if let info { jsConsumerInfo_Destroy(info) } }
        guard s == NATS_OK, let info else { throw BufferError("nats: consumer \(durable)", s, code) }
        return (info.pointee.NumPending, info.pointee.NumAckPending, info.pointee.AckFloor.Stream)
    }

    /// Removes the messages of `subject` below stream sequence `below`.
    public func purge(stream: String, subject: String, below: UInt64) throws(BufferError) {
        var opts = jsOptions()
        jsOptions_Init(&opts)
        var code = jsErrCode(0)
        let s = subject.withCString { subj in
            opts.Stream.Purge.Subject = subj
            opts.Stream.Purge.Sequence = below
            return js_PurgeStream(js, stream, &opts, &code)
        }
        guard s == NATS_OK else { throw BufferError("nats: purging \(subject)", s, code) }
    }

    /// A consumer for reading the stream again from `since` (ns since the epoch), without
    /// acknowledgements; deleted with `deleteConsumer` when done.
    public func replaySubscription(stream: String, durable: String, since: Int64) throws(BufferError) -> PullSubscription {
        try subscribe(stream: stream, subject: ">", durable: durable) { c in
            c.AckPolicy = js_AckNone
            c.DeliverPolicy = js_DeliverByStartTime
            c.OptStartTime = since
            c.InactiveThreshold = 300_000_000_000
        }
    }

    public func deleteConsumer(stream: String, durable: String) {
        var code = jsErrCode(0)
        _ = js_DeleteConsumer(js, stream, durable, nil, &code)
    }

    /// Messages the stream holds and their bytes.
    public func streamState(_ stream: String) throws(BufferError) -> (messages: UInt64, bytes: UInt64, lastSequence: UInt64) {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let s = js_GetStreamInfo(&info, js, stream, nil, &code)
        defer { if let info { jsStreamInfo_Destroy(info) } }
        guard s == NATS_OK, let info else { throw BufferError("nats: stream \(stream)", s, code) }
        return (info.pointee.State.Msgs, info.pointee.State.Bytes, info.pointee.State.LastSeq)
    }

    /// A key-value bucket whose entries expire `ttl` after their last write (leases).
    public func keyValue(bucket: String, ttl: Duration, replicas: Int) throws(BufferError) -> KeyValueBucket {
        var cfg = kvConfig()
        kvConfig_Init(&cfg)
        var kv: OpaquePointer?
        var created = NATS_OK
        let s = bucket.withCString { name in
            cfg.Bucket = name
            cfg.History = 1
            cfg.TTL = ttl.nanoseconds  // libnats takes nanoseconds here
            cfg.Replicas = Int32(replicas)
            created = js_CreateKeyValue(&kv, js, &cfg)
            return created == NATS_OK ? created : js_KeyValue(&kv, js, name)
        }
        guard s == NATS_OK, let kv else { throw BufferError("nats: key-value bucket \(bucket)", created) }
        return KeyValueBucket(kv: kv, connection: self)
    }
}

/// A libnats object, kept with the connection it belongs to (which must outlive it) and
/// destroyed with it.
public class NATSHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let connection: JetStreamConnection
    private let destroy: (OpaquePointer) -> Void

    init(_ pointer: OpaquePointer, connection: JetStreamConnection, destroy: @escaping (OpaquePointer) -> Void) {
        self.pointer = pointer
        self.connection = connection
        self.destroy = destroy
    }

    deinit { destroy(pointer) }
}

/// A pull subscription; one task fetches from it at a time (libnats subscriptions are not for
/// concurrent fetches).
public final class PullSubscription: NATSHandle, @unchecked Sendable {
    var subscription: OpaquePointer { pointer }

    init(subscription: OpaquePointer, connection: JetStreamConnection) {
        super.init(subscription, connection: connection, destroy: { natsSubscription_Destroy($0) })
    }

    /// Up to `max` messages, waiting at most `timeout` for the first; none when the time passed.
    public func fetch(max: Int, timeout: Duration) throws(BufferError) -> [BufferMessage] {
        var list = natsMsgList()
        var code = jsErrCode(0)
        let s = natsSubscription_Fetch(&list, subscription, Int32(max), Int64(timeout.milliseconds), &code)
        if s == NATS_TIMEOUT { return [] }
        guard s == NATS_OK else { throw BufferError("nats: fetching", s, code) }
        var out = [BufferMessage]()
        out.reserveCapacity(Int(list.Count))
        for i in 0..<Int(list.Count) {
            if let m = list.Msgs[i] { out.append(BufferMessage(message: m)) }
            list.Msgs[i] = nil
        }
        natsMsgList_Destroy(&list)
        return out
    }

    /// Stops fetching without deleting the durable consumer (its position stays on the server).
    public func unsubscribe() { natsSubscription_Drain(subscription) }
}

/// One fetched message, to acknowledge once what it carries is safe.
public final class BufferMessage: @unchecked Sendable {
    let message: OpaquePointer

    init(message: OpaquePointer) { self.message = message }

    deinit { natsMsg_Destroy(message) }

    public var bytes: [UInt8] {
        let n = Int(natsMsg_GetDataLength(message))
        guard n > 0, let p = natsMsg_GetData(message) else { return [] }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) }
    }

    /// Its payload's length in bytes.
    public var size: Int { Int(natsMsg_GetDataLength(message)) }

    /// Times JetStream has delivered it (1 the first time).
    public var deliveries: UInt64 {
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        guard natsMsg_GetMetaData(&meta, message) == NATS_OK, let meta else { return 1 }
        defer { jsMsgMetaData_Destroy(meta) }
        return meta.pointee.NumDelivered
    }

    /// Its place in the stream and the subject it was published to.
    public var streamSequence: UInt64 {
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        guard natsMsg_GetMetaData(&meta, message) == NATS_OK, let meta else { return 0 }
        defer { jsMsgMetaData_Destroy(meta) }
        return meta.pointee.Sequence.Stream
    }

    public var subject: String { String(cString: natsMsg_GetSubject(message)) }

    /// The tenant header it carries, to publish again with it.
    public var tenantHeaders: [(String, String)] {
        header(BufferPublisher.tenantHeader).map { [(BufferPublisher.tenantHeader, $0)] } ?? []
    }

    /// A header's value, nil when the message has none.
    public func header(_ key: String) -> String? {
        var value: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(message, key, &value) == NATS_OK, let value else { return nil }
        return String(cString: value)
    }

    /// When it was stored in the stream, ns since the epoch.
    public var storedAt: Int64 { natsMsg_GetTime(message) }

    /// Acknowledged (not waiting for the server's confirmation: an acknowledgement lost on the
    /// way only brings a redelivery, which the idempotent store absorbs).
    public func ack() throws(BufferError) {
        let s = natsMsg_Ack(message, nil)
        guard s == NATS_OK else { throw BufferError("nats: acknowledging", s) }
    }

    /// Asks for a redelivery after `delay`.
    public func nak(delay: Duration) { _ = natsMsg_NakWithDelay(message, Int64(delay.milliseconds), nil) }

    /// Never to be delivered again (a message that can never be decoded).
    public func term() { _ = natsMsg_Term(message, nil) }
}

/// A key-value bucket with compare-and-set writes, for leases.
public final class KeyValueBucket: NATSHandle, @unchecked Sendable {
    var kv: OpaquePointer { pointer }

    init(kv: OpaquePointer, connection: JetStreamConnection) {
        super.init(kv, connection: connection, destroy: { kvStore_Destroy($0) })
    }

    /// Writes `value` only if the key has no live value; the new revision, or nil when it had one.
    public func create(_ key: String, _ value: String) throws(BufferError) -> UInt64? {
        var rev: UInt64 = 0
        let s = kvStore_CreateString(&rev, kv, key, value)
        if s == NATS_OK { return rev }
        if s == NATS_ERR { return nil }  // wrong last sequence: somebody holds it
        throw BufferError("nats: creating \(key)", s)
    }

    /// Writes `value` only if the key is still at revision `last`; nil when it moved on.
    public func update(_ key: String, _ value: String, last: UInt64) throws(BufferError) -> UInt64? {
        var rev: UInt64 = 0
        let s = kvStore_UpdateString(&rev, kv, key, value, last)
        if s == NATS_OK { return rev }
        if s == NATS_ERR { return nil }
        throw BufferError("nats: updating \(key)", s)
    }

    /// The key's live value and revision, or nil.
    public func get(_ key: String) throws(BufferError) -> (value: String, revision: UInt64)? {
        var entry: OpaquePointer?
        let s = kvStore_Get(&entry, kv, key)
        if s == NATS_NOT_FOUND { return nil }
        guard s == NATS_OK, let entry else { throw BufferError("nats: reading \(key)", s) }
        defer { kvEntry_Destroy(entry) }
        return (String(cString: kvEntry_ValueString(entry)), kvEntry_Revision(entry))
    }

    public func delete(_ key: String) { _ = kvStore_Delete(kv, key) }

    public func put(_ key: String, _ value: String) throws(BufferError) {
        var rev: UInt64 = 0
        let s = kvStore_PutString(&rev, kv, key, value)
        guard s == NATS_OK else { throw BufferError("nats: writing \(key)", s) }
    }

    /// The keys with a live value.
    public func keys() throws(BufferError) -> [String] {
        var list = kvKeysList()
        let s = kvStore_Keys(&list, kv, nil)
        if s == NATS_NOT_FOUND { return [] }
        guard s == NATS_OK else { throw BufferError("nats: listing keys", s) }
        defer { kvKeysList_Destroy(&list) }
        return (0..<Int(list.Count)).compactMap { list.Keys[$0].map { String(cString: $0) } }
    }
}
