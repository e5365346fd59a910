/// A batch of spans stored as a struct of arrays: one array per span field, every string and
/// byte value in one arena, attributes/events/links in pools referenced by range.
///
/// This is the currency between pipeline stages. Decoding a request fills these arrays without a
/// heap object per span; a stage that keeps a batch keeps a handful of arrays.
///
/// Pools: span attributes live in ``spanAttributes``; the attributes of resources, scopes,
/// events and links live in ``attributes`` (each of those is decoded as one self-contained
/// message, so its run is contiguous). Elements of array values and entries of key-value list
/// values live in ``arrayValues`` and ``kvlistEntries``.
///
/// A batch is a value: copies share storage until written (copy-on-write arrays).
public struct SpanBatch: Sendable {
    // MARK: storage shared by everything in the batch
    public var arena: [UInt8] = []
    public var spanAttributes: [Attribute] = []
    public var attributes: [Attribute] = []
    public var arrayValues: [Value] = []
    public var kvlistEntries: [Attribute] = []
    public var events: [Event] = []
    public var links: [Link] = []
    public var resources: [Resource] = []
    public var scopes: [Scope] = []

    // MARK: one entry per span
    public var traceIDs: [TraceID] = []
    public var spanIDs: [SpanID] = []
    public var parentSpanIDs: [SpanID] = []
    public var traceStates: [StrRef] = []
    public var names: [StrRef] = []
    public var kinds: [SpanKind] = []
    public var startTimes: [UInt64] = []
    public var endTimes: [UInt64] = []
    public var flags: [UInt32] = []
    public var statusCodes: [StatusCode] = []
    public var statusMessages: [StrRef] = []
    public var attributeRanges: [PoolRange] = []
    public var droppedAttributesCounts: [UInt32] = []
    public var eventRanges: [PoolRange] = []
    public var droppedEventsCounts: [UInt32] = []
    public var linkRanges: [PoolRange] = []
    public var droppedLinksCounts: [UInt32] = []
    /// Index into ``scopes``; the scope names its resource.
    public var scopeIndices: [UInt32] = []

    public init() {}

    /// The number of spans.
    @inlinable
    public var count: Int { traceIDs.count }

    /// Makes room for `n` more spans in every per-span column.
    public mutating func reserveCapacity(spans n: Int) {
        traceIDs.reserveCapacity(count + n)
        spanIDs.reserveCapacity(count + n)
        parentSpanIDs.reserveCapacity(count + n)
        traceStates.reserveCapacity(count + n)
        names.reserveCapacity(count + n)
        kinds.reserveCapacity(count + n)
        startTimes.reserveCapacity(count + n)
        endTimes.reserveCapacity(count + n)
        flags.reserveCapacity(count + n)
        statusCodes.reserveCapacity(count + n)
        statusMessages.reserveCapacity(count + n)
        attributeRanges.reserveCapacity(count + n)
        droppedAttributesCounts.reserveCapacity(count + n)
        eventRanges.reserveCapacity(count + n)
        droppedEventsCounts.reserveCapacity(count + n)
        linkRanges.reserveCapacity(count + n)
        droppedLinksCounts.reserveCapacity(count + n)
        scopeIndices.reserveCapacity(count + n)
    }

    /// Empties the batch, keeping the arrays' storage for reuse.
    public mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        spanAttributes.removeAll(keepingCapacity: true)
        attributes.removeAll(keepingCapacity: true)
        arrayValues.removeAll(keepingCapacity: true)
        kvlistEntries.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
        links.removeAll(keepingCapacity: true)
        resources.removeAll(keepingCapacity: true)
        scopes.removeAll(keepingCapacity: true)
        traceIDs.removeAll(keepingCapacity: true)
        spanIDs.removeAll(keepingCapacity: true)
        parentSpanIDs.removeAll(keepingCapacity: true)
        traceStates.removeAll(keepingCapacity: true)
        names.removeAll(keepingCapacity: true)
        kinds.removeAll(keepingCapacity: true)
        startTimes.removeAll(keepingCapacity: true)
        endTimes.removeAll(keepingCapacity: true)
        flags.removeAll(keepingCapacity: true)
        statusCodes.removeAll(keepingCapacity: true)
        statusMessages.removeAll(keepingCapacity: true)
        attributeRanges.removeAll(keepingCapacity: true)
        droppedAttributesCounts.removeAll(keepingCapacity: true)
        eventRanges.removeAll(keepingCapacity: true)
        droppedEventsCounts.removeAll(keepingCapacity: true)
        linkRanges.removeAll(keepingCapacity: true)
        droppedLinksCounts.removeAll(keepingCapacity: true)
        scopeIndices.removeAll(keepingCapacity: true)
    }

    @inlinable
    public var isEmpty: Bool { traceIDs.isEmpty }

    /// An event inside a batch.
    public struct Event: Hashable, Sendable {
        public var time: UInt64
        public var name: StrRef
        public var attributes: PoolRange
        public var droppedAttributesCount: UInt32

        public init(time: UInt64, name: StrRef, attributes: PoolRange, droppedAttributesCount: UInt32) {
            self.time = time
            self.name = name
            self.attributes = attributes
            self.droppedAttributesCount = droppedAttributesCount
        }
    }

    /// A link inside a batch.
    public struct Link: Hashable, Sendable {
        public var traceID: TraceID
        public var spanID: SpanID
        public var traceState: StrRef
        public var attributes: PoolRange
        public var droppedAttributesCount: UInt32
        public var flags: UInt32

        public init(
            traceID: TraceID, spanID: SpanID, traceState: StrRef, attributes: PoolRange,
            droppedAttributesCount: UInt32, flags: UInt32
        ) {
            self.traceID = traceID
            self.spanID = spanID
            self.traceState = traceState
            self.attributes = attributes
            self.droppedAttributesCount = droppedAttributesCount
            self.flags = flags
        }
    }

    /// A resource inside a batch. `serviceName` is the `service.name` attribute, found once at
    /// decode time because every query needs it.
    public struct Resource: Hashable, Sendable {
        public var attributes: PoolRange
        public var droppedAttributesCount: UInt32
        public var schemaURL: StrRef
        public var serviceName: StrRef

        public init(attributes: PoolRange, droppedAttributesCount: UInt32, schemaURL: StrRef, serviceName: StrRef) {
            self.attributes = attributes
            self.droppedAttributesCount = droppedAttributesCount
            self.schemaURL = schemaURL
            self.serviceName = serviceName
        }
    }

    /// An instrumentation scope inside a batch, with the resource its spans came from.
    public struct Scope: Hashable, Sendable {
        public var resource: UInt32
        public var name: StrRef
        public var version: StrRef
        public var attributes: PoolRange
        public var droppedAttributesCount: UInt32
        public var schemaURL: StrRef

        public init(
            resource: UInt32, name: StrRef, version: StrRef, attributes: PoolRange, droppedAttributesCount: UInt32,
            schemaURL: StrRef
        ) {
            self.resource = resource
            self.name = name
            self.version = version
            self.attributes = attributes
            self.droppedAttributesCount = droppedAttributesCount
            self.schemaURL = schemaURL
        }
    }
}

// MARK: - Reading

extension SpanBatch {
    /// The name used when a resource has no `service.name`, as the OTel SDKs and Jaeger do.
    public static let unknownService = "unknown_service"

    /// The string a reference points at.
    @inlinable
    public func string(_ ref: StrRef) -> String {
        if ref.count == 0 { return "" }
        return arena.withUnsafeBufferPointer { buf in
            String(decoding: UnsafeBufferPointer(rebasing: buf[Int(ref.offset)..<Int(ref.offset + ref.count)]), as: UTF8.self)
        }
    }

    /// The bytes a reference points at.
    public func bytes(_ ref: StrRef) -> [UInt8] {
        Array(arena[Int(ref.offset)..<Int(ref.offset + ref.count)])
    }

    /// Calls `body` with the raw bytes of a reference, without copying.
    @inlinable
    public func withBytes<R>(_ ref: StrRef, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try arena.withUnsafeBytes { buf in
            try body(UnsafeRawBufferPointer(rebasing: buf[Int(ref.offset)..<Int(ref.offset + ref.count)]))
        }
    }

    /// Whether the referenced string equals `s`, without allocating.
    @inlinable
    public func equals(_ ref: StrRef, _ s: String) -> Bool {
        var s = s
        return s.withUTF8 { other in
            guard other.count == Int(ref.count) else { return false }
            return withBytes(ref) { mine in
                mine.elementsEqual(UnsafeRawBufferPointer(other))
            }
        }
    }

    /// The owned form of a value in this batch.
    public func attributeValue(_ value: Value) -> AttributeValue {
        switch value {
        case .empty: return .empty
        case .string(let r): return .string(string(r))
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bytes(let r): return .bytes(bytes(r))
        case .array(let range): return .array(arrayValues[range.indices].map { attributeValue($0) })
        case .kvlist(let range): return .kvlist(keyValues(kvlistEntries, range))
        }
    }

    /// The owned key-values of a range of a pool.
    public func keyValues(_ pool: [Attribute], _ range: PoolRange) -> [KeyValue] {
        pool[range.indices].map { KeyValue(string($0.key), attributeValue($0.value)) }
    }

    /// The service name of span `i`.
    public func serviceName(ofSpan i: Int) -> String {
        serviceName(ofResource: Int(scopes[Int(scopeIndices[i])].resource))
    }

    /// The service name of every scope, indexed like ``scopes``: one string per scope, so that
    /// per-span loops look services up by `scopeIndices[i]` without building a string per span.
    public func serviceNamesByScope() -> [String] {
        let services = serviceNumbers()
        return services.ofScope.map { services.names[Int($0)] }
    }

    /// The batch's distinct services, and each scope's number among them. A string is made per
    /// service, not per resource: a batch from many pods holds a resource (and scope) per pod.
    public func serviceNumbers() -> (names: [String], ofScope: [Int32]) {
        var index = FirstSightIndex<BytesKey>(capacity: 16)
        var names = [String]()
        var ofResource = [Int32]()
        ofResource.reserveCapacity(resources.count)
        for r in resources.indices {
            let ref = resources[r].serviceName
            let (n, new) = index.insert(BytesKey(self, ref)) { equalBytes($0.ref, ref) }
            if new { names.append(serviceName(ofResource: r)) }
            ofResource.append(Int32(n))
        }
        return (names, scopes.map { ofResource[Int($0.resource)] })
    }

    /// Each span's operation — (service, kind, name), numbered in order of first sight — and
    /// the first span of each: per-operation work then makes strings per operation, not per span.
    public func operationNumbers(services ofScope: [Int32]) -> (ofSpan: [Int32], firstSpans: [Int]) {
        struct Operation: CheaplyHashed {
            var service: Int32
            var kind: Int32
            var name: BytesKey
            var cheapHash: UInt64 { name.cheapHash ^ (UInt64(UInt32(bitPattern: service)) << 32 | UInt64(UInt32(bitPattern: kind))) }
        }
        var index = FirstSightIndex<Operation>(capacity: 64)
        var ofSpan = [Int32]()
        ofSpan.reserveCapacity(count)
        var firstSpans = [Int]()
        for i in 0..<count {
            let name = names[i]
            let op = Operation(service: ofScope[Int(scopeIndices[i])], kind: kinds[i].rawValue, name: BytesKey(self, name))
            let (n, new) = index.insert(op) { equalBytes($0.name.ref, name) }
            if new { firstSpans.append(i) }
            ofSpan.append(Int32(n))
        }
        return (ofSpan, firstSpans)
    }

    /// Whether two references hold the same bytes.
    public func equalBytes(_ a: StrRef, _ b: StrRef) -> Bool {
        guard a.count == b.count else { return false }
        if a.offset == b.offset || a.count == 0 { return true }
        return withBytes(a) { pa in withBytes(b) { pb in pa.elementsEqual(pb) } }
    }

    public func serviceName(ofResource r: Int) -> String {
        let ref = resources[r].serviceName
        return ref.count == 0 ? SpanBatch.unknownService : string(ref)
    }

    /// Span `i` in its owned form, with its resource and scope.
    public func span(at i: Int) -> Span {
        let scope = scopes[Int(scopeIndices[i])]
        return Span(
            traceID: traceIDs[i],
            spanID: spanIDs[i],
            parentSpanID: parentSpanIDs[i],
            traceState: string(traceStates[i]),
            name: string(names[i]),
            kind: kinds[i],
            startTime: startTimes[i],
            endTime: endTimes[i],
            attributes: keyValues(spanAttributes, attributeRanges[i]),
            droppedAttributesCount: droppedAttributesCounts[i],
            events: events[eventRanges[i].indices].map {
                Span.Event(
                    time: $0.time, name: string($0.name), attributes: keyValues(attributes, $0.attributes),
                    droppedAttributesCount: $0.droppedAttributesCount)
            },
            droppedEventsCount: droppedEventsCounts[i],
            links: links[linkRanges[i].indices].map {
                Span.Link(
                    traceID: $0.traceID, spanID: $0.spanID, traceState: string($0.traceState),
                    attributes: keyValues(attributes, $0.attributes), droppedAttributesCount: $0.droppedAttributesCount,
                    flags: $0.flags)
            },
            droppedLinksCount: droppedLinksCounts[i],
            statusCode: statusCodes[i],
            statusMessage: string(statusMessages[i]),
            flags: flags[i],
            resource: ownedResource(Int(scope.resource)),
            scope: ownedScope(Int(scopeIndices[i]))
        )
    }

    public func ownedResource(_ r: Int) -> OwnedResource {
        let res = resources[r]
        return OwnedResource(
            attributes: keyValues(attributes, res.attributes), droppedAttributesCount: res.droppedAttributesCount,
            schemaURL: string(res.schemaURL))
    }

    public func ownedScope(_ s: Int) -> OwnedScope {
        let scope = scopes[s]
        return OwnedScope(
            name: string(scope.name), version: string(scope.version), attributes: keyValues(attributes, scope.attributes),
            droppedAttributesCount: scope.droppedAttributesCount, schemaURL: string(scope.schemaURL))
    }

    /// Duration of span `i` in nanoseconds (zero if the end precedes the start).
    @inlinable
    public func duration(ofSpan i: Int) -> UInt64 {
        endTimes[i] >= startTimes[i] ? endTimes[i] - startTimes[i] : 0
    }

    /// Gives back the spare capacity of the columns that grew while the batch was decoded
    /// (a column that doubled is up to half empty), for a batch kept for a while, as in a head:
    /// each column is copied once to its size.
    public mutating func shrinkToFit() {
        func fit<T>(_ column: inout [T]) {
            guard column.capacity > column.count + column.count / 8 + 16 else { return }
            var fitted = [T]()
            fitted.reserveCapacity(column.count)
            fitted.append(contentsOf: column)
            column = fitted
        }
        fit(&arena)
        fit(&spanAttributes)
        fit(&attributes)
        fit(&events)
        fit(&traceIDs)
        fit(&spanIDs)
        fit(&parentSpanIDs)
        fit(&traceStates)
        fit(&names)
        fit(&kinds)
        fit(&startTimes)
        fit(&endTimes)
        fit(&flags)
        fit(&statusCodes)
        fit(&statusMessages)
        fit(&attributeRanges)
        fit(&droppedAttributesCounts)
        fit(&eventRanges)
        fit(&droppedEventsCounts)
        fit(&linkRanges)
        fit(&droppedLinksCounts)
        fit(&scopeIndices)
    }

    /// Approximate bytes held by this batch, for memory accounting.
    public var approximateByteSize: Int {
        arena.count + (spanAttributes.count + attributes.count + kvlistEntries.count) * MemoryLayout<Attribute>.stride
            + arrayValues.count * MemoryLayout<Value>.stride + events.count * MemoryLayout<Event>.stride
            + links.count * MemoryLayout<Link>.stride + count * 160
    }
}

// MARK: - Building

extension SpanBatch {
    /// Appends raw bytes to the arena and returns their reference.
    @inlinable
    public mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) -> StrRef {
        if bytes.isEmpty { return .empty }
        let offset = UInt32(arena.count)
        arena.append(contentsOf: bytes)
        return StrRef(offset: offset, count: UInt32(bytes.count))
    }

    public mutating func intern(_ s: String) -> StrRef {
        var s = s
        return s.withUTF8 { appendBytes(UnsafeRawBufferPointer($0)) }
    }

    public mutating func appendBytes(_ bytes: [UInt8]) -> StrRef {
        bytes.withUnsafeBytes { appendBytes($0) }
    }

    /// Stores an owned value, placing nested elements in the nested pools.
    public mutating func store(_ value: AttributeValue) -> Value {
        switch value {
        case .empty: return .empty
        case .string(let s): return .string(intern(s))
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bytes(let b): return .bytes(appendBytes(b))
        case .array(let values):
            // Reserve the slots first so that nested arrays do not interleave with this one.
            let start = arrayValues.count
            arrayValues.append(contentsOf: repeatElement(.empty, count: values.count))
            for (k, v) in values.enumerated() { arrayValues[start + k] = store(v) }
            return .array(PoolRange(start: UInt32(start), count: UInt32(values.count)))
        case .kvlist(let kvs):
            let start = kvlistEntries.count
            kvlistEntries.append(contentsOf: repeatElement(Attribute(key: .empty, value: .empty), count: kvs.count))
            for (k, kv) in kvs.enumerated() {
                let key = intern(kv.key)
                kvlistEntries[start + k] = Attribute(key: key, value: store(kv.value))
            }
            return .kvlist(PoolRange(start: UInt32(start), count: UInt32(kvs.count)))
        }
    }

    /// Stores owned key-values at the end of the given pool and returns their range.
    public mutating func store(_ kvs: [KeyValue], in pool: WritableKeyPath<SpanBatch, [Attribute]>) -> PoolRange {
        // Convert first: storing a value may itself append to the nested pools, never to `pool`.
        var converted = [Attribute]()
        converted.reserveCapacity(kvs.count)
        for kv in kvs { converted.append(Attribute(key: intern(kv.key), value: store(kv.value))) }
        let start = self[keyPath: pool].count
        self[keyPath: pool].append(contentsOf: converted)
        return PoolRange(start: UInt32(start), count: UInt32(kvs.count))
    }

    /// Adds a resource and returns its index.
    @discardableResult
    public mutating func addResource(_ resource: OwnedResource) -> UInt32 {
        let range = store(resource.attributes, in: \.attributes)
        return appendResource(attributes: range, droppedAttributesCount: resource.droppedAttributesCount, schemaURL: intern(resource.schemaURL))
    }

    /// Adds a resource whose attributes are already in the shared pool at `range`, finding its
    /// `service.name` there (the last string one); returns its index.
    public mutating func appendResource(attributes range: PoolRange, droppedAttributesCount: UInt32, schemaURL: StrRef) -> UInt32 {
        var service = StrRef.empty
        for a in attributes[range.indices] where equals(a.key, "service.name") {
            if case .string(let r) = a.value { service = r }
        }
        resources.append(
            Resource(attributes: range, droppedAttributesCount: droppedAttributesCount, schemaURL: schemaURL, serviceName: service))
        return UInt32(resources.count - 1)
    }

    /// Adds a scope belonging to resource `resource` and returns its index.
    @discardableResult
    public mutating func addScope(_ scope: OwnedScope, resource: UInt32) -> UInt32 {
        let range = store(scope.attributes, in: \.attributes)
        scopes.append(
            Scope(
                resource: resource, name: intern(scope.name), version: intern(scope.version), attributes: range,
                droppedAttributesCount: scope.droppedAttributesCount, schemaURL: intern(scope.schemaURL)))
        return UInt32(scopes.count - 1)
    }

    /// Appends an owned span under scope `scope`.
    public mutating func append(_ span: Span, scope: UInt32) {
        let eventStart = events.count
        for e in span.events {
            let r = store(e.attributes, in: \.attributes)
            events.append(
                Event(time: e.time, name: intern(e.name), attributes: r, droppedAttributesCount: e.droppedAttributesCount))
        }
        let linkStart = links.count
        for l in span.links {
            let r = store(l.attributes, in: \.attributes)
            links.append(
                Link(
                    traceID: l.traceID, spanID: l.spanID, traceState: intern(l.traceState), attributes: r,
                    droppedAttributesCount: l.droppedAttributesCount, flags: l.flags))
        }
        let attrs = store(span.attributes, in: \.spanAttributes)
        traceIDs.append(span.traceID)
        spanIDs.append(span.spanID)
        parentSpanIDs.append(span.parentSpanID)
        traceStates.append(intern(span.traceState))
        names.append(intern(span.name))
        kinds.append(span.kind)
        startTimes.append(span.startTime)
        endTimes.append(span.endTime)
        flags.append(span.flags)
        statusCodes.append(span.statusCode)
        statusMessages.append(intern(span.statusMessage))
        attributeRanges.append(attrs)
        droppedAttributesCounts.append(span.droppedAttributesCount)
        eventRanges.append(PoolRange(start: UInt32(eventStart), count: UInt32(span.events.count)))
        droppedEventsCounts.append(span.droppedEventsCount)
        linkRanges.append(PoolRange(start: UInt32(linkStart), count: UInt32(span.links.count)))
        droppedLinksCounts.append(span.droppedLinksCount)
        scopeIndices.append(scope)
    }

    /// Appends an owned span with its own resource and scope, reusing the last ones when equal.
    /// Convenient for builders and for assembling traces out of several batches.
    public mutating func append(_ span: Span) {
        let scope = scopeIndex(resource: span.resource, scope: span.scope)
        append(span, scope: scope)
    }

    /// The index of a scope under a resource, reusing the most recent equal pair.
    public mutating func scopeIndex(resource: OwnedResource, scope: OwnedScope) -> UInt32 {
        if let last = scopes.indices.last, ownedScope(last) == scope,
            ownedResource(Int(scopes[last].resource)) == resource
        {
            return UInt32(last)
        }
        let r: UInt32
        if let lastR = resources.indices.last, ownedResource(lastR) == resource {
            r = UInt32(lastR)
        } else {
            r = addResource(resource)
        }
        return addScope(scope, resource: r)
    }

    /// A new batch holding only the spans at `indices`, in that order.
    public func selecting(_ indices: some Sequence<Int>) -> SpanBatch {
        var out = SpanBatch()
        out.append(from: self, indices: indices)
        return out
    }

    /// Appends every span of `other`.
    public mutating func append(contentsOf other: SpanBatch) {
        append(from: other, indices: 0..<other.count)
    }

    /// Appends the spans of `other` at `indices`, carrying their resources and scopes along
    /// (each copied once).
    public mutating func append(from other: SpanBatch, indices: some Sequence<Int>) {
        var scopeMap = [UInt32: UInt32]()
        var resourceMap = [UInt32: UInt32]()
        append(from: other, indices: indices, scopeMap: &scopeMap, resourceMap: &resourceMap)
    }

    /// Appends spans of `other`, reusing the resources and scopes already copied from it: the maps
    /// go from `other`'s indices to this batch's, and persist across calls for the same `other`.
    public mutating func append(
        from other: SpanBatch, indices: some Sequence<Int>, scopeMap: inout [UInt32: UInt32],
        resourceMap: inout [UInt32: UInt32]
    ) {
        for i in indices {
            let s = other.scopeIndices[i]
            let target: UInt32
            if let t = scopeMap[s] {
                target = t
            } else {
                let rOld = other.scopes[Int(s)].resource
                let r = resourceMap[rOld] ?? copyResource(Int(rOld), from: other)
                resourceMap[rOld] = r
                target = copyScope(Int(s), from: other, resource: r)
                scopeMap[s] = target
            }
            copySpan(i, from: other, scope: target)
        }
    }

    /// Copies resource `r` of `other` column by column, as ``copySpan(_:from:scope:)`` copies a
    /// span (no owned form in between: the cut copies every trace's resources).
    mutating func copyResource(_ r: Int, from other: SpanBatch) -> UInt32 {
        let resource = other.resources[r]
        let range = copyAttributes(other.attributes, resource.attributes, from: other, into: \.attributes)
        return appendResource(
            attributes: range, droppedAttributesCount: resource.droppedAttributesCount, schemaURL: copyRef(resource.schemaURL, from: other))
    }

    /// Copies scope `s` of `other` column by column, under resource `resource` of this batch.
    mutating func copyScope(_ s: Int, from other: SpanBatch, resource: UInt32) -> UInt32 {
        let scope = other.scopes[s]
        let range = copyAttributes(other.attributes, scope.attributes, from: other, into: \.attributes)
        scopes.append(
            Scope(
                resource: resource, name: copyRef(scope.name, from: other), version: copyRef(scope.version, from: other),
                attributes: range, droppedAttributesCount: scope.droppedAttributesCount, schemaURL: copyRef(scope.schemaURL, from: other)))
        return UInt32(scopes.count - 1)
    }

    /// Copies span `i` of `other` column by column: strings and bytes into this arena, attributes,
    /// events and links into this batch's pools, without building an owned `Span`.
    mutating func copySpan(_ i: Int, from other: SpanBatch, scope: UInt32) {
        let eventStart = events.count
        for e in other.events[other.eventRanges[i].indices] {
            let attrs = copyAttributes(other.attributes, e.attributes, from: other, into: \.attributes)
            events.append(
                Event(
                    time: e.time, name: copyRef(e.name, from: other), attributes: attrs,
                    droppedAttributesCount: e.droppedAttributesCount))
        }
        let linkStart = links.count
        for l in other.links[other.linkRanges[i].indices] {
            let attrs = copyAttributes(other.attributes, l.attributes, from: other, into: \.attributes)
            links.append(
                Link(
                    traceID: l.traceID, spanID: l.spanID, traceState: copyRef(l.traceState, from: other),
                    attributes: attrs, droppedAttributesCount: l.droppedAttributesCount, flags: l.flags))
        }
        let attrs = copyAttributes(other.spanAttributes, other.attributeRanges[i], from: other, into: \.spanAttributes)
        traceIDs.append(other.traceIDs[i])
        spanIDs.append(other.spanIDs[i])
        parentSpanIDs.append(other.parentSpanIDs[i])
        traceStates.append(copyRef(other.traceStates[i], from: other))
        names.append(copyRef(other.names[i], from: other))
        kinds.append(other.kinds[i])
        startTimes.append(other.startTimes[i])
        endTimes.append(other.endTimes[i])
        flags.append(other.flags[i])
        statusCodes.append(other.statusCodes[i])
        statusMessages.append(copyRef(other.statusMessages[i], from: other))
        attributeRanges.append(attrs)
        droppedAttributesCounts.append(other.droppedAttributesCounts[i])
        eventRanges.append(PoolRange(start: UInt32(eventStart), count: UInt32(events.count - eventStart)))
        droppedEventsCounts.append(other.droppedEventsCounts[i])
        linkRanges.append(PoolRange(start: UInt32(linkStart), count: UInt32(links.count - linkStart)))
        droppedLinksCounts.append(other.droppedLinksCounts[i])
        scopeIndices.append(scope)
    }

    mutating func copyRef(_ ref: StrRef, from other: SpanBatch) -> StrRef {
        ref.count == 0 ? .empty : other.withBytes(ref) { appendBytes($0) }
    }

    mutating func copyValue(_ v: Value, from other: SpanBatch) -> Value {
        switch v {
        case .empty, .bool, .int, .double: return v
        case .string(let r): return .string(copyRef(r, from: other))
        case .bytes(let r): return .bytes(copyRef(r, from: other))
        case .array(let range):
            // Reserve first so that nested arrays land after this one's elements.
            let start = arrayValues.count
            arrayValues.append(contentsOf: repeatElement(.empty, count: Int(range.count)))
            for (k, e) in other.arrayValues[range.indices].enumerated() { arrayValues[start + k] = copyValue(e, from: other) }
            return .array(PoolRange(start: UInt32(start), count: range.count))
        case .kvlist(let range):
            let start = kvlistEntries.count
            kvlistEntries.append(contentsOf: repeatElement(Attribute(key: .empty, value: .empty), count: Int(range.count)))
            for (k, e) in other.kvlistEntries[range.indices].enumerated() {
                let key = copyRef(e.key, from: other)
                kvlistEntries[start + k] = Attribute(key: key, value: copyValue(e.value, from: other))
            }
            return .kvlist(PoolRange(start: UInt32(start), count: range.count))
        }
    }

    /// Copies a run of attributes from one of `other`'s pools to the end of one of ours.
    mutating func copyAttributes(
        _ pool: [Attribute], _ range: PoolRange, from other: SpanBatch, into target: WritableKeyPath<SpanBatch, [Attribute]>
    ) -> PoolRange {
        // Values are copied first: they may append to the nested pools, never to `target`.
        var copied = [Attribute]()
        copied.reserveCapacity(Int(range.count))
        for a in pool[range.indices] {
            let key = copyRef(a.key, from: other)
            copied.append(Attribute(key: key, value: copyValue(a.value, from: other)))
        }
        let start = self[keyPath: target].count
        self[keyPath: target].append(contentsOf: copied)
        return PoolRange(start: UInt32(start), count: range.count)
    }
}

// MARK: - Grouping

extension SpanBatch {
    /// Span indices grouped by resource, then by scope, in first-seen order: the nesting of OTLP
    /// `ResourceSpans` / `ScopeSpans`. Resources and scopes without spans are left out.
    public func groupedByResourceAndScope() -> [(resource: Int, scopes: [(scope: Int, spans: [Int])])] {
        var spansByScope = [[Int]](repeating: [], count: scopes.count)
        for i in 0..<count { spansByScope[Int(scopeIndices[i])].append(i) }
        var scopesByResource = [[Int]](repeating: [], count: resources.count)
        for s in scopes.indices where !spansByScope[s].isEmpty {
            scopesByResource[Int(scopes[s].resource)].append(s)
        }
        return resources.indices.compactMap { r in
            scopesByResource[r].isEmpty ? nil : (r, scopesByResource[r].map { ($0, spansByScope[$0]) })
        }
    }
}

extension SpanBatch {
    /// The root of a batch holding one trace: the span whose parent is not in the batch, the
    /// earliest if a broken trace has several; nil when the batch is empty or every span's parent
    /// is in it (a cycle).
    public func rootSpan() -> Int? { rootSpan(among: 0..<count) }

    /// The root of the trace made of rows `rows`: as ``rootSpan()`` for a batch of those rows.
    public func rootSpan(among rows: some Collection<Int>) -> Int? {
        // A trace has a few spans: looking parents up among them costs less than a set.
        let ids: Set<SpanID>? = rows.count > 32 ? Set(rows.lazy.map { spanIDs[$0] }) : nil
        func isRow(_ id: SpanID) -> Bool { ids?.contains(id) ?? rows.contains { spanIDs[$0] == id } }
        var root: Int?
        for i in rows where !parentSpanIDs[i].isValid || !isRow(parentSpanIDs[i]) {
            if root.map({ startTimes[i] < startTimes[$0] }) ?? true { root = i }
        }
        return root
    }

    /// The distinct scopes of rows `rows`, in the order they first appear.
    public func scopes(of rows: some Collection<Int>) -> [Int] {
        var out = [Int]()
        for r in rows where !out.contains(Int(scopeIndices[r])) { out.append(Int(scopeIndices[r])) }
        return out
    }

    /// The distinct resources of scopes `scopes`, in the order they first appear.
    public func resources(ofScopes scopes: [Int]) -> [Int] {
        var out = [Int]()
        for s in scopes where !out.contains(Int(self.scopes[s].resource)) { out.append(Int(self.scopes[s].resource)) }
        return out
    }
}

/// Bytes of a batch by reference, with their hash: keys of a ``FirstSightIndex`` whose `==`
/// is of hash and length, the bytes being compared by the caller.
public struct BytesKey: CheaplyHashed {
    public var ref: StrRef
    public var hash: UInt64

    public init(_ batch: SpanBatch, _ ref: StrRef) {
        self.ref = ref
        hash = batch.withBytes(ref) { ByteHash.of($0) }
    }

    public var cheapHash: UInt64 { hash }

    public static func == (a: BytesKey, b: BytesKey) -> Bool { a.hash == b.hash && a.ref.count == b.ref.count }
}
