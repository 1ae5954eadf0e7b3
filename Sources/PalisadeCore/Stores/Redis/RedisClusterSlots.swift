/// Redis Cluster's key → slot rule and the slot → node map read from CLUSTER SLOTS.
enum RedisClusterSlots {
    static let count = 16384

    /// CRC16-CCITT (XMODEM) of the key's hash tag (the part between the first `{` and the next `}`,
    /// when not empty) or of the whole key, mod 16384: the slot Redis Cluster stores the key in.
    static func slot(of key: [UInt8]) -> Int {
        var part = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            part = key[(open + 1)..<close]
        }
        return Int(crc16(part) & 0x3FFF)
    }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        crc16Table.withUnsafeBufferPointer { table in
            var crc: UInt16 = 0
            for byte in bytes { crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte))] }
            return crc
        }
    }

    /// CRC16-CCITT (XMODEM, polynomial 0x1021) a byte at a time: one table load per byte instead
    /// of eight shifts.
    private static let crc16Table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    /// The masters of a CLUSTER SLOTS reply, one per slot (nil where no node serves it).
    /// Reply shape: `[[start, end, [host, port, id...], replica...], ...]`; an empty host means
    /// "the address you asked", as Redis 7 answers when it does not know its own.
    static func parse(_ reply: RedisValue, askedOf seed: RedisEndpoint) -> [RedisEndpoint?]? {
        guard let ranges = reply.elements else { return nil }
        var map = [RedisEndpoint?](repeating: nil, count: count)
        for range in ranges {
            guard let fields = range.elements, fields.count >= 3, let start = fields[0].integer, let end = fields[1].integer,
                let master = fields[2].elements, master.count >= 2, let port = master[1].integer,
                start >= 0, end < count, start <= end
            else { return nil }
            let host = master[0].text.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 } ?? seed.host
            let endpoint = RedisEndpoint(host: host, port: Int(port))
            for slot in Int(start)...Int(end) { map[slot] = endpoint }
        }
        return map
    }

    /// `MOVED 3999 127.0.0.1:6381` or `ASK 3999 127.0.0.1:6381`: the slot and where to go.
    enum Redirect: Equatable {
        case moved(slot: Int, to: RedisEndpoint)
        case ask(slot: Int, to: RedisEndpoint)
    }

    static func redirect(_ error: String) -> Redirect? {
        let parts = error.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<count).contains(slot),
            let endpoint = RedisURL.parseEndpoint(String(parts[2]), defaultPort: nil)
        else { return nil }
        switch parts[0] {
        case "MOVED": return .moved(slot: slot, to: endpoint)
        case "ASK": return .ask(slot: slot, to: endpoint)
        default: return nil
        }
    }
}
