import CYaml
import Yams

/// Composes the YAML files Palisade reads (the policy, API keys files) with a bound on aliases.
///
/// An alias bomb is tiny as written and astronomical once expanded (ten anchors of ten aliases
/// each are 10^10 nodes). Yams makes an alias share the anchored node rather than copy it, but
/// anything that walks the composed tree walks the expansion, and Yams' own composer does when an
/// alias is a mapping key (it hashes every key to find duplicates): one such key made composing a
/// 1 KiB file take 16 s. So before Yams sees the text, `AliasBudget` reads libyaml's event stream
/// once, measuring each anchored node as it closes and charging every alias its size: time linear
/// in the file, whatever the aliases multiply to.
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
        if case .exceeded(let alias, let line, let column) = AliasBudget.measure(text, limit: maxAliasedNodes) {
            diagnostics.error(
                "aliases expand this document by more than \(maxAliasedNodes) nodes (alias '*\(alias)' here took it "
                    + "past that); write the values out or use fewer aliases",
                at: SourcePosition(line: line, column: column, keyPath: "")
            )
            return .failed
        }
        do {
            guard let root = try Yams.compose(yaml: text) else { return .empty }
            return .document(root)
        } catch let error as YamlError {
            let (position, message) = describe(error)
            diagnostics.error(message, at: position)
            return .failed
        } catch {
            diagnostics.error("cannot parse YAML", at: SourcePosition(line: 1, column: 1, keyPath: ""))
            return .failed
        }
    }

    /// The nodes aliases add to `text` (tests), or nil past `limit`.
    static func nodesAddedByAliases(_ text: String, limit: Int = maxAliasedNodes) -> Int? {
        switch AliasBudget.measure(text, limit: limit) {
        case .within(let added): return added
        case .exceeded: return nil
        }
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

/// Counts what aliases add to a YAML document from libyaml's events, before anything is built.
///
/// Yams exposes composed nodes only, and by then an alias key has already been hashed; its C
/// parser (the `CYaml` module Yams is built on) gives the events one at a time. A syntax error
/// ends the count early: composing then reports it with its position, as before.
enum AliasBudget {
    enum Result: Equatable {
        case within(added: Int)
        /// `line` and `column` (1-based) of the alias that took the total past the limit.
        case exceeded(alias: String, line: Int, column: Int)
    }

    /// A collection still open: its node count so far and the anchor it will be known by.
    private struct Open {
        var nodes = 1
        var anchor: String?
    }

    static func measure(_ text: String, limit: Int) -> Result {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return .within(added: 0) }
        defer { yaml_parser_delete(&parser) }
        let utf8 = Array(text.utf8)
        return utf8.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var sizes: [String: Int] = [:]
            var open: [Open] = []
            var added = 0
            /// A finished node of `nodes` nodes: remembered under its anchor, counted in its parent.
            func close(_ nodes: Int, anchor: String?) {
                if let anchor { sizes[anchor] = nodes }
                if !open.isEmpty { open[open.count - 1].nodes += nodes }
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return .within(added: added) }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return .within(added: added)
                case YAML_SCALAR_EVENT:
                    close(1, anchor: string(event.data.scalar.anchor))
                case YAML_SEQUENCE_START_EVENT:
                    open.append(Open(anchor: string(event.data.sequence_start.anchor)))
                case YAML_MAPPING_START_EVENT:
                    open.append(Open(anchor: string(event.data.mapping_start.anchor)))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    if let finished = open.popLast() { close(finished.nodes, anchor: finished.anchor) }
                case YAML_ALIAS_EVENT:
                    let name = string(event.data.alias.anchor) ?? ""
                    // An undefined alias is the composer's error to report; count it as written.
                    let nodes = sizes[name] ?? 1
                    added += nodes - 1
                    if added > limit {
                        let mark = event.start_mark
                        return .exceeded(alias: name, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
                    }
                    close(nodes, anchor: nil)
                default:
                    break
                }
            }
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}
