#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Kinds of personal or secret data found inside text, each by a hand-written scanner (no regular
/// expressions: this runs on every string of every span before it is stored).
public enum PIIKind: String, CaseIterable, Sendable, Comparable {
    case jwt
    case bearerToken = "bearer_token"
    case email
    case paymentCard = "payment_card"
    case usSSN = "us_ssn"
    case ipv6
    case ipv4
    case phone

    public static func < (a: PIIKind, b: PIIKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Where this kind occurs in `s`.
    func find(in s: [UInt8]) -> [Range<Int>] {
        switch self {
        case .jwt: return PIIScan.jwts(s)
        case .bearerToken: return PIIScan.bearerTokens(s)
        case .email: return PIIScan.emails(s)
        case .paymentCard: return PIIScan.cards(s)
        case .usSSN: return PIIScan.ssns(s)
        case .ipv6: return PIIScan.ipv6(s)
        case .ipv4: return PIIScan.ipv4(s)
        case .phone: return PIIScan.phones(s)
        }
    }
}

enum PIIScan {
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
    static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || isAlpha(b) }
    static func isHex(_ b: UInt8) -> Bool { isDigit(b) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66) }
    static func isBase64URL(_ b: UInt8) -> Bool { isAlnum(b) || b == 0x2D || b == 0x5F }
    /// Whether position `i` starts a word: the byte before is not a letter or digit.
    static func startsWord(_ s: [UInt8], _ i: Int) -> Bool { i == 0 || !isAlnum(s[i - 1]) }
    static func endsWord(_ s: [UInt8], _ j: Int) -> Bool { j >= s.count || !isAlnum(s[j]) }

    /// Cheap test of whether any scanner could match: most strings (routes, names, enums) have
    /// none of these bytes and cost one pass.
    static func mayContainPII(_ s: UnsafeRawBufferPointer) -> Bool {
        var digits = 0
        var bearer = false
        for (i, b) in s.enumerated() {
            if b == 0x40 || b == 0x3A { return true }  // '@', ':'
            if isDigit(b) {
                digits += 1
                if digits >= 4 { return true }  // 1.2.3.4 has four
            } else if b == 0x65 && i + 2 < s.count && s[i + 1] == 0x79 && s[i + 2] == 0x4A {  // "eyJ"
                return true
            } else if (b | 0x20) == 0x62 && i + 6 <= s.count {  // "bearer", any case
                bearer = bearer || zip(s[i..<(i + 6)], "bearer".utf8).allSatisfy { ($0 | 0x20) == $1 }
            }
        }
        return bearer
    }

    static func contains(_ s: [UInt8], _ needle: StaticString) -> Bool { firstIndex(s, needle, from: 0) != nil }

    static func firstIndex(_ s: [UInt8], _ needle: StaticString, from: Int, caseInsensitive: Bool = false) -> Int? {
        let n = needle.utf8CodeUnitCount
        guard n > 0, s.count >= n else { return nil }
        let p = needle.utf8Start
        var i = from
        while i + n <= s.count {
            var k = 0
            while k < n, caseInsensitive ? (s[i + k] | 0x20) == (p[k] | 0x20) : s[i + k] == p[k] { k += 1 }
            if k == n { return i }
            i += 1
        }
        return nil
    }

    static func containsCaseInsensitive(_ s: [UInt8], _ needle: StaticString) -> Bool {
        firstIndex(s, needle, from: 0, caseInsensitive: true) != nil
    }

    /// `header.payload.signature`, each base64url, the header starting `eyJ` (`{"`).
    static func jwts(_ s: [UInt8]) -> [Range<Int>] {
        var out = [Range<Int>]()
        var from = 0
        while let i = firstIndex(s, "eyJ", from: from) {
            from = i + 3
            guard i == 0 || !isBase64URL(s[i - 1]) else { continue }
            var j = i
            var dots = 0
            var segment = 0
            var segments = [Int]()
            while j < s.count, isBase64URL(s[j]) || s[j] == 0x2E {
                if s[j] == 0x2E {
                    dots += 1
                    segments.append(segment)
                    segment = 0
                } else {
                    segment += 1
                }
                j += 1
            }
            segments.append(segment)
            if dots == 2, segments[0] >= 4, segments[1] >= 4 {
                out.append(i..<j)
                from = j
            }
        }
        return out
    }

    /// The token after `Bearer ` (any case), as in an Authorization header.
    static func bearerTokens(_ s: [UInt8]) -> [Range<Int>] {
        var out = [Range<Int>]()
        var from = 0
        while let i = firstIndex(s, "bearer ", from: from, caseInsensitive: true) {
            from = i + 7
            guard startsWord(s, i) else { continue }
            var j = from
            while j < s.count, s[j] == 0x20 { j += 1 }
            let start = j
            // RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=" padding.
            while j < s.count, isAlnum(s[j]) || [0x2D, 0x2E, 0x5F, 0x7E, 0x2B, 0x2F].contains(s[j]) { j += 1 }
            while j < s.count, s[j] == 0x3D { j += 1 }
            if j - start >= 8 {
                out.append(start..<j)
                from = j
            }
        }
        return out
    }

    static func emails(_ s: [UInt8]) -> [Range<Int>] {
        func local(_ b: UInt8) -> Bool { isAlnum(b) || [0x2E, 0x5F, 0x25, 0x2B, 0x2D].contains(b) }  // . _ % + -
        func domain(_ b: UInt8) -> Bool { isAlnum(b) || b == 0x2E || b == 0x2D }
        var out = [Range<Int>]()
        var i = 0
        var lastEnd = 0
        while i < s.count {
            guard s[i] == 0x40 else { i += 1; continue }
            var l = i
            while l > lastEnd, local(s[l - 1]) { l -= 1 }
            var r = i + 1
            while r < s.count, domain(s[r]) { r += 1 }
            while r > i + 1, s[r - 1] == 0x2E || s[r - 1] == 0x2D { r -= 1 }
            let host = s[(i + 1)..<r]
            // "REDACTED@host" is what URLSanitizer leaves of user info: not an address.
            let ours = s[l..<i].elementsEqual(URLSanitizer.redacted)
            if l < i, !ours, let dot = host.lastIndex(of: 0x2E), dot > i + 1, r - dot - 1 >= 2, s[(dot + 1)..<r].allSatisfy(isAlpha) {
                out.append(l..<r)
                lastEnd = r
                i = r
            } else {
                i += 1
            }
        }
        return out
    }

    /// Runs of 13–19 digits, optionally grouped by single spaces or dashes, that pass the Luhn
    /// check and start as card numbers do (2–6: Mastercard, Amex, Visa, Discover…), so that
    /// nanosecond timestamps (starting 1) are left alone.
    static func cards(_ s: [UInt8]) -> [Range<Int>] {
        var out = [Range<Int>]()
        var i = 0
        while i < s.count {
            guard isDigit(s[i]), startsWord(s, i) else { i += 1; continue }
            var j = i
            var digits = [UInt8]()
            while j < s.count {
                if isDigit(s[j]) {
                    digits.append(s[j] - 0x30)
                    j += 1
                } else if (s[j] == 0x20 || s[j] == 0x2D), j + 1 < s.count, isDigit(s[j + 1]) {
                    j += 1
                } else {
                    break
                }
            }
            if endsWord(s, j), (13...19).contains(digits.count), (2...6).contains(digits[0]), luhn(digits) {
                out.append(i..<j)
            }
            i = j
        }
        return out
    }

    static func luhn(_ digits: [UInt8]) -> Bool {
        var sum = 0
        for (k, d) in digits.reversed().enumerated() {
            var v = Int(d)
            if k % 2 == 1 {
                v *= 2
                if v > 9 { v -= 9 }
            }
            sum += v
        }
        return sum % 10 == 0
    }

    /// `AAA-GG-SSSS` with the Social Security Administration's impossible values left out.
    static func ssns(_ s: [UInt8]) -> [Range<Int>] {
        var out = [Range<Int>]()
        var i = 0
        while i + 11 <= s.count {
            let shape = (0..<11).allSatisfy { k in k == 3 || k == 6 ? s[i + k] == 0x2D : isDigit(s[i + k]) }
            if shape, startsWord(s, i), endsWord(s, i + 11), !(i > 0 && s[i - 1] == 0x2D),
                !(i + 11 < s.count && s[i + 11] == 0x2D)
            {
                let area = Int(String(decoding: s[i..<(i + 3)], as: UTF8.self))!
                let group = Int(String(decoding: s[(i + 4)..<(i + 6)], as: UTF8.self))!
                let serial = Int(String(decoding: s[(i + 7)..<(i + 11)], as: UTF8.self))!
                if area != 0, area != 666, area < 900, group != 0, serial != 0 {
                    out.append(i..<(i + 11))
                    i += 11
                    continue
                }
            }
            i += 1
        }
        return out
    }

    static func ipv4(_ s: [UInt8]) -> [Range<Int>] {
        var out = [Range<Int>]()
        var i = 0
        while i < s.count {
            guard isDigit(s[i]), startsWord(s, i), !(i > 0 && s[i - 1] == 0x2E) else { i += 1; continue }
            var j = i
            var octets = 0
            var ok = true
            while octets < 4 {
                let start = j
                while j < s.count, isDigit(s[j]), j - start < 4 { j += 1 }
                let len = j - start
                guard len >= 1, len <= 3, Int(String(decoding: s[start..<j], as: UTF8.self))! <= 255 else { ok = false; break }
                octets += 1
                if octets < 4 {
                    guard j < s.count, s[j] == 0x2E else { ok = false; break }
                    j += 1
                }
            }
            // Not the start of a longer dotted number such as a version 1.2.3.4.5.
            if ok, endsWord(s, j), !(j + 1 < s.count && s[j] == 0x2E && isDigit(s[j + 1])) {
                out.append(i..<j)
                i = j
            } else {
                while i < s.count, isDigit(s[i]) || s[i] == 0x2E { i += 1 }
            }
        }
        return out
    }

    /// Candidates are runs of hex digits, colons and dots with at least two colons; inet_pton
    /// decides.
    static func ipv6(_ s: [UInt8]) -> [Range<Int>] {
        var out = [Range<Int>]()
        var i = 0
        while i < s.count {
            guard isHex(s[i]) || s[i] == 0x3A, i == 0 || !(isAlnum(s[i - 1]) || s[i - 1] == 0x3A) else { i += 1; continue }
            var j = i
            var colons = 0
            while j < s.count, isHex(s[j]) || s[j] == 0x3A || s[j] == 0x2E {
                if s[j] == 0x3A { colons += 1 }
                j += 1
            }
            var end = j
            while end > i, s[end - 1] == 0x2E { end -= 1 }
            if colons >= 2, end - i <= 45, endsWord(s, j), isIPv6(Array(s[i..<end])) {
                out.append(i..<end)
            }
            i = max(j, i + 1)
        }
        return out
    }

    static func isIPv6(_ text: [UInt8]) -> Bool {
        var addr = in6_addr()
        return (text + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { inet_pton(AF_INET6, $0.baseAddress, &addr) == 1 }
        }
    }

    /// Phone numbers as people write them: `+` and 7–15 digits (E.164, spaces allowed), or 10–15
    /// digits in groups of at most four separated by spaces, dashes, dots or parentheses, ending in
    /// a group of four. A bare run of digits (an id, a timestamp) is not a phone number.
    static func phones(_ s: [UInt8]) -> [Range<Int>] {
        func separator(_ b: UInt8) -> Bool { b == 0x20 || b == 0x2D || b == 0x2E || b == 0x28 || b == 0x29 }
        var out = [Range<Int>]()
        var i = 0
        while i < s.count {
            let b = s[i]
            guard b == 0x2B || b == 0x28 || isDigit(b), startsWord(s, i), !(i > 0 && (s[i - 1] == 0x2B || s[i - 1] == 0x2D || s[i - 1] == 0x2E))
            else {
                i += 1
                continue
            }
            let plus = b == 0x2B
            var j = plus ? i + 1 : i
            var groups = [Int]()
            var current = 0
            while j < s.count {
                if isDigit(s[j]) {
                    current += 1
                } else if separator(s[j]) {
                    if current > 0 { groups.append(current) }
                    current = 0
                } else {
                    break
                }
                j += 1
            }
            if current > 0 { groups.append(current) }
            var end = j
            while end > i, !isDigit(s[end - 1]) { end -= 1 }
            let digits = groups.reduce(0, +)
            let matches: Bool
            if plus {
                matches = (7...15).contains(digits) && (groups.count == 1 || groups.last! >= 2)
            } else {
                matches = (10...15).contains(digits) && groups.count >= 2 && groups.allSatisfy { $0 <= 4 } && groups.last! == 4
            }
            if matches, endsWord(s, end), end > i {
                out.append(i..<end)
                i = end
            } else {
                i = max(i + 1, j)  // the run of groups was the candidate: not a shorter tail of it
            }
        }
        return out
    }
}
