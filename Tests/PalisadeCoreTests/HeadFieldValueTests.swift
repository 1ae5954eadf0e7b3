import Testing

@testable import PalisadeCore

/// The field values the request path reads in place: Content-Length (a length, or a list of equal
/// ones) and the options of Connection. What the validator answers for whole heads is in the
/// Http11Probe and malformed-request suites; these are the byte-level rules beneath them.
@Suite("Head field values")
struct HeadFieldValueTests {
    @Test(
        "Content-Length values",
        arguments: [
            ("0", nil, .success(0)),
            ("1024", nil, .success(1024)),
            ("0010", nil, .success(10)),
            ("42, 42", nil, .success(42)),
            ("42,42,\t42", nil, .success(42)),
            (" 7 ", nil, .success(7)),
            ("999999999999999999", nil, .success(999_999_999_999_999_999)),
            ("42", 42, .success(42)),
            ("42", 43, .failure(.conflicting)),
            ("42, 43", nil, .failure(.conflicting)),
            ("1000000000000000000", nil, .failure(.invalid)),
            ("", nil, .failure(.invalid)),
            (" ", nil, .failure(.invalid)),
            ("42,", nil, .failure(.invalid)),
            (",42", nil, .failure(.invalid)),
            ("4 2", nil, .failure(.invalid)),
            ("+42", nil, .failure(.invalid)),
            ("-1", nil, .failure(.invalid)),
            ("0x10", nil, .failure(.invalid)),
            ("42;", nil, .failure(.invalid)),
            ("١٢", nil, .failure(.invalid)),
        ] as [(String, Int?, Result<Int, ContentLengthValue.Problem>)]
    )
    func contentLength(value: String, earlier: Int?, expected: Result<Int, ContentLengthValue.Problem>) {
        #expect(ContentLengthValue.parse(value, agreeingWith: earlier) == expected)
    }

    @Test(
        "Connection options",
        arguments: [
            ("upgrade", true),
            ("Upgrade", true),
            ("keep-alive, Upgrade", true),
            ("keep-alive,upgrade ", true),
            ("\tUPGRADE\t,close", true),
            ("keep-alive", false),
            ("upgraded", false),
            ("upgrad", false),
            ("x-upgrade", false),
            ("", false),
            (",", false),
        ]
    )
    func connectionOptions(value: String, listsUpgrade: Bool) {
        #expect(ConnectionOptions.contains(value, "upgrade") == listsUpgrade)
    }
}
