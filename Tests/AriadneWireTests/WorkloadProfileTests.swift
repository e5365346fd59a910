import AriadneModel
import AriadneWire
import AriadneWorkload
import Testing

/// The realistic profile is what benchmarks measure: its values must vary as real ones do.
@Suite struct WorkloadProfileTests {
    @Test func realisticTracesVaryAsRealOnesDo() {
        var w = Workload(seed: 5, profile: .realistic)
        let batch = w.batch(spans: 20_000, start: 1_700_000_000_000_000_000)
        var perTrace = [TraceID: Int]()
        for id in batch.traceIDs { perTrace[id, default: 0] += 1 }
        let sizes = perTrace.values
        #expect(sizes.min()! >= 6 && sizes.max()! <= 18, "spans per trace \(sizes.min()!)…\(sizes.max()!)")
        let mean = Double(batch.count) / Double(perTrace.count)
        #expect((8...14).contains(mean), "mean spans per trace \(mean)")
        // Distinct values per key over the batch: ids per span, users out of 200,000, hosts per pod.
        var distinct = [String: Set<String>]()
        for i in 0..<batch.count {
            for kv in batch.keyValues(batch.spanAttributes, batch.attributeRanges[i]) { distinct[kv.key, default: []].insert("\(kv.value)") }
        }
        #expect(distinct["request.id"]!.count >= batch.count * 9 / 10, "a fresh request id on nearly every span")
        #expect(distinct["user.id"]!.count > perTrace.count / 2)
        #expect(distinct["session.id"]!.count == perTrace.count)
        #expect(distinct["db.query.text"]!.count > 1000)
        let hosts = Set(
            (0..<batch.resources.count).map { r in
                batch.keyValues(batch.attributes, batch.resources[r].attributes).first { $0.key == "host.name" }.map { "\($0.value)" } ?? ""
            })
        #expect(hosts.count > 100, "pods: \(hosts.count)")
        let attributes = Double(batch.attributeRanges.reduce(0) { $0 + $1.indices.count }) / Double(batch.count)
        #expect((6...12).contains(attributes), "attributes per span \(attributes)")
        let bytes = Double(OTLPProtobuf.encodeExportRequest(batch).count) / Double(batch.count)
        #expect((250...600).contains(bytes), "\(bytes) B/span as OTLP protobuf")
        // Durations are lognormal: the slowest server span is far above the median.
        let servers = (0..<batch.count).filter { batch.kinds[$0] == .server }.map { batch.duration(ofSpan: $0) }.sorted()
        #expect(Double(servers[servers.count * 99 / 100]) > 4 * Double(servers[servers.count / 2]))
    }
}
