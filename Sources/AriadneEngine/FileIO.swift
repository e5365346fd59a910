import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a whole file into an array with POSIX calls (one copy, no Data bridging).
func readWholeFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw EngineError("\(path): cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw EngineError("\(path): cannot stat: \(String(cString: strerror(errno)))") }
    let size = Int(info.st_size)
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw EngineError("\(path): read failed: \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        done += n
    }
    if done < size { bytes.removeSubrange(done...) }
    return bytes
}
