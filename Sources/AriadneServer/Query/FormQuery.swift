import Foundation
import HummingbirdCore

extension URI {
    /// The query as `application/x-www-form-urlencoded`: `+` is a space, and keys and values are
    /// percent-decoded. Browsers (URLSearchParams), curl --data-urlencode and Go's url.Values
    /// write spaces as `+`; Hummingbird's `queryParameters` leaves them as `+`, which turned
    /// `duration >= 1ms` into `duration>=+1ms`.
    var formParameters: FlatDictionary<Substring, Substring> {
        guard let query, !query.isEmpty else { return [:] }
        func decode(_ s: Substring) -> Substring {
            let spaced = s.replacingOccurrences(of: "+", with: " ")
            return Substring(spaced.removingPercentEncoding ?? spaced)
        }
        return FlatDictionary(
            query.split(separator: "&").map { pair in
                guard let eq = pair.firstIndex(of: "=") else { return (decode(pair), "") }
                return (decode(pair[..<eq]), decode(pair[pair.index(after: eq)...]))
            })
    }
}
