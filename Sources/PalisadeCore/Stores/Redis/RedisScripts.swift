import Crypto

/// A Lua script sent by its SHA-1 (EVALSHA), and in full (EVAL) only when the server answers
/// NOSCRIPT (first use after a restart, a failover or SCRIPT FLUSH), which loads it again.
struct RedisScript: Sendable {
    let source: [UInt8]
    let sha1: [UInt8]

    init(_ source: String) {
        self.source = Array(source.utf8)
        let digits = Array("0123456789abcdef".utf8)
        sha1 = Insecure.SHA1.hash(data: self.source).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] }
    }
}

/// The store's scripts. Each touches only KEYS[1], so it runs in one Cluster slot, and writes it
/// with a TTL. Numbers that reach Redis as text go through `string.format('%.0f')`: Lua 5.1 prints
/// numbers with 14 significant digits, too few for microseconds since the epoch.
enum RedisScripts {
    /// Loaded on every new connection (SCRIPT LOAD in the handshake).
    static let all = [reserve, release, rateLimit, increment, ban, liftBan]

    /// ARGV: the held value (`h` + fingerprint), the lease in seconds. Answers 1 when the key was
    /// free and is now held, else the value under it (held or committed).
    static let reserve = RedisScript(
        """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
        return redis.call('GET', KEYS[1])
        """)

    /// Frees a held key; a committed one stays.
    static let release = RedisScript(
        """
        local v = redis.call('GET', KEYS[1])
        if v and string.sub(v, 1, 1) == 'h' then redis.call('DEL', KEYS[1]) end
        return 0
        """)

    /// GCRA over several limits, all or nothing, on the server's clock (TIME), so every replica
    /// shares one timeline, for `requests` steps of `cost` taken in order (the steps of one loop
    /// turn on this key; see `RedisRateLimitCoalescer`). ARGV: cost, requests, n, then n pairs of
    /// interval and tolerance (nanoseconds). Each field `<interval>:<tolerance>` holds a
    /// theoretical arrival time in microseconds since the epoch. Arithmetic is done relative to
    /// now in nanoseconds (exact in a double below 2^53 ns, 104 days), which is what `GCRA.step`
    /// computes, so Swift replays the answer into the same figures as the memory store. Steps are
    /// admitted while every limit has room; a refused step charges nothing, so at one instant
    /// every later one is refused too. Answers {seconds, microseconds, ahead_1 ... ahead_n,
    /// admitted}: now, how far (ns) each limit's stored TAT was ahead of it before the first step,
    /// and how many steps were admitted and charged.
    static let rateLimit = RedisScript(
        """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local cost = tonumber(ARGV[1])
        local requests = tonumber(ARGV[2])
        local n = tonumber(ARGV[3])
        local fields = {}
        for i = 1, n do fields[i] = ARGV[2 + 2 * i] .. ':' .. ARGV[3 + 2 * i] end
        local stored = redis.call('HMGET', KEYS[1], unpack(fields))
        local result = {tonumber(t[1]), tonumber(t[2])}
        local ahead = {}
        local admitted = requests
        for i = 1, n do
          local step = tonumber(ARGV[2 + 2 * i]) * cost
          local tolerance = tonumber(ARGV[3 + 2 * i])
          local a = 0
          if stored[i] then a = math.max(tonumber(stored[i]) - now, 0) * 1000 end
          result[2 + i] = a
          ahead[i] = a
          if step > 0 then
            local room = math.max(math.floor((tolerance - a) / step), 0)
            while room > 0 and a + room * step > tolerance do room = room - 1 end
            while a + (room + 1) * step <= tolerance and room < admitted do room = room + 1 end
            if room < admitted then admitted = room end
          elseif a > tolerance then
            admitted = 0
          end
        end
        result[3 + n] = admitted
        if admitted > 0 then
          redis.call('DEL', KEYS[1])
          local args = {}
          local latest = now
          for i = 1, n do
            local tat = now + math.ceil((ahead[i] + tonumber(ARGV[2 + 2 * i]) * cost * admitted) / 1000)
            if tat > latest then latest = tat end
            args[2 * i - 1] = fields[i]
            args[2 * i] = string.format('%.0f', tat)
          end
          redis.call('HSET', KEYS[1], unpack(args))
          redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.ceil(latest / 1000)))
        end
        return result
        """)

    /// A fixed window: the first increment sets the TTL. ARGV: amount, window seconds.
    /// Answers {count, seconds left in the window}.
    static let increment = RedisScript(
        """
        local n = redis.call('INCRBY', KEYS[1], ARGV[1])
        local ttl = redis.call('TTL', KEYS[1])
        if ttl < 0 then
          redis.call('EXPIRE', KEYS[1], ARGV[2])
          ttl = tonumber(ARGV[2])
        end
        return {n, ttl}
        """)

    /// ARGV: now, first, longest, memory (seconds), reason, the caller's key (for the admin
    /// listing). The ban doubles per remembered offence up to longest and is never shortened.
    /// Answers {until, offences}.
    static let ban = RedisScript(
        """
        local v = redis.call('HMGET', KEYS[1], 'until', 'offences')
        local now = tonumber(ARGV[1])
        local offences = 1
        local untilAt = now
        if v[2] then
          offences = tonumber(v[2]) + 1
          untilAt = tonumber(v[1])
        end
        local d = tonumber(ARGV[2])
        local longest = tonumber(ARGV[3])
        for i = 2, offences do
          if d >= longest then break end
          d = d * 2
        end
        if d > longest then d = longest end
        untilAt = math.max(untilAt, now + d)
        redis.call('HSET', KEYS[1], 'until', string.format('%.0f', untilAt), 'reason', ARGV[5],
          'offences', string.format('%.0f', offences), 'key', ARGV[6])
        redis.call('EXPIRE', KEYS[1], string.format('%.0f', math.max(untilAt + tonumber(ARGV[4]) - now, 1)))
        return {untilAt, offences}
        """)

    /// ARGV: now. Deletes the ban (a lift is a pardon) and answers 1 if it was still running.
    static let liftBan = RedisScript(
        """
        local u = redis.call('HGET', KEYS[1], 'until')
        redis.call('DEL', KEYS[1])
        if u and tonumber(u) > tonumber(ARGV[1]) then return 1 end
        return 0
        """)
}
