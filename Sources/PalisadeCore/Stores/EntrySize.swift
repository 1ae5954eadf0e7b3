/// What an entry is charged against `store.max_bytes`: the bytes it holds (key, fingerprint,
/// kept answer) plus a fixed estimate of what holding them costs (the dictionary slot, the entry,
/// string and array headers, allocator rounding, the per-client count). An estimate, not a
/// measurement: the budget bounds the store's growth, it does not meter the process.
enum EntrySize {
    static let entryOverhead = 256
    static let responseOverhead = 64
    static let headerOverhead = 64
    static let arrayOverhead = 32

    /// Headers kept with an answer are not capped by `max_response_bytes`; this much is set aside
    /// for them, and a commit whose headers need more is charged the rest if the budget has it.
    static let headerAllowance = 2048

    /// What a reservation sets aside for an answer of up to `maxBodyBytes`.
    static func answerAllowance(maxBodyBytes: Int) -> Int {
        responseOverhead + headerAllowance + maxBodyBytes
    }

    /// The most an idempotency reservation is charged (its store key and fingerprint are fixed-size).
    static func largestReservation(maxBodyBytes: Int) -> Int {
        entryOverhead + 128 + answerAllowance(maxBodyBytes: maxBodyBytes)
    }

    static func held(key: String, fingerprint: [UInt8]) -> Int {
        entryOverhead + key.utf8.count + fingerprint.count
    }

    /// A rate-limit key: one theoretical arrival time and its limit's two figures per limit.
    static func rateLimit(key: String, limits: Int) -> Int {
        entryOverhead + key.utf8.count + arrayOverhead + limits * 24
    }

    static func counter(key: String) -> Int { entryOverhead + key.utf8.count + 8 }

    static func ban(key: String, reason: String) -> Int {
        entryOverhead + key.utf8.count + reason.utf8.count + 24
    }

    static func committed(key: String, record: StoredRecord) -> Int {
        var size = held(key: key, fingerprint: record.fingerprint)
        if let response = record.response {
            size += responseOverhead + response.body.count
            for (name, value) in response.headers { size += headerOverhead + name.utf8.count + value.utf8.count }
        }
        return size
    }
}
