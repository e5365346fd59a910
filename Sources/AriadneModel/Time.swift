extension Duration {
    /// The duration in seconds, as a Double (for rates and Prometheus histograms).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole nanoseconds (for C APIs and wire formats that count them).
    public var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }

    /// Whole milliseconds.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
}

/// Calendar dates of Unix times, in UTC (no time zones, no Foundation).
public enum CivilDate {
    /// Year, month (1–12) and day (1–31) of a day count since 1970-01-01 (Howard Hinnant's
    /// civil-from-days algorithm).
    public static func fromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `YYYY-MM-DD` of the UTC day holding a Unix-nanosecond time.
    public static func day(ofNanoseconds ns: UInt64) -> String {
        let (y, m, d) = fromDays(Int(ns / 86_400_000_000_000))
        return "\(y)-\(twoDigits(m))-\(twoDigits(d))"
    }

    public static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
