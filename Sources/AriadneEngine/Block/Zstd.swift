internal import CZstd

/// zstd through the system libzstd (Debian libzstd-dev).
enum Zstd {
    static func compress(_ input: [UInt8], level: Int32 = 3) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { o in
            input.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, bound, i.baseAddress, i.count, level) }
        }
        precondition(ZSTD_isError(n) == 0, "zstd compression cannot fail with a bound-sized buffer")
        out.removeSubrange(n...)
        return out
    }

    /// Decompresses a frame whose content size is recorded in its header, refusing frames that
    /// claim more than `limit` bytes.
    static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(EngineError) -> [UInt8] {
        let size = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(limit) else {
            throw EngineError("invalid zstd frame")
        }
        // Uninitialised: zeroing a chunk first cost as much as a fifth of a search.
        var failed = false
        let out = [UInt8](unsafeUninitializedCapacity: Int(size)) { buf, initialized in
            let n = ZSTD_decompress(buf.baseAddress, buf.count, input.baseAddress, input.count)
            if ZSTD_isError(n) != 0 || n != Int(size) {
                failed = true
                initialized = 0
            } else {
                initialized = n
            }
        }
        guard !failed else { throw EngineError("corrupt zstd frame") }
        return out
    }
}
