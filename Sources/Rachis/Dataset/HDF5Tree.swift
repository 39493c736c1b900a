import HDF5

/// The JSON description of an HDF5 tree that the layout schemas in `schemas/` are written against:
/// every group is `{attributes, groups, datasets}`, every dataset `{dtype, shape, attributes}`, and attribute
/// values are JSON (numbers, strings, flattened arrays). Dataset contents are not included.
public enum HDF5Tree {
    public static func describe(_ container: Container) throws -> JSONValue {
        var groups: [String: JSONValue] = [:]
        var datasets: [String: JSONValue] = [:]
        for child in try container.children() {
            switch child.kind {
            case .group:
                groups[child.name] = try describe(try container.openGroup(child.name))
            case .dataset:
                let dataset = try container.openDataset(child.name)
                datasets[child.name] = .object([
                    "dtype": .string("\(try dataset.elementType)"),
                    "shape": .array(try dataset.shape.map { .number(Double($0)) }),
                    "attributes": try attributes(of: dataset),
                ])
            case .other:
                continue
            }
        }
        return .object(["attributes": try attributes(of: container), "groups": .object(groups), "datasets": .object(datasets)])
    }

    static func attributes(of object: Object) throws -> JSONValue {
        var result: [String: JSONValue] = [:]
        for name in try object.attributeNames() {
            let attribute = try object.attribute(name)
            let shape = try attribute.shape
            let values: [JSONValue]
            switch try attribute.elementType {
            case .string:
                values = try attribute.readStrings().values.map { .string($0) }
            case .float32, .float64:
                values = try attribute.read(as: Double.self).values.map { .number($0) }
            case .other:
                values = [.string("(unsupported type)")]
            default:
                values = try attribute.read(as: Int64.self).values.map { .number(Double($0)) }
            }
            result[name] = shape.isEmpty && values.count == 1 ? values[0] : .array(values)
        }
        return .object(result)
    }
}
