/// A value that gives its own hash: ids that are random already, or a few integers that a
/// multiply spreads well enough. Not seeded: only for tables that live for one batch.
public protocol CheaplyHashed: Equatable {
    var cheapHash: UInt64 { get }
}

/// Numbers distinct values in order of first sight through an open-addressed table on their
/// ``CheaplyHashed/cheapHash``: for lookups per span, where Swift's seeded hashing of a
/// `Set` or `Dictionary` key cost more than the work the lookup served.
public struct FirstSightIndex<Key: CheaplyHashed> {
    @usableFromInline var storage = [Key]()
    @usableFromInline var slots: [Int32]

    /// The distinct values, in order of first sight: value `n` has number `n`.
    public var keys: [Key] { storage }

    /// An index that grows past `capacity` values by doubling.
    public init(capacity: Int = 32) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        slots = [Int32](repeating: -1, count: size)
    }

    public var count: Int { storage.count }

    /// The slot of `key` in a table of `mask + 1` slots: the top bits of a multiply, which every
    /// bit of the hash reaches (the low bits of a product see only the hash's low bits, and keys
    /// of a few small integers differ in their high ones).
    @inlinable
    static func slot(_ key: Key, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key.cheapHash &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - mask.nonzeroBitCount))
    }

    /// The number of `key`, or nil when it has none.
    @inlinable
    public func number(of key: Key) -> Int? {
        let mask = slots.count - 1
        var s = Self.slot(key, mask)
        while slots[s] >= 0 {
            let n = Int(slots[s])
            if storage[n] == key { return n }
            s = (s + 1) & mask
        }
        return nil
    }

    /// The number of `key`, given it when new (`new` then true).
    @inlinable
    public mutating func insert(_ key: Key) -> (number: Int, new: Bool) { insert(key) { _ in true } }

    /// As ``insert(_:)``, for keys whose `==` is not all of their sameness (keys that refer to
    /// bytes elsewhere): a key equal to `key` is the same where `same` says so of it too.
    @inlinable
    public mutating func insert(_ key: Key, same: (Key) -> Bool) -> (number: Int, new: Bool) {
        let mask = slots.count - 1
        var s = Self.slot(key, mask)
        while slots[s] >= 0 {
            let n = Int(slots[s])
            if storage[n] == key, same(storage[n]) { return (n, false) }
            s = (s + 1) & mask
        }
        slots[s] = Int32(storage.count)
        storage.append(key)
        if storage.count * 2 > slots.count { grow() }
        return (storage.count - 1, true)
    }

    @usableFromInline
    mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        let mask = slots.count - 1
        for (n, key) in storage.enumerated() {
            var s = Self.slot(key, mask)
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(n)
        }
    }
}
