extension Array where Element == UInt64 {
    /// The nearest-rank q-quantile of sorted values: the smallest value with at least a fraction
    /// `q` of the values at or below it; 0 when there are none.
    public func nearestRank(_ q: Double) -> UInt64 {
        guard !isEmpty else { return 0 }
        return self[Swift.max(0, Swift.min(count - 1, Int((Double(count) * q).rounded(.up)) - 1))]
    }
}
