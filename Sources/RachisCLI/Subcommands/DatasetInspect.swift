import ArgumentParser
import Foundation
import Rachis

extension RachisCommand.Dataset {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a dataset: header, subjects, class counts, annotation kinds, splits (or its HDF5 tree).")

        @Argument(help: "Dataset file (.h5).")
        var data: String

        @Flag(help: "Print the HDF5 tree (groups, datasets with dtype and shape, attributes).")
        var tree = false

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let reader = try DatasetReader(url: URL(fileURLWithPath: data))
            if tree {
                let description = try reader.describe()
                if json { print(description.jsonText) } else { Self.printTree(description, name: "/", indent: "") }
                return
            }
            let summary = try DatasetSummary(reader)
            if json {
                try printJSON(summary)
                return
            }
            print("\(summary.file): dataset \"\(summary.name)\" (format version \(summary.formatVersion)), created \(summary.created)")
            print("  made by: \(summary.command)")
            print("  channels: \(summary.channels.joined(separator: ", "))   classes: \(summary.classNames.joined(separator: ", "))")
            print("  structures: \(summary.structureNames.joined(separator: ", "))")
            print("")
            let idWidth = max(7, summary.subjects.map(\.id.count).max() ?? 0)
            print("  " + "subject".padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  shape        spacing mm     annotation  levels        classes")
            for row in summary.subjects {
                let shape = row.shape.map(String.init).joined(separator: "x")
                let spacing = row.spacingMM.map { String(format: "%g", $0) }.joined(separator: "x")
                let levels = row.levels.isEmpty ? "-" : "\(row.levels.first!)-\(row.levels.last!) (\(row.levels.count))"
                let classes = summary.classNames.map { "\(row.classCounts[$0] ?? 0)" }.joined(separator: "/")
                    + ((row.classCounts["unannotated"] ?? 0) > 0 ? " +\(row.classCounts["unannotated"]!)?" : "")
                print("  " + row.id.padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  "
                      + shape.padding(toLength: 11, withPad: " ", startingAt: 0) + "  "
                      + spacing.padding(toLength: 13, withPad: " ", startingAt: 0) + "  "
                      + row.annotation.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                      + levels.padding(toLength: 12, withPad: " ", startingAt: 0) + "  " + classes)
            }
            print("")
            print("  \(summary.subjects.count) subjects, \(summary.classCounts.values.reduce(0, +)) vertebrae")
            print("  vertebrae per class: " + (summary.classNames + ["unannotated"]).compactMap { name in
                summary.classCounts[name].map { "\(name) \($0)" } }.joined(separator: ", "))
            print("  subjects per annotation: " + summary.annotationCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            if summary.truthSubjects > 0 {
                print("  exact truth (/subjects/<id>/truth, read by rachis evaluate only): \(summary.truthSubjects) of \(summary.subjects.count) subjects")
            }
            for split in summary.splits {
                print("  split \(split.name): train \(split.train), val \(split.val), test \(split.test) (\(split.method))")
            }
            if summary.splits.isEmpty { print("  no splits (rachis dataset split makes them)") }
        }

        static func printTree(_ node: JSONValue, name: String, indent: String) {
            print(indent + name)
            if case let .object(attributes)? = node["attributes"] {
                for key in attributes.keys.sorted() {
                    var text = attributes[key]!.jsonText
                    if text.count > 80 { text = String(text.prefix(77)) + "..." }
                    print(indent + "  @" + key + " = " + text)
                }
            }
            if case let .object(datasets)? = node["datasets"] {
                for key in datasets.keys.sorted() {
                    let d = datasets[key]!
                    print(indent + "  " + key + "  " + (d["dtype"]?.jsonText.replacingOccurrences(of: "\"", with: "") ?? "") + " " + (d["shape"]?.jsonText ?? ""))
                }
            }
            if case let .object(groups)? = node["groups"] {
                for key in groups.keys.sorted() { printTree(groups[key]!, name: key + "/", indent: indent + "  ") }
            }
        }
    }
}
