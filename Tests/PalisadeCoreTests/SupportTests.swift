import Testing

@testable import PalisadeCore

@Suite("Policy value types")
struct SupportTests {
    // MARK: PolicyDuration

    @Test(
        "durations with a unit parse",
        arguments: [
            ("250ms", Int64(250_000_000)),
            ("1ms", 1_000_000),
            ("30s", 30_000_000_000),
            ("5m", 300_000_000_000),
            ("24h", 86_400_000_000_000),
            ("7d", 604_800_000_000_000),
            (" 2s ", 2_000_000_000),
            ("0s", 0),
        ]
    )
    func durationParses(_ text: String, _ nanoseconds: Int64) throws {
        let duration = try #require(PolicyDuration(parsing: text))
        #expect(duration.nanoseconds == nanoseconds)
    }

    @Test(
        "durations without a unit or with a bad one are refused",
        arguments: ["30", "5x", "", "s", "ms", "1.5s", "-1s", "+1s", "1 s", "1S", "1sec", "1e3ms", "٣s", "999999999999d"]
    )
    func durationRefused(_ text: String) {
        #expect(PolicyDuration(parsing: text) == nil, "'\(text)' must not parse")
    }

    @Test("durations print in the largest exact unit")
    func durationDescription() {
        #expect(PolicyDuration.seconds(30).description == "30s")
        #expect(PolicyDuration.seconds(120).description == "2m")
        #expect(PolicyDuration.seconds(90).description == "90s")
        #expect(PolicyDuration.milliseconds(1500).description == "1500ms")
        #expect(PolicyDuration.seconds(86_400).description == "1d")
        #expect(PolicyDuration.milliseconds(250) < PolicyDuration.seconds(1))
    }

    // MARK: ByteCount

    @Test(
        "sizes parse with binary and decimal units",
        arguments: [
            ("512", 512),
            ("0", 0),
            ("512B", 512),
            ("16KiB", 16 * 1024),
            ("1MiB", 1 << 20),
            ("2 MiB", 2 << 20),
            ("1GiB", 1 << 30),
            ("1KB", 1000),
            ("3MB", 3_000_000),
            ("1GB", 1_000_000_000),
        ]
    )
    func sizeParses(_ text: String, _ bytes: Int) throws {
        let size = try #require(ByteCount(parsing: text))
        #expect(size.bytes == bytes)
    }

    @Test("bad sizes are refused", arguments: ["", "KiB", "1.5MiB", "-1", "1kib", "1 parsec", "1TiB", "0x10", "1_000", "9999999999999GiB"])
    func sizeRefused(_ text: String) {
        #expect(ByteCount(parsing: text) == nil, "'\(text)' must not parse")
    }

    @Test("sizes print in the largest exact binary unit")
    func sizeDescription() {
        #expect(ByteCount(bytes: 16 * 1024).description == "16KiB")
        #expect(ByteCount(bytes: 1 << 20).description == "1MiB")
        #expect(ByteCount(bytes: 1000).description == "1000")
        #expect(ByteCount(bytes: 1536).description == "1536")
    }

    // MARK: IPAddressBytes

    @Test("IPv4 parses into the v4-mapped form")
    func ipv4() throws {
        let address = try #require(IPAddressBytes(parsing: "192.168.1.7"))
        #expect(address.isIPv4Mapped)
        #expect(address == IPAddressBytes(ipv4: 0xC0A8_0107))
        #expect(address.high == 0)
        #expect(address.low == 0x0000_ffff_c0a8_0107)
        #expect(address.description == "192.168.1.7")
        #expect(IPAddressBytes(parsing: "0.0.0.0")?.description == "0.0.0.0")
        #expect(IPAddressBytes(parsing: "255.255.255.255")?.low == 0x0000_ffff_ffff_ffff)
    }

    @Test("IPv6 parses, with :: compression anywhere")
    func ipv6() throws {
        let loopback = try #require(IPAddressBytes(parsing: "::1"))
        #expect(loopback.high == 0 && loopback.low == 1)
        #expect(!loopback.isIPv4Mapped)
        let doc = try #require(IPAddressBytes(parsing: "2001:db8::1"))
        #expect(doc.high == 0x2001_0db8_0000_0000)
        #expect(doc.low == 1)
        let full = try #require(IPAddressBytes(parsing: "2001:0db8:0000:0000:0000:0000:0000:0001"))
        #expect(full == doc)
        #expect(IPAddressBytes(parsing: "2001:DB8::1") == doc)
        let unspecified = try #require(IPAddressBytes(parsing: "::"))
        #expect(unspecified.high == 0 && unspecified.low == 0)
        let trailing = try #require(IPAddressBytes(parsing: "fe80::"))
        #expect(trailing.high == 0xfe80_0000_0000_0000 && trailing.low == 0)
        let middle = try #require(IPAddressBytes(parsing: "1:2:3::7:8"))
        #expect(middle.high == 0x0001_0002_0003_0000)
        #expect(middle.low == 0x0000_0000_0007_0008)
        #expect(IPAddressBytes(parsing: "1:2:3:4:5:6:7::")?.low == 0x0005_0006_0007_0000)
    }

    @Test("v4-mapped IPv6 equals the IPv4 address")
    func ipv4Mapped() throws {
        let mapped = try #require(IPAddressBytes(parsing: "::ffff:10.1.2.3"))
        #expect(mapped.isIPv4Mapped)
        #expect(mapped == IPAddressBytes(parsing: "10.1.2.3"))
        #expect(mapped.description == "10.1.2.3")
        #expect(IPAddressBytes(parsing: "::ffff:a01:203") == mapped)
    }

    @Test(
        "invalid addresses are refused",
        arguments: [
            "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-4", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..2.3",
            "1::2::3", ":::", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "12345::", "gggg::1", "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "::ffff:1.2.3", "::ffff:1.2.3.4:5", "localhost", "[::1]", "::+1", "fe80::1%eth0",
        ]
    )
    func invalidAddress(_ text: String) {
        #expect(IPAddressBytes(parsing: text) == nil, "'\(text)' must not parse")
    }

    // MARK: CIDRBlock

    func address(_ text: String) -> IPAddressBytes { IPAddressBytes(parsing: text)! }

    @Test("IPv4 blocks contain exactly their addresses")
    func cidrV4() throws {
        let block = try #require(CIDRBlock(parsing: "10.0.0.0/8"))
        #expect(block.contains(address("10.0.0.0")))
        #expect(block.contains(address("10.255.255.255")))
        #expect(!block.contains(address("11.0.0.0")))
        #expect(!block.contains(address("9.255.255.255")))
        let narrow = try #require(CIDRBlock(parsing: "192.168.4.0/22"))
        #expect(narrow.contains(address("192.168.7.255")))
        #expect(!narrow.contains(address("192.168.8.0")))
        #expect(!narrow.contains(address("192.168.3.255")))
        // An IPv4 block never matches a native IPv6 address whose low bits look alike.
        #expect(!block.contains(address("::a00:1")))
    }

    @Test("/32 and a bare IPv4 address contain only that address")
    func cidrSingleV4() throws {
        let slash32 = try #require(CIDRBlock(parsing: "127.0.0.1/32"))
        let bare = try #require(CIDRBlock(parsing: "127.0.0.1"))
        for block in [slash32, bare] {
            #expect(block.contains(address("127.0.0.1")))
            #expect(!block.contains(address("127.0.0.2")))
            #expect(!block.contains(address("127.0.0.0")))
        }
        #expect(bare.prefixLength == slash32.prefixLength)
    }

    @Test("0.0.0.0/0 holds every IPv4 address and no native IPv6 one; ::/0 holds all")
    func cidrZero() throws {
        let v4all = try #require(CIDRBlock(parsing: "0.0.0.0/0"))
        #expect(v4all.contains(address("1.2.3.4")))
        #expect(v4all.contains(address("255.255.255.255")))
        #expect(!v4all.contains(address("2001:db8::1")))
        let all = try #require(CIDRBlock(parsing: "::/0"))
        #expect(all.contains(address("2001:db8::1")))
        #expect(all.contains(address("1.2.3.4")))
        #expect(all.contains(address("::")))
    }

    @Test("IPv6 blocks, including /128")
    func cidrV6() throws {
        let doc = try #require(CIDRBlock(parsing: "2001:db8::/32"))
        #expect(doc.contains(address("2001:db8::1")))
        #expect(doc.contains(address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")))
        #expect(!doc.contains(address("2001:db9::")))
        #expect(!doc.contains(address("10.0.0.1")))
        let ula = try #require(CIDRBlock(parsing: "fd00::/8"))
        #expect(ula.contains(address("fdff::1")))
        #expect(!ula.contains(address("fe00::1")))
        let one = try #require(CIDRBlock(parsing: "::1/128"))
        #expect(one.contains(address("::1")))
        #expect(!one.contains(address("::2")))
        #expect(!one.contains(address("127.0.0.1")))
        let odd = try #require(CIDRBlock(parsing: "2001:db8:8000::/33"))
        #expect(odd.contains(address("2001:db8:8000::1")))
        #expect(!odd.contains(address("2001:db8:7fff::1")))
    }

    @Test("an IPv4 block matches a client seen as v4-mapped IPv6, and a v4-mapped block matches IPv4")
    func cidrMapped() throws {
        let block = try #require(CIDRBlock(parsing: "10.0.0.0/8"))
        #expect(block.contains(address("::ffff:10.1.2.3")))
        #expect(!block.contains(address("::ffff:11.1.2.3")))
        let mappedBlock = try #require(CIDRBlock(parsing: "::ffff:10.0.0.0/104"))
        #expect(mappedBlock.contains(address("10.200.0.1")))
        #expect(!mappedBlock.contains(address("11.0.0.1")))
    }

    @Test(
        "blocks with host bits set, bad lengths or garbage are refused",
        arguments: [
            "10.1.2.3/8", "10.0.0.1/31", "2001:db8::1/32", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1",
            "10.0.0.0/8/8", "10.0.0.0/a", "/8", "", "garbage", "10.0.0.0/0008", "10.0.0.0/ 8",
        ]
    )
    func cidrRefused(_ text: String) {
        #expect(CIDRBlock(parsing: text) == nil, "'\(text)' must not parse")
    }

    @Test("a CIDR set matches when any block does")
    func cidrSet() throws {
        let set = CIDRSet([try #require(CIDRBlock(parsing: "10.0.0.0/8")), try #require(CIDRBlock(parsing: "::1"))])
        #expect(set.contains(address("10.9.9.9")))
        #expect(set.contains(address("::1")))
        #expect(!set.contains(address("127.0.0.1")))
        #expect(CIDRSet([]).isEmpty)
        #expect(!CIDRSet([]).contains(address("10.0.0.1")))
    }

    // MARK: HostPort

    @Test(
        "listen addresses parse",
        arguments: [
            ("0.0.0.0:8080", "0.0.0.0", 8080),
            ("127.0.0.1:0", "127.0.0.1", 0),
            ("localhost:65535", "localhost", 65535),
            ("[::1]:9901", "::1", 9901),
            ("[::]:80", "::", 80),
        ]
    )
    func hostPortParses(_ text: String, _ host: String, _ port: Int) throws {
        let value = try #require(HostPort(parsing: text))
        #expect(value.host == host)
        #expect(value.port == port)
        #expect(value.description == text)
    }

    @Test(
        "bad listen addresses are refused",
        arguments: [
            "8080", ":8080", "host:", "host:65536", "host:99999", "host:80a", "::1:80", "[::1]", "[::1]8080", "[::1", "host:-1", "",
        ]
    )
    func hostPortRefused(_ text: String) {
        #expect(HostPort(parsing: text) == nil, "'\(text)' must not parse")
    }

    // MARK: UpstreamURL

    @Test("upstream URLs are plain http with host and optional port")
    func upstreamURL() {
        #expect(UpstreamURL(parsing: "http://127.0.0.1:3000") == UpstreamURL(host: "127.0.0.1", port: 3000))
        #expect(UpstreamURL(parsing: "http://127.0.0.1:3000/") == UpstreamURL(host: "127.0.0.1", port: 3000))
        #expect(UpstreamURL(parsing: "http://app") == UpstreamURL(host: "app", port: 80))
        #expect(UpstreamURL(parsing: "http://[::1]:8080") == UpstreamURL(host: "::1", port: 8080))
        #expect(UpstreamURL(parsing: "http://[::1]") == UpstreamURL(host: "::1", port: 80))
        for bad in ["https://app", "app:80", "http://app/api", "http://user@app", "http://app?x=1", "http://", "http://app:x"] {
            #expect(UpstreamURL(parsing: bad) == nil, "'\(bad)' must not parse")
        }
    }

    @Test(
        "decimal digits written in place read as Swift's own, at any offset, for every width and both signs",
        arguments: [0, 7, -1, 10, -10, 1_234_567_890, Int64.max, Int64.min]
    )
    func decimalDigits(value: Int64) {
        var bytes = [UInt8](repeating: UInt8(ascii: "#"), count: 3 + ASCII.maxDecimalBytes + 1)
        let end = bytes.withUnsafeMutableBytes { ASCII.writeDecimal(value, into: $0, at: 3) }
        #expect(String(decoding: bytes[3..<end], as: UTF8.self) == String(value))
        // Nothing before the start or after the end is touched.
        #expect(bytes[..<3].allSatisfy { $0 == UInt8(ascii: "#") } && bytes[end...].allSatisfy { $0 == UInt8(ascii: "#") })
    }
}
