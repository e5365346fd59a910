import AriadneModel
import Testing

@testable import AriadneAnalysis

/// The expiry bound of the service-graph metrics picks the newest halves by a selection, not a
/// sort: it must pick the same time a sort would.
@Suite struct ServiceGraphExpiryTests {
    @Test(arguments: [1, 2, 7, 1000, 20_000])
    func nthSmallestIsWhatSortingGives(_ n: Int) {
        var rng = SplitMix64(seed: UInt64(n))
        // Runs of equal times, as batches arrive, and distinct ones.
        for distinct in [1, 3, n] {
            let values = (0..<n).map { _ in rng.next() % UInt64(max(distinct, 1)) }
            let sorted = values.sorted()
            for k in Set([0, n / 2, n - 1, Int(rng.next() % UInt64(n))]) {
                var scratch = values
                #expect(ServiceGraphMetrics.nthSmallest(&scratch, k) == sorted[k])
            }
        }
    }
}
