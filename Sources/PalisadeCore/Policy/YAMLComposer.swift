import Yams

/// Composes the YAML files Palisade reads (the policy, API keys files) with a bound on aliases.
///
/// Composing is cheap even for an alias bomb: Yams makes an alias the anchored node itself, a
/// value shared, not copied. Walking that tree is what explodes (ten anchors of ten aliases each are
/// 10^10 nodes to the decoder), so before anything walks it, `ExpansionCounter` measures the
/// document as the decoder would see it, visiting each anchored node's subtree once and reusing
/// its size for every alias: time linear in the file, whatever the aliases multiply to.
enum YAMLComposer {
    /// Nodes that aliases may add to a document, all aliases together. Reusing a block a few times
    /// (a `jwks:` mapping shared by two routes) adds tens; a bomb adds billions.
    static let maxAliasedNodes = 100_000

    enum Outcome {
        case document(Node)
        case empty
        /// The errors are in the collector.
        case failed
    }

    static func compose(_ text: String, diagnostics: DiagnosticCollector) -> Outcome {
        let root: Node
        let parser: Parser
        do {
            parser = try Parser(yaml: text)
            guard let composed = try parser.singleRoot() else { return .empty }
            root = composed
        } catch let error as YamlError {
            let (position, message) = describe(error)
            diagnostics.error(message, at: position)
            return .failed
        } catch {
            diagnostics.error("cannot parse YAML", at: SourcePosition(line: 1, column: 1, keyPath: ""))
            return .failed
        }
        var counter = ExpansionCounter(limit: maxAliasedNodes)
        // Nodes hold their anchor weakly and the parser owns it: without the parser alive every
        // anchor reads nil, and aliases could no longer be told from the nodes they repeat.
        let exceeded = withExtendedLifetime(parser) { counter.exceeded(in: root) }
        if let anchor = exceeded {
            diagnostics.error(
                "aliases expand this document by more than \(maxAliasedNodes) nodes (anchor '&\(anchor.name)', "
                    + "defined here, is one of those repeated); write the values out or use fewer aliases",
                at: SourcePosition(line: anchor.line, column: anchor.column, keyPath: "")
            )
            return .failed
        }
        return .document(root)
    }

    /// The nodes aliases add to `text` (tests), or nil past `limit`.
    static func nodesAddedByAliases(_ text: String, limit: Int = maxAliasedNodes) throws -> Int? {
        let parser = try Parser(yaml: text)
        guard let root = try parser.singleRoot() else { return 0 }
        var counter = ExpansionCounter(limit: limit)
        let exceeded = withExtendedLifetime(parser) { counter.exceeded(in: root) }
        return exceeded == nil ? counter.added : nil
    }

    static func describe(_ error: YamlError) -> (SourcePosition, String) {
        func at(_ mark: Mark) -> SourcePosition { SourcePosition(line: mark.line, column: mark.column, keyPath: "") }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text): " } ?? ""
            return (at(mark), "invalid YAML: \(prefix)\(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return (at(context.mark), "duplicate key(s) \(duplicates.joined(separator: ", ")) in one mapping")
        default:
            return (SourcePosition(line: 1, column: 1, keyPath: ""), "invalid YAML: \(error)")
        }
    }
}

/// Counts the nodes a composed document has once its aliases are expanded, without expanding them.
struct ExpansionCounter {
    /// An anchored node, by its anchor and where it is written: an anchor may be redefined later.
    struct AnchorSite: Hashable {
        var name: String
        var line: Int
        var column: Int
    }

    private struct Exceeded: Error {
        var site: AnchorSite
    }

    let limit: Int
    private var sizes: [AnchorSite: Int] = [:]
    /// Nodes the aliases met so far add to the document as written.
    private(set) var added = 0

    init(limit: Int) { self.limit = limit }

    /// The anchor whose reuse took the document past the limit, or nil if it stays within it.
    mutating func exceeded(in root: Node) -> AnchorSite? {
        do {
            _ = try size(of: root)
            return nil
        } catch {
            return error.site
        }
    }

    private mutating func size(of node: Node) throws(Exceeded) -> Int {
        guard let anchor = node.anchor, let mark = node.mark else { return try ownSize(of: node) }
        let site = AnchorSite(name: anchor.rawValue, line: mark.line, column: mark.column)
        // Document order: the anchored node is met first where it is defined, then at each alias.
        if let known = sizes[site] {
            added += known - 1
            if added > limit { throw Exceeded(site: site) }
            return known
        }
        let measured = try ownSize(of: node)
        sizes[site] = measured
        return measured
    }

    private mutating func ownSize(of node: Node) throws(Exceeded) -> Int {
        var total = 1
        switch node {
        case .scalar, .alias:
            break
        case .sequence(let sequence):
            for child in sequence { total += try size(of: child) }
        case .mapping(let mapping):
            for (key, value) in mapping { total += try size(of: key) + size(of: value) }
        }
        return total
    }
}
