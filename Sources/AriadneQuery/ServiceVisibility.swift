public import AriadneModel
public import AriadneStorage

/// The services a reader may see: those of their teams (names, or patterns with `*`). Spans of
/// other services in a trace they may see are shown opaque (``opaque(_:)``), and no search can
/// match on them.
public struct ServiceVisibility: Sendable, Equatable {
    /// Service names, or patterns where `*` stands for any run of characters.
    public let patterns: [String]

    public init(patterns: [String]) {
        self.patterns = patterns
    }

    /// Whether `service` is one the reader may see.
    public func allows(_ service: String) -> Bool {
        patterns.contains { Self.glob($0, matches: service) }
    }

    /// `*` matches any run of characters, everything else itself (the classic two-pointer
    /// match, backtracking only to the last `*`).
    static func glob(_ pattern: String, matches s: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(s.utf8)
        var i = 0, j = 0
        var star: Int?, mark = 0
        while j < t.count {
            if i < p.count, p[i] != UInt8(ascii: "*"), p[i] == t[j] {
                i += 1
                j += 1
            } else if i < p.count, p[i] == UInt8(ascii: "*") {
                star = i
                mark = j
                i += 1
            } else if let st = star {
                i = st + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count, p[i] == UInt8(ascii: "*") { i += 1 }
        return i == p.count
    }

    /// A span condition true only for the visible services: what every search is narrowed by,
    /// so that one span must be of a visible service and meet every other condition.
    public var filter: SpanFilter {
        .or(
            patterns.map { p in
                p.contains("*")
                    ? .compare(
                        .service, .regex,
                        .string("^" + p.split(separator: "*", omittingEmptySubsequences: false).map(Self.escape).joined(separator: ".*") + "$"))
                    : .compare(.service, .eq, .string(p))
            })
    }

    static func escape(_ s: Substring) -> String {
        var out = ""
        for c in s {
            if "\\^$.|?*+()[]{}".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// `query` narrowed to the visible services; nil when it names a service that is not.
    public func restrict(_ query: TraceQuery) -> TraceQuery? {
        if let s = query.service, !allows(s) { return nil }
        var q = query
        q.filter = q.filter.map { .and([$0, filter]) } ?? filter
        return q
    }

    /// The trace as this reader may see it: spans of other services keep their service, name,
    /// kind, timing and status code, and lose attributes, events, links, resource attributes, scope
    /// and status message.
    public func opaque(_ trace: SpanBatch) -> SpanBatch {
        guard (0..<trace.count).contains(where: { !allows(trace.serviceName(ofSpan: $0)) }) else { return trace }
        var out = SpanBatch()
        for i in 0..<trace.count {
            var span = trace.span(at: i)
            if !allows(span.serviceName) {
                span = Span(
                    traceID: span.traceID, spanID: span.spanID, parentSpanID: span.parentSpanID, name: span.name, kind: span.kind,
                    startTime: span.startTime, endTime: span.endTime, statusCode: span.statusCode, flags: span.flags,
                    resource: OwnedResource(service: span.serviceName))
            }
            out.append(span)
        }
        return out
    }
}

extension Optional where Wrapped == ServiceVisibility {
    /// Whether `service` is shown: every service without a visibility (nil).
    public func shows(_ service: String) -> Bool { self?.allows(service) ?? true }
}
