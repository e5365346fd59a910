import AriadneModel
internal import CZlib

/// gzip (and zlib) bodies through the system zlib.
public enum Gzip {
    public enum Failure: Error, Equatable, Sendable {
        /// The decompressed body would exceed the limit: a 413, and how gzip bombs are stopped.
        case tooLarge(limit: Int)
        case malformed(String)
    }

    /// Inflates a gzip or zlib stream, refusing to produce more than `limit` bytes.
    public static func decompress(_ input: UnsafeRawBufferPointer, limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 32: detect gzip or zlib headers automatically.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .malformed("zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        out.reserveCapacity(min(limit, max(input.count * 4, 4096)))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        guard let base = input.baseAddress, !input.isEmpty else { throw .malformed("empty gzip body") }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        while true {
            let (status, produced) = chunk.withUnsafeMutableBufferPointer { buf -> (Int32, Int) in
                stream.next_out = buf.baseAddress
                stream.avail_out = UInt32(buf.count)
                let s = inflate(&stream, Z_NO_FLUSH)
                return (s, buf.count - Int(stream.avail_out))
            }
            if out.count + produced > limit { throw .tooLarge(limit: limit) }
            out.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_STREAM_END:
                // Concatenated gzip members are legal; continue if input remains.
                if stream.avail_in > 0 {
                    guard inflateReset(&stream) == Z_OK else { throw .malformed("gzip reset failed") }
                    continue
                }
                return out
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                if stream.avail_in == 0 { throw .malformed("truncated gzip body") }
                continue
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "code \(status)"
                throw .malformed("invalid gzip body: \(message)")
            }
        }
    }

    public static func decompress(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        try input.withUnsafeBytesTyped { buf throws(Failure) in try decompress(buf, limit: limit) }
    }

    /// Compresses `input` as a gzip stream (for clients, tests and the loadgen).
    public static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return [] }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        let written: Int = input.withUnsafeBytes { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress?.assumingMemoryBound(to: UInt8.self))
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                _ = deflate(&stream, Z_FINISH)
                return outBuf.count - Int(stream.avail_out)
            }
        }
        out.removeSubrange(written...)
        return out
    }
}
