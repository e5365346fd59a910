public import AriadneModel

/// Span-level validation applied by every receiver before spans enter the pipeline.
///
/// Invalid spans are refused one by one (OTLP partial success) and the rest go on:
/// - the trace id must be 16 bytes and not all zero (W3C Trace Context),
/// - the span id must be 8 bytes and not all zero,
/// - the end time must not precede the start time.
public enum SpanValidation {
    /// Returns a reason for each invalid span, keyed by index, merged with the decoder's findings.
    public static func problems(in batch: SpanBatch, decoderFindings: [(index: Int, reason: String)]) -> [Int: String] {
        var problems = [Int: String]()
        for f in decoderFindings { problems[f.index] = "span \(f.index): \(f.reason)" }
        for i in 0..<batch.count where problems[i] == nil {
            if !batch.traceIDs[i].isValid {
                problems[i] = "span \(i): trace id must be 16 bytes and not all zero"
            } else if !batch.spanIDs[i].isValid {
                problems[i] = "span \(i): span id must be 8 bytes and not all zero"
            } else if batch.endTimes[i] < batch.startTimes[i] {
                problems[i] = "span \(i): end time precedes start time"
            }
        }
        return problems
    }

    /// Splits `batch` into the valid spans and a summary of the refused ones.
    public static func partition(
        _ batch: SpanBatch, decoderFindings: [(index: Int, reason: String)]
    ) -> (valid: SpanBatch, rejected: Int, message: String) {
        let problems = problems(in: batch, decoderFindings: decoderFindings)
        if problems.isEmpty { return (batch, 0, "") }
        let keep = (0..<batch.count).filter { problems[$0] == nil }
        let first = problems.keys.sorted().prefix(3).map { problems[$0]! }
        let more = problems.count > 3 ? " (and \(problems.count - 3) more)" : ""
        return (batch.selecting(keep), problems.count, first.joined(separator: "; ") + more)
    }
}
